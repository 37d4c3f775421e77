"""Which model a run starts from: a registry name or a model folder, loaded with
transformers (the arena's transformers worker loads it the same way)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.arena.registry import RegistryError, load_registry
from app.training.settings import TrainingError

LOCAL_BACKENDS = ("transformers", "vllm")


def resolve_model(name_or_path: str, registry: Path) -> tuple[str, Path]:
    """(name, folder) of a model folder, or of a registry model with local weights."""
    path = Path(name_or_path)
    if path.is_dir():
        return path.resolve().name, path
    try:
        specs = load_registry(registry)
    except RegistryError as exc:
        raise TrainingError(f"{name_or_path!r} is not a model folder, and {exc}") from exc
    for spec in specs:
        if spec.name == name_or_path:
            if spec.backend not in LOCAL_BACKENDS or not spec.path:
                raise TrainingError(f"model {spec.name!r} is served by its {spec.backend} "
                                    "endpoint: there are no local weights to fine-tune")
            if not Path(spec.path).is_dir():
                raise TrainingError(f"model {spec.name!r}: its folder {spec.path} is missing")
            return spec.name, Path(spec.path)
    known = ", ".join(s.name for s in specs) or "none"
    raise TrainingError(f"unknown model {name_or_path!r}: not a folder and not in the "
                        f"registry {registry} (known: {known})")


def load_model(folder: Path) -> tuple[Any, Any]:
    """(model, processor) from a folder, in float32 on the CPU."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(folder)
        model = AutoModelForImageTextToText.from_pretrained(folder, dtype="float32")
    except (OSError, ValueError, KeyError) as exc:
        raise TrainingError(f"{folder} is not a vision-language model transformers can "
                            f"load: {exc}") from exc
    if getattr(processor, "tokenizer", None) is None or not hasattr(processor,
                                                                    "image_processor"):
        raise TrainingError(f"{folder}: its processor has no tokenizer and image processor")
    return model, processor


def save_model(model: Any, processor: Any, folder: Path) -> None:
    """Save so that transformers and vLLM both load it (classic llava-hf key names)."""
    from app.tinyvlm.build import save_llava

    if model.config.model_type == "llava":
        save_llava(model, processor, folder)
    else:
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
