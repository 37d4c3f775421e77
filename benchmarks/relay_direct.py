"""The engine alone: N concurrent generations straight on `VLLMEngine`, no arena around it.

Runs in .venv-vllm (vLLM lives there). Prints one JSON line per concurrency level:
{"streams", "ttft_ms": [...], "tokens", "wall_s"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers.engines.base import (  # noqa: E402
    ChatMessage,
    EngineConfig,
    Finished,
    GenerationRequest,
    TextDelta,
)
from workers.engines.vllm_engine import VLLMEngine  # noqa: E402


async def one(engine: VLLMEngine, image: bytes, tokens: int, rid: str) -> tuple[float, int]:
    start = time.perf_counter()
    first = None
    count = 0
    request = GenerationRequest(
        messages=[ChatMessage("user", "What is in the image?")], image=image,
        max_new_tokens=tokens, temperature=1.0, request_id=rid,
    )
    async for event in engine.generate(request):
        if isinstance(event, TextDelta) and first is None:
            first = time.perf_counter()
        elif isinstance(event, Finished):
            count = event.completion_tokens
    return ((first or time.perf_counter()) - start) * 1000, count


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--options", default="{}")
    return parser.parse_args()


async def main(args: argparse.Namespace, image: bytes) -> None:
    engine = VLLMEngine(EngineConfig(name="bench", backend="vllm", path=args.model,
                                     options=json.loads(args.options)))
    await engine.start()
    await one(engine, image, 8, "warmup")
    for n in args.streams:
        start = time.perf_counter()
        results = await asyncio.gather(
            *(one(engine, image, args.tokens, f"s{n}-{i}") for i in range(n))
        )
        wall = time.perf_counter() - start
        print(json.dumps({"streams": n, "ttft_ms": [r[0] for r in results],
                          "tokens": sum(r[1] for r in results), "wall_s": wall}), flush=True)
    await engine.close()


if __name__ == "__main__":
    arguments = parse_args()
    asyncio.run(main(arguments, Path(arguments.image).read_bytes()))
