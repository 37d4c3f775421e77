"""Tiny, real LLaVA models made locally (no model hub): for tests and the embedded demo."""

from app.tinyvlm.build import TinyLlavaSpec, build_tiny_llava, new_tiny_llava, save_llava

__all__ = ["TinyLlavaSpec", "build_tiny_llava", "new_tiny_llava", "save_llava"]
