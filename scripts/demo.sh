#!/usr/bin/env bash
# One command for a working arena on this machine: SQLite, in-process queue, demo models
# on the CPU. Nothing else to install or start.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
exec "$ROOT/.venv/bin/arena" demo "$@"
