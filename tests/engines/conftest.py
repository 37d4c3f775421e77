"""Fixtures for the engine tests that need the real vLLM (CPU build) from .venv-vllm.

vLLM is not installable next to the project's torch, so it lives in its own environment
(scripts/setup_vllm_env.sh). Tests reach it through subprocesses: a probe script running
`VLLMEngine`, and vLLM's OpenAI-compatible server for `OpenAIEngine`. Each starts once per
session. Without .venv-vllm these tests skip, or fail under CI=true.
"""

from __future__ import annotations

import base64
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
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VLLM_VENV = REPO_ROOT / ".venv-vllm"
VLLM_PYTHON = VLLM_VENV / "bin" / "python"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SERVED_NAME = "tiny-llava"
SERVER_START_TIMEOUT_S = 420.0  # under a minute on an idle 2-core machine; more on a busy one
PROBE_TIMEOUT_S = 600.0

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


PROBE = Path(__file__).with_name("vllm_probe.py")
PROBE_QUESTION = "What is in the image?"
PROBE_BATCH = 8
PROBE_MAX_TOKENS = 24


def probe_scenarios(image: bytes) -> list[dict[str, Any]]:
    """What `vllm_probe.py` runs, all at once on one `VLLMEngine` (see test_vllm_engine)."""
    image_b64 = base64.b64encode(image).decode()

    def spec(name: str, with_image: bool = True, **overrides: Any) -> dict[str, Any]:
        return {
            "name": name,
            "messages": [{"role": "user", "text": PROBE_QUESTION}],
            "image_b64": image_b64 if with_image else None,
            "max_new_tokens": PROBE_MAX_TOKENS,
            "temperature": 1.0,
            "reference": True,
            # a retried job reuses its generation id: the engine must cope with duplicates
            "request_id": "same-generation-id",
            **overrides,
        }

    return [
        *(spec(f"batch-{i}", seed=100 + i) for i in range(PROBE_BATCH)),
        spec("same-seed-a", seed=7),
        spec("same-seed-b", seed=7),
        spec("length", seed=3, max_new_tokens=4),
        spec("text-only", with_image=False, seed=5),
        spec(
            "multi-turn",
            seed=9,
            messages=[
                {"role": "user", "text": PROBE_QUESTION},
                {"role": "assistant", "text": "A red circle."},
                {"role": "user", "text": "Where is it?"},
            ],
        ),
    ]


class VLLMProcesses:
    """The session's vLLM processes: the OpenAI server and the `VLLMEngine` probe.

    An engine start is mostly single-threaded imports in three processes (~1 min of CPU), so
    both start together and overlap on two cores; each is stopped at the end of the session.
    """

    def __init__(self, python: Path, model: Path, image: bytes, workdir: Path) -> None:
        self.python, self.model, self.image, self.workdir = python, model, image, workdir
        self._server: subprocess.Popen[bytes] | None = None
        self._server_port = 0
        self._server_ready = False
        self._probe: subprocess.Popen[bytes] | None = None
        self._probe_results: dict[str, Any] | None = None

    def _spawn(self, command: list[str], stdout: Path, stderr: Path) -> subprocess.Popen[bytes]:
        with stdout.open("wb") as out, stderr.open("wb") as err:
            return subprocess.Popen(
                command,
                stdout=out,
                stderr=err,
                env=vllm_subprocess_env(),
                cwd=REPO_ROOT,
                start_new_session=True,  # its engine processes share a group we can stop
            )

    def start_server(self) -> None:
        if self._server is not None:
            return
        self._server_port = free_port()
        log = self.workdir / "server.log"
        command = [
            str(self.python), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model),
            "--served-model-name", SERVED_NAME,
            "--host", "127.0.0.1", "--port", str(self._server_port),
            *CPU_SERVER_ARGS,
        ]  # fmt: skip
        self._server = self._spawn(command, log, log)

    def start_probe(self) -> None:
        if self._probe is not None:
            return
        requests = self.workdir / "probe-requests.json"
        requests.write_text(json.dumps(probe_scenarios(self.image)))
        command = [
            str(self.python), str(PROBE), "--model", str(self.model), "--requests", str(requests),
            "--out", str(self.workdir / "probe.jsonl"),
        ]  # fmt: skip
        self._probe = self._spawn(command, self.workdir / "probe.out", self.workdir / "probe.err")

    def server(self) -> VLLMServer:
        """The running server, once healthy."""
        self.start_server()
        assert self._server is not None
        log = self.workdir / "server.log"
        if not self._server_ready:
            wait_healthy(self._server, f"http://127.0.0.1:{self._server_port}/health", log)
            self._server_ready = True
        return VLLMServer(f"http://127.0.0.1:{self._server_port}/v1", SERVED_NAME, log)

    def probe_results(self) -> dict[str, Any]:
        """The probe's output: results by request name, engine start and batch seconds."""
        self.start_probe()
        assert self._probe is not None
        if self._probe_results is None:
            try:
                code = self._probe.wait(timeout=PROBE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                stop_process_group(self._probe)
                code = -1
            if code != 0:
                err = log_tail(self.workdir / "probe.err")
                pytest.fail(f"vllm_probe.py failed ({code}):\n{err}", pytrace=False)
            lines = (self.workdir / "probe.jsonl").read_text().splitlines()
            events = [json.loads(line) for line in lines]
            self._probe_results = {
                "results": {e["name"]: e for e in events if e["event"] == "result"},
                "started_s": next(e["seconds"] for e in events if e["event"] == "started"),
                "batch_s": next(e["seconds"] for e in events if e["event"] == "done"),
            }
        return self._probe_results

    def stop(self) -> None:
        for process in (self._server, self._probe):
            if process is not None:
                stop_process_group(process)


@pytest.fixture(scope="session")
def vllm_processes(
    request: pytest.FixtureRequest,
    vllm_python: Path,
    tiny_llava_dir: Path,
    image_png: bytes,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[VLLMProcesses]:
    """Starts, at once, every vLLM process that this session's collected tests will use."""
    processes = VLLMProcesses(
        vllm_python, tiny_llava_dir, image_png, tmp_path_factory.mktemp("vllm")
    )
    wanted = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    try:
        if "vllm_openai_server" in wanted:
            processes.start_server()
        if "vllm_probe" in wanted:
            processes.start_probe()
        yield processes
    finally:
        processes.stop()


@pytest.fixture(scope="session")
def vllm_openai_server(vllm_processes: VLLMProcesses) -> VLLMServer:
    """vLLM's OpenAI-compatible server on the tiny model, on a free local port."""
    return vllm_processes.server()


@pytest.fixture(scope="session")
def vllm_probe(vllm_processes: VLLMProcesses) -> dict[str, Any]:
    """`VLLMEngine` run on `probe_scenarios` in .venv-vllm: see vllm_probe.py."""
    return vllm_processes.probe_results()


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
    """SIGTERM a process group we started (front + engine core + worker), then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
    # Its engine children may outlive the server by a moment: they are in the same group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
