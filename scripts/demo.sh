#!/usr/bin/env bash
# The demo command (README, `make demo`): backend on :8000, Streamlit on :8501.
# Offline by default (local providers, sample data loaded at start); a Celery worker too
# when CELERY_BROKER_URL is set. Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh

API_PORT="${API_PORT:-8000}"
UI_PORT="${UI_PORT:-8501}"
export BACKEND_URL="${BACKEND_URL:-http://127.0.0.1:${API_PORT}}"
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo "Stopping demo ..."
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

.venv/bin/python -m uvicorn backend.main:app --host 127.0.0.1 --port "$API_PORT" &
pids+=($!)
# With a broker configured (environment or .env), webhook jobs run in a Celery worker.
CELERY_BROKER_URL="$(.venv/bin/python -c 'from core.config import get_settings; print(get_settings().CELERY_BROKER_URL or "")')"
if [ -n "$CELERY_BROKER_URL" ]; then
  .venv/bin/python -m celery -A core.tasks worker --concurrency 2 --loglevel INFO &
  pids+=($!)
fi
echo "Waiting for the backend (it loads sample data on first start) ..."
for _ in $(seq 1 180); do
  if .venv/bin/python -c "import httpx,sys; sys.exit(httpx.get('${BACKEND_URL}/health').status_code != 200)" 2>/dev/null; then
    break
  fi
  sleep 1
done
.venv/bin/python -m streamlit run streamlit_apps/Home.py \
  --server.port "$UI_PORT" --server.address 127.0.0.1 --server.headless true \
  --browser.gatherUsageStats false &
pids+=($!)
echo
echo "  API:        ${BACKEND_URL}/docs"
echo "  Streamlit:  http://127.0.0.1:${UI_PORT}"
if [ -n "$CELERY_BROKER_URL" ]; then echo "  Celery:     a worker on the broker in CELERY_BROKER_URL"; fi
echo "  Ctrl-C stops everything."
wait -n "${pids[@]}"
