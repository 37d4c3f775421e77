.PHONY: demo test lint bench

demo:  ## set up and run the embedded arena (SQLite, in-process queue, CPU demo models)
	bash scripts/demo.sh

test:  ## set up everything and run the whole test suite
	bash scripts/test.sh

lint:
	.venv/bin/ruff check .

bench:
	.venv/bin/python benchmarks/bench_relay.py
