"""Start the real thing for tests: uvicorn (`arena serve`) and worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from app.config import REPO_ROOT
from tests.conftest import free_port

# How long `arena serve` may take to answer /healthz. Loading the moderation models (and
# the tiny VLMs of the embedded workers) took over a minute on a loaded 2-core machine.
START_TIMEOUT_S = 180


@dataclass
class ArenaStack:
    env: dict[str, str]
    port: int
    log_dir: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str], python: str | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [python or sys.executable, "-m", "arena_cli", *args],
            cwd=REPO_ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def start_web(self, *extra: str) -> None:
        self._spawn("web", ["serve", "--port", str(self.port), *extra])
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.procs["web"].poll() is not None:
                raise RuntimeError(f"web exited:\n{self.log('web')}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"web did not start:\n{self.log('web')}")

    def start_worker(self, name: str, model: str, python: str | None = None) -> None:
        self._spawn(name, ["worker", "--model", model, "--worker-id", name], python)

    def wait_models_online(self, names: list[str], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            online = {m["name"] for m in httpx.get(f"{self.url}/api/models").json() if m["online"]}
            if set(names) <= online:
                return
            for n, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{n} exited:\n{self.log(n)}")
            time.sleep(0.3)
        raise RuntimeError(f"models not online: {names}\n" + "\n".join(
            f"--- {n}\n{self.log(n)}" for n in self.procs))

    def send_signal(self, name: str, sig: int) -> None:
        """Send `sig` to a process group without forgetting it (SIGSTOP / SIGCONT)."""
        os.killpg(self.procs[name].pid, sig)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def stop(self) -> None:
        for name in list(self.procs):
            proc = self.procs.pop(name)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def png_bytes(
    color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48)
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def consented_client(base_url: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60)
    r = client.post("/api/consent", json={"accept": True})
    assert r.status_code == 200, r.text
    return client


def create_battle(client: httpx.Client, prompt: str = "What is in the image?", **form: str) -> dict:
    r = client.post(
        "/api/battles",
        files={"image": ("pic.png", png_bytes(), "image/png")},
        data={"prompt": prompt, **form},
    )
    assert r.status_code == 201, r.text
    return r.json()


@dataclass
class SSEEvent:
    event: str
    id: str | None
    data: dict[str, Any]


def read_sse(
    client: httpx.Client,
    path: str,
    *,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    raw: list[bytes] | None = None,
    timeout: float = 120,
    on_event: Callable[[SSEEvent], None] | None = None,
    on_open: Callable[[], None] | None = None,
) -> list[SSEEvent]:
    """Read an SSE stream until the `end` event (or `stop_after` events, then disconnect).
    `on_open` runs once the response has started (the relay has loaded the battle)."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[SSEEvent] = []
    deadline = time.monotonic() + timeout
    with client.stream("GET", path, headers=headers, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        if on_open is not None:
            on_open()
        current: dict[str, str] = {}
        for line in response.iter_lines():
            if raw is not None:
                raw.append(line.encode())
            if time.monotonic() > deadline:
                raise TimeoutError("stream did not end in time")
            if line == "":
                if "event" in current:
                    ev = SSEEvent(current["event"], current.get("id"),
                                  json.loads(current.get("data", "{}")))
                    events.append(ev)
                    if on_event is not None:  # e.g. freeze a worker at an exact point
                        on_event(ev)
                    if ev.event == "end" or (stop_after and len(events) >= stop_after):
                        return events
                current = {}
                continue
            if line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            current[key] = value.lstrip(" ")
    return events


def answers_from(events: list[SSEEvent]) -> dict[str, str]:
    """Rebuild each side's final text the way the page does."""
    text: dict[str, str] = {}
    final: dict[str, str] = {}
    for ev in events:
        if ev.event not in ("a", "b"):
            continue
        kind = ev.data["type"]
        if kind == "delta":
            text[ev.event] = text.get(ev.event, "") + ev.data["text"]
        elif kind == "reset":
            text[ev.event] = ""
        elif kind == "done":
            final[ev.event] = ev.data["text"]
    return {"streamed": text, "final": final}  # type: ignore[dict-item]


def embedded_stack(models_file: Path, data: Path, **env: str) -> ArenaStack:
    """The embedded default: SQLite, in-process queue, workers inside the web process."""
    return ArenaStack(
        env={
            "ARENA_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'arena.db'}",
            "ARENA_REDIS_URL": "",
            "ARENA_DATA_DIR": str(data),
            "ARENA_MODELS_FILE": str(models_file),
            **env,
        },
        port=free_port(),
        log_dir=data,
    )


def services_stack(
    pg_url: str, redis_url: str, redis_prefix: str, models_file: Path, data: Path, **env: str
) -> ArenaStack:
    """The deployment path: PostgreSQL, Redis Streams, separate worker processes."""
    return ArenaStack(
        env={
            "ARENA_DATABASE_URL": pg_url,
            "ARENA_REDIS_URL": redis_url,
            "ARENA_REDIS_PREFIX": redis_prefix,
            "ARENA_DATA_DIR": str(data),
            "ARENA_MODELS_FILE": str(models_file),
            **env,
        },
        port=free_port(),
        log_dir=data,
    )



def assert_streams_match_answers(events: list[SSEEvent], sides: str = "ab") -> dict[str, str]:
    """Each side was streamed: at least one delta came before its `done`, and the deltas
    (after the last reset) add up to exactly the final answer. For a client connected
    before the answers were written (see `frozen`); a snapshot alone does not pass."""
    texts = answers_from(events)
    for side in sides:
        final = texts["final"][side]  # type: ignore[index]
        assert final != ""
        kinds = [e.data["type"] for e in events if e.event == side]
        assert "delta" in kinds[: kinds.index("done")], f"side {side} got no delta: {kinds}"
        assert texts["streamed"][side] == final  # type: ignore[index]
    return texts["final"]  # type: ignore[return-value]


@contextlib.contextmanager
def frozen(stack: ArenaStack, names: list[str]) -> Iterator[Callable[[], None]]:
    """Hold these worker processes (SIGSTOP) and give a `resume` (SIGCONT, for read_sse's
    on_open): a battle created inside is generated only once its stream is open, so the
    client is connected before generation starts. Resumed on exit whatever happens."""
    for name in names:
        stack.send_signal(name, signal.SIGSTOP)

    def resume() -> None:
        for name in names:
            stack.send_signal(name, signal.SIGCONT)

    try:
        yield resume
    finally:
        resume()


def db_query(db_url: str, fn: Callable[[Any], Any]) -> Any:
    """Run `await fn(session)` on a fresh engine from synchronous test code (the stack tests
    drive processes and HTTP synchronously and read what the arena stored)."""
    from app.db.session import make_engine, make_sessionmaker

    async def run() -> Any:
        engine = make_engine(db_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await fn(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())
