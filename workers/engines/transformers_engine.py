"""Engine backend running a Hugging Face VLM with transformers on the CPU.

The embedded demo and the tests use it: no GPU, no vLLM, small local models. The prompt is
the model's own chat template (image as a content part of the first user turn), generation
runs in one dedicated thread so the event loop never blocks, and text deltas cross back to
the loop as they are produced. Generations are serialised (one model, one thread): correct
under any number of concurrent `generate` calls, and on a shared CPU a second concurrent
forward pass would not be faster anyway.

Options (`EngineConfig.options`):
    num_threads   torch intra-op threads for this process (default: torch's own choice)
    dtype         "float32" (default) or "bfloat16"
torch and transformers are imported in `start()` only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from workers.engines.base import (
    EngineConfig,
    EngineEvent,
    Finished,
    GenerationRequest,
    TextDelta,
)
from workers.engines.priority import PriorityGate
from workers.engines.vllm_engine import decode_image, template_messages

_END = object()  # end of a generation's stream on the asyncio queue


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark an abandoned generation's outcome as seen (no "never retrieved" warnings)."""
    if not future.cancelled():
        future.exception()


class IncrementalDecoder:
    """Turns a growing list of token ids into text deltas that concatenate to the full text.

    Byte-level tokenizers can split one character over several tokens; a trailing U+FFFD
    means "incomplete so far", so it is held back until more tokens (or the end) settle it.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self.emitted = ""

    def _text(self) -> str:
        return self._tokenizer.decode(self._ids, skip_special_tokens=True)

    def _delta(self, text: str) -> str:
        if not text.startswith(self.emitted):
            return ""  # not settled yet; emitted text can never be taken back
        delta = text[len(self.emitted) :]
        self.emitted = text
        return delta

    def push(self, ids: list[int]) -> str:
        self._ids.extend(ids)
        return self._delta(self._text().rstrip("\ufffd"))

    def flush(self) -> str:
        return self._delta(self._text())


@dataclass
class _Job:
    """One generation handed from the event loop to the model thread."""

    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Any]
    cancelled: threading.Event = field(default_factory=threading.Event)

    def send(self, item: Any) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class TransformersEngine:
    """A transformers VLM on the CPU; `generate` may be called concurrently."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.model_path: str = config.path or config.name
        self._model: Any = None
        self._processor: Any = None
        self._tokenizer: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._gate = PriorityGate()

    async def start(self) -> None:
        if self._model is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transformers")
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        options = self.config.options
        if options.get("num_threads"):
            torch.set_num_threads(int(options["num_threads"]))
        dtype = getattr(torch, str(options.get("dtype", "float32")))
        processor = AutoProcessor.from_pretrained(self.model_path)
        model = AutoModelForImageTextToText.from_pretrained(self.model_path, dtype=dtype)
        self._processor = processor
        self._tokenizer = getattr(processor, "tokenizer", processor)
        self._model = model.eval()

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        self._model = self._processor = self._tokenizer = None

    async def generate(self, request: GenerationRequest) -> AsyncIterator[EngineEvent]:
        if self._model is None or self._executor is None:
            raise RuntimeError("TransformersEngine.generate called before start()")
        loop = asyncio.get_running_loop()
        job = _Job(request=request, loop=loop, queue=asyncio.Queue())
        await self._gate.acquire(request.priority)  # battles before judge calls
        try:
            future = loop.run_in_executor(self._executor, self._run, job)
        except BaseException:
            self._gate.release()
            raise
        future.add_done_callback(lambda _f: self._gate.release())
        try:
            while True:
                item = await job.queue.get()
                if item is _END:
                    break
                yield item
            yield await future  # the Finished event, or the generation's exception
        finally:
            if not future.done():  # the consumer left early: stop generating for nobody
                job.cancelled.set()
                future.cancel()
                future.add_done_callback(_retrieve)

    def _inputs(self, request: GenerationRequest) -> Any:
        messages = template_messages(request)
        template_owner = (
            self._processor if getattr(self._processor, "chat_template", None) else self._tokenizer
        )
        prompt = template_owner.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        kwargs: dict[str, Any] = {"text": prompt, "return_tensors": "pt"}
        if request.image is not None:
            kwargs["images"] = decode_image(request.image)
        # The chat template already wrote the BOS token.
        return self._processor(**kwargs, add_special_tokens=False)

    def _run(self, job: _Job) -> Finished:
        """Runs in the model thread: generate, streaming deltas to the job's queue."""
        try:
            return self._generate(job)
        finally:
            job.send(_END)

    def _generate(self, job: _Job) -> Finished:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList
        from transformers.generation.streamers import BaseStreamer

        request = job.request
        inputs = self._inputs(request)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        room = self._context_length() - prompt_tokens
        max_new_tokens = min(request.max_new_tokens, room)
        if job.cancelled.is_set() or max_new_tokens <= 0:
            return Finished(prompt_tokens, 0, "length")

        decoder = IncrementalDecoder(self._tokenizer)

        class Streamer(BaseStreamer):
            prompt_seen = False

            def put(self, value: Any) -> None:
                if not self.prompt_seen:  # generate() first hands over the prompt
                    self.prompt_seen = True
                    return
                delta = decoder.push([int(t) for t in value.reshape(-1).tolist()])
                if delta:
                    job.send(TextDelta(delta))

            def end(self) -> None:
                delta = decoder.flush()
                if delta:
                    job.send(TextDelta(delta))

        class StopWhenCancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), job.cancelled.is_set(), dtype=torch.bool)

        sampling = request.temperature > 0
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "do_sample": sampling,
            "streamer": Streamer(),
            "stopping_criteria": StoppingCriteriaList([StopWhenCancelled()]),
        }
        if sampling:
            gen_kwargs.update(temperature=request.temperature, top_p=request.top_p, top_k=0)
        if request.seed is not None:
            torch.manual_seed(request.seed)
        with torch.inference_mode():
            output = self._model.generate(**inputs, **gen_kwargs)
        new_tokens = output[0, prompt_tokens:].tolist()
        eos = self._eos_ids()
        finish_reason = "stop" if new_tokens and new_tokens[-1] in eos else "length"
        return Finished(prompt_tokens, len(new_tokens), finish_reason)

    def _eos_ids(self) -> set[int]:
        eos = self._model.generation_config.eos_token_id
        if eos is None:
            eos = self._tokenizer.eos_token_id
        return set(eos) if isinstance(eos, list) else {eos}

    def _context_length(self) -> int:
        config = self._model.config
        text_config = getattr(config, "text_config", config)
        return int(getattr(text_config, "max_position_embeddings", 1 << 30))
