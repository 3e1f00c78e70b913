.PHONY: demo test lint bench

demo:  ## Backend on :8000 and the Streamlit apps on :8501 (API_PORT=, UI_PORT= to change), offline, sample data loaded
	./scripts/demo.sh

test:  ## Create or reuse .venv, install, run the whole test suite
	./scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:  ## Print speed and memory figures (see bench/)
	.venv/bin/python bench/bench_core.py --quick
	.venv/bin/python bench/bench_workflow.py --quick
	.venv/bin/python bench/bench_saas.py --quick
