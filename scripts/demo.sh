#!/usr/bin/env bash
# The demo command (README, `make demo`): backend on :8000, Streamlit on :8501; other ports
# with API_PORT and UI_PORT (`make demo API_PORT=8010 UI_PORT=8511`).
# Offline by default (local providers, sample data loaded at start); a Celery worker too
# when CELERY_BROKER_URL is set. Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."

API_PORT="${API_PORT:-8000}"
UI_PORT="${UI_PORT:-8501}"
for name in API_PORT UI_PORT; do
  if ! [[ "${!name}" =~ ^[0-9]+$ ]] || [ "${!name}" -lt 1 ] || [ "${!name}" -gt 65535 ]; then
    echo "$name must be a port number (1-65535), got '${!name}'" >&2
    exit 1
  fi
done
if [ "$API_PORT" = "$UI_PORT" ]; then
  echo "API_PORT and UI_PORT must differ (both are $API_PORT)" >&2
  exit 1
fi
# Checked before installing, so a busy port is reported at once, not after minutes.
for name in API_PORT UI_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/${!name}") 2>/dev/null; then
    echo "Port ${!name} is already in use; pick another: make demo $name=<free port>" >&2
    exit 1
  fi
done
source scripts/_venv.sh

# The Streamlit pages talk to the backend started here, whatever BACKEND_URL said before.
export BACKEND_URL="http://127.0.0.1:${API_PORT}"
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
  .venv/bin/python -m celery -A backend.worker worker --concurrency 2 --loglevel INFO &
  pids+=($!)
fi
echo "Waiting for the backend (it loads sample data on first start) ..."
for _ in $(seq 1 180); do
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "The backend stopped while starting (its log is above)." >&2
    exit 1
  fi
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
