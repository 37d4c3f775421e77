#!/usr/bin/env bash
# Create or update .venv with the arena and the extras named in $EXTRAS.
# Idempotent: reinstalls only when pyproject.toml changed (a hash marker in .venv).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXTRAS="${EXTRAS:-cpu-models,moderation,admin,research}"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
MARKER="$VENV/.installed-$(echo "$EXTRAS" | tr ',' '-')"
HASH="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "vlm-arena needs Python >= 3.11 (found $($PYTHON --version))" >&2; exit 1; }
if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$HASH" ]]; then
  exit 0
fi
echo "==> installing vlm-arena [$EXTRAS] into $VENV (first run takes a few minutes)"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -U pip
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -e "$ROOT[$EXTRAS]"
echo "$HASH" > "$MARKER"
