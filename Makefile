# The commands a maintainer runs; each installs what it needs.
.PHONY: demo test bench bench-quick

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

bench:
	bash scripts/bench.sh

bench-quick:
	bash scripts/bench.sh --quick
