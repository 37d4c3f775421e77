#!/usr/bin/env bash
# The whole test suite, set-up included: venvs, Chromium, services, lint, pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EXTRAS="cpu-models,moderation,admin,research,test" bash scripts/setup.sh
bash scripts/setup_vllm_env.sh
bash scripts/browser.sh
bash scripts/services.sh
echo "==> ruff"
.venv/bin/ruff check .
echo "==> pytest"
# the slowest tests are listed at the end: the suite must stay under 30 minutes
exec .venv/bin/python -m pytest --durations=30 "$@"
