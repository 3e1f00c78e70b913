.PHONY: demo test lint bench migrate

demo:  ## Backend on :8000 and the Streamlit apps on :8501 (API_PORT=, UI_PORT= to change), offline, sample data loaded
	./scripts/demo.sh

test:  ## Create or reuse .venv, install, run the whole test suite
	./scripts/test.sh

migrate:  ## Upgrade the database schema to the newest migration (DATABASE_URL; pgvector too when VECTOR_STORE=pgvector)
	.venv/bin/python -m backend.migrate

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:  ## Every path next to its floor, in one table (quick, a few minutes; FULL=1 for full sizes)
	.venv/bin/python bench/run_all.py $(if $(FULL),,--quick)
