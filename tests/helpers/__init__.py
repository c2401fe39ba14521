"""What the tests share besides fixtures: the hub harness, web sessions and browsers, and the
programs and bundles the pipeline tests run."""
