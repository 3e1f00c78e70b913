.PHONY: demo test lint bench

demo:  ## Backend on :8000 and the Streamlit apps on :8501 (API_PORT=, UI_PORT= to change), offline, sample data loaded
	./scripts/demo.sh

test:  ## Create or reuse .venv, install, run the whole test suite
	./scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:  ## Every path next to its floor, in one table (quick, a few minutes; FULL=1 for full sizes)
	.venv/bin/python bench/run_all.py $(if $(FULL),,--quick)
