"""Models whose answers the test chooses: a small OpenAI-compatible server on 127.0.0.1
streams a scripted answer for each question, and the arena serves it through its `openai`
backend (real uvicorn, embedded workers). It records what the models were sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.arena.stack import ArenaStack, embedded_stack

MODELS = ["scripted-a", "scripted-b"]
DEFAULT_ANSWER = "A red square on a white background."


@dataclass
class ScriptedModels:
    answers: dict[str, str] = field(default_factory=dict)  # question → answer (Markdown)
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    def answer_for(self, body: dict[str, Any]) -> str:
        last = body["messages"][-1]["content"]
        text = (
            last
            if isinstance(last, str)
            else " ".join(p.get("text", "") for p in last if p.get("type") == "text")
        )
        return self.answers.get(text.strip(), DEFAULT_ANSWER)

    def images_sent(self) -> list[str]:
        """The image data URLs the models received, in order."""
        urls = []
        for body in self.requests:
            for message in body["messages"]:
                if isinstance(message["content"], list):
                    urls += [
                        p["image_url"]["url"]
                        for p in message["content"]
                        if p.get("type") == "image_url"
                    ]
        return urls


def _handler(models: ScriptedModels) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            models.requests.append(body)
            text = models.answer_for(body)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            pieces = [text[i : i + 40] for i in range(0, len(text), 40)] or [""]
            for k, piece in enumerate(pieces):
                chunk = {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"content": piece},
                            "finish_reason": "stop" if k == len(pieces) - 1 else None,
                        }
                    ],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler


@contextmanager
def scripted_site(data: Path, **env: str) -> Iterator[tuple[ArenaStack, ScriptedModels]]:
    """`arena serve --embedded-workers` with two scripted models (no moderation models)."""
    models = ScriptedModels()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(models))
    models.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    registry = data / "models.yaml"
    registry.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {
                        "name": name,
                        "backend": "openai",
                        "path": f"http://127.0.0.1:{models.port}/v1",
                        "options": {
                            "base_url": f"http://127.0.0.1:{models.port}/v1",
                            "max_retries": 0,
                        },
                    }
                    for name in MODELS
                ]
            }
        )
    )
    stack = embedded_stack(registry, data, ARENA_MODERATION_ENABLED="false", **env)
    try:
        stack.start_web("--embedded-workers")
        stack.wait_models_online(MODELS)
        yield stack, models
    finally:
        stack.stop()
        server.shutdown()
        server.server_close()
