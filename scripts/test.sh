#!/usr/bin/env bash
# The test command (README, `make test`, .ci/run): install if needed, run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
exec .venv/bin/python -m pytest "$@"
