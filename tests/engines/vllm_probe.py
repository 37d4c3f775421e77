"""Run `VLLMEngine` on a batch of requests, concurrently, and print what came back as JSON.

vLLM lives in .venv-vllm while pytest runs in .venv, so the vLLM tests run this script with
.venv-vllm's Python:

    .venv-vllm/bin/python tests/engines/vllm_probe.py --model DIR --requests FILE.json \
        --out EVENTS.jsonl

FILE.json is a list of objects: name, messages ([{role, text}]), image_b64 (optional),
max_new_tokens, temperature, top_p, seed, reference (bool). All requests run at once against
one engine. Output, one JSON line each: {"event": "started", "seconds": ...}, then per
request {"event": "result", "name", "deltas", "finished", "seconds"}, where requests with
`reference` also carry the text and token count vLLM reports for the same request run
independently (FINAL_ONLY, not streamed), so the test can check the stream against it.
The events go to --out (stdout without it): vLLM's engine-core process writes its log to
the same stdout, and a log line can land in the middle of an event line.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from workers.engines.base import (  # noqa: E402
    ChatMessage,
    EngineConfig,
    Finished,
    GenerationRequest,
    TextDelta,
)
from workers.engines.vllm_engine import VLLMEngine  # noqa: E402


def to_request(spec: dict[str, Any]) -> GenerationRequest:
    image = base64.b64decode(spec["image_b64"]) if spec.get("image_b64") else None
    return GenerationRequest(
        messages=[ChatMessage(m["role"], m["text"]) for m in spec["messages"]],
        image=image,
        max_new_tokens=spec.get("max_new_tokens", 16),
        temperature=spec.get("temperature", 0.7),
        top_p=spec.get("top_p", 1.0),
        seed=spec.get("seed"),
        request_id=spec.get("request_id", spec["name"]),
    )


async def run_one(engine: VLLMEngine, spec: dict[str, Any]) -> dict[str, Any]:
    request = to_request(spec)
    started = time.perf_counter()
    deltas: list[str] = []
    finished: list[dict[str, Any]] = []
    async for event in engine.generate(request):
        if isinstance(event, TextDelta):
            if finished:
                raise AssertionError("TextDelta after Finished")
            deltas.append(event.text)
        elif isinstance(event, Finished):
            finished.append(asdict(event))
    result: dict[str, Any] = {
        "event": "result",
        "name": spec["name"],
        "deltas": deltas,
        "finished": finished,
        "seconds": time.perf_counter() - started,
    }
    if spec.get("reference"):
        result["reference"] = await reference(engine, request)
    return result


async def reference(engine: VLLMEngine, request: GenerationRequest) -> dict[str, Any]:
    """The same request straight through vLLM, final output only: the stream's ground truth."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    from workers.engines.vllm_engine import decode_image

    prompt: dict[str, Any] = {"prompt": engine.render_prompt(request)}
    if request.image is not None:
        prompt["multi_modal_data"] = {"image": decode_image(request.image)}
    params = SamplingParams(
        max_tokens=request.max_new_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        seed=request.seed,
        output_kind=RequestOutputKind.FINAL_ONLY,
    )
    final = None
    async for output in engine._engine.generate(prompt, params, f"ref-{request.request_id}"):
        final = output
    assert final is not None
    return {
        "text": final.outputs[0].text,
        "completion_tokens": len(final.outputs[0].token_ids),
        "prompt_tokens": len(final.prompt_token_ids or []),
        "finish_reason": final.outputs[0].finish_reason,
    }


async def main(model: str, specs: list[dict[str, Any]], options: dict[str, Any],
               out: Path | None = None) -> None:
    sink = out.open("w") if out is not None else sys.stdout

    def emit(event: dict[str, Any]) -> None:
        sink.write(json.dumps(event) + "\n")
        sink.flush()

    engine = VLLMEngine(EngineConfig(name="probe", backend="vllm", path=model, options=options))
    started = time.perf_counter()
    await engine.start()
    emit({"event": "started", "seconds": time.perf_counter() - started})
    try:
        started = time.perf_counter()
        results = await asyncio.gather(*(run_one(engine, spec) for spec in specs))
        for result in results:
            emit(result)
        emit({"event": "done", "seconds": time.perf_counter() - started})
    finally:
        await engine.close()
        if out is not None:
            sink.close()


if __name__ == "__main__":  # vLLM spawns processes: the guard is required
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="local model directory")
    parser.add_argument("--requests", required=True, type=Path, help="JSON list of requests")
    parser.add_argument("--options", default="{}", help="engine options as a JSON object")
    parser.add_argument("--out", type=Path, help="where the JSON event lines go (else stdout)")
    args = parser.parse_args()
    asyncio.run(main(args.model, json.loads(args.requests.read_text()), json.loads(args.options),
                     args.out))
