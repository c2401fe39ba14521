# The commands a maintainer runs; each installs what it needs.
.PHONY: up demo test bench bench-quick

up:
	bash scripts/up.sh

demo: up

test:
	bash scripts/test.sh

bench:
	bash scripts/bench.sh

bench-quick:
	bash scripts/bench.sh --quick
