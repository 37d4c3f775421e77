#!/usr/bin/env bash
# The whole test suite, set-up included: venvs, Chromium, services, lint, pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EXTRAS="cpu-models,moderation,admin,test" bash scripts/setup.sh
bash scripts/setup_vllm_env.sh
bash scripts/browser.sh
bash scripts/services.sh
echo "==> ruff"
.venv/bin/ruff check .
echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
