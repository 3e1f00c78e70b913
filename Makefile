.PHONY: demo test lint bench migrate

demo:  ## Backend on :8000 and the Streamlit apps on :8501 (API_PORT=, UI_PORT= to change), offline, sample data loaded
	./scripts/demo.sh

test:  ## Create or reuse .venv, install, run the whole test suite
	./scripts/test.sh

migrate:  ## Upgrade the database schema to the newest migration (DATABASE_URL; pgvector too when VECTOR_STORE=pgvector)
	.venv/bin/python -m core.migrations

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:  ## Print speed and memory figures (see bench/)
	.venv/bin/python bench/bench_core.py --quick
	.venv/bin/python bench/bench_workflow.py --quick
	.venv/bin/python bench/bench_saas.py --quick
