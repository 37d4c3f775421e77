"""The token source: a FOR-BENCHMARKS-ONLY engine that streams a fixed number of tokens at a
fixed per-stream rate (a GPU-like pace, e.g. 50 tokens/s) with almost no CPU, so that what
a benchmark or test measures is the arena around it: web, Redis, the worker loop, SSE.

It is not an engine backend: the registry can not name it (app/arena/registry.py knows
transformers, vllm and openai). A worker runs it only when started from this file:

    .venv/bin/python benchmarks/token_source.py --model NAME [--rate 50] [--tokens 64]

with the usual ARENA_* settings (the model must be in the registry; its backend there is
never used). Every token is "<index>@<unix time in ms>" and a space: the time it was
yielded, so a client can measure each token's delay from the source (same machine clock).
Token i of a stream is yielded at start + i / rate (a fixed schedule, no drift).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers.engines.base import (  # noqa: E402
    EngineEvent,
    Finished,
    GenerationRequest,
    TextDelta,
)


def token_text(index: int, at: float, pad: int = 0) -> str:
    return f"{index}@{at * 1000:.3f}" + (f"~{'x' * pad}" if pad else "") + " "


def parse_tokens(text: str) -> list[tuple[int, float]]:
    """(index, source time in s) of each token in `text` (whole tokens only)."""
    out = []
    for part in text.split(" "):
        index, sep, ms = part.partition("~")[0].partition("@")
        if sep and index.isdigit():
            try:
                out.append((int(index), float(ms) / 1000))
            except ValueError:
                continue
    return out


class TokenSourceEngine:
    """`tokens` tokens per request at `rate` tokens/s (0: as fast as the loop allows).
    `max_new_tokens` of a request caps the count, like a real engine's budget."""

    def __init__(self, rate: float = 50.0, tokens: int = 64, first_token_s: float = 0.0,
                 pad: int = 0):
        self.rate = rate
        self.tokens = tokens
        self.pad = pad  # bytes of padding per token (to fill a slow client's buffers)
        self.first_token_s = first_token_s  # a fixed "prefill" before the first token

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def generate(self, request: GenerationRequest) -> AsyncIterator[EngineEvent]:
        count = min(self.tokens, request.max_new_tokens)
        loop = asyncio.get_running_loop()
        start = loop.time() + self.first_token_s
        for i in range(count):
            due = start + (i / self.rate if self.rate else 0.0)
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif not self.rate:
                await asyncio.sleep(0)
            yield TextDelta(token_text(i, time.time(), self.pad))
        yield Finished(prompt_tokens=1, completion_tokens=count, finish_reason="length")


def main() -> None:
    parser = argparse.ArgumentParser(description="a worker whose engine is the token source")
    parser.add_argument("--model", required=True)
    parser.add_argument("--rate", type=float, default=50.0, help="tokens/s per stream")
    parser.add_argument("--tokens", type=int, default=64, help="tokens per answer")
    parser.add_argument("--first-token-s", type=float, default=0.0)
    parser.add_argument("--pad", type=int, default=0, help="padding bytes per token")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--worker-id", default=None)
    args = parser.parse_args()

    from app.config import get_settings
    from arena_cli.serving import setup_logging
    from workers.run import run_worker

    setup_logging()
    engine = TokenSourceEngine(args.rate, args.tokens, args.first_token_s, args.pad)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(run_worker(get_settings(), args.model, concurrency=args.concurrency,
                      worker_id=args.worker_id, engine=engine))


if __name__ == "__main__":
    main()
