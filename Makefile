# The commands a maintainer runs; each installs what it needs.
.PHONY: up demo test docs bench bench-quick

up:
	bash scripts/up.sh

demo: up

test:
	bash scripts/test.sh

docs:
	bash scripts/bootstrap.sh && bash scripts/docs.sh

bench:
	bash scripts/bench.sh

bench-quick:
	bash scripts/bench.sh --quick
