"""Dataset cards: README.md with the Hugging Face YAML header (configs and their data
files, features, splits, license, size category) and a Markdown body in sections.

Every export that publishes data (releases, the judge exports) builds a ``DatasetCard``
and calls ``write_card``; the YAML comes from the same features as the Parquet metadata
(``app.release.features``), so ``datasets.load_dataset(folder)`` finds each configuration
and its declared features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.release.features import card_features

CARD = "README.md"
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
          (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))


def size_category(rows: int) -> str:
    """The hub's size category for a row count."""
    for bound, label in _SIZES:
        if rows < bound:
            return label
    return "n>100M"


@dataclass(frozen=True)
class ConfigCard:
    """One configuration: its features (``hf_features`` form) and where its files are."""

    name: str
    features: dict[str, Any]
    data_files: str  # a glob relative to the folder, e.g. "data/chat/train-*.parquet"
    rows: int
    bytes: int
    split: str = "train"
    default: bool = False


@dataclass(frozen=True)
class DatasetCard:
    pretty_name: str
    license: str
    configs: Sequence[ConfigCard]
    summary: str
    sections: Sequence[tuple[str, str]] = ()  # (heading, Markdown body), in order
    task_categories: Sequence[str] = ()
    languages: Sequence[str] = ()
    tags: Sequence[str] = ()
    extra_yaml: dict[str, Any] = field(default_factory=dict)


def card_yaml(card: DatasetCard) -> dict[str, Any]:
    """The YAML header as a dict (keys in the hub's usual order)."""
    header: dict[str, Any] = {"pretty_name": card.pretty_name, "license": card.license}
    if card.languages:
        header["language"] = list(card.languages)
    if card.task_categories:
        header["task_categories"] = list(card.task_categories)
    if card.tags:
        header["tags"] = list(card.tags)
    header["size_categories"] = [size_category(sum(c.rows for c in card.configs))]
    header["configs"] = [
        {"config_name": c.name, **({"default": True} if c.default else {}),
         "data_files": [{"split": c.split, "path": c.data_files}]}
        for c in card.configs
    ]
    header["dataset_info"] = [
        {"config_name": c.name, "features": card_features(c.features),
         "splits": [{"name": c.split, "num_bytes": c.bytes, "num_examples": c.rows}],
         "download_size": c.bytes, "dataset_size": c.bytes}
        for c in card.configs
    ]
    header.update(card.extra_yaml)
    return header


def render_card(card: DatasetCard) -> str:
    head = yaml.safe_dump(card_yaml(card), sort_keys=False, allow_unicode=True, width=100)
    body = [f"# {card.pretty_name}", "", card.summary.strip(), ""]
    for heading, text in card.sections:
        body += [f"## {heading}", "", text.strip(), ""]
    return f"---\n{head}---\n\n" + "\n".join(body)


def write_card(root: Path, card: DatasetCard) -> Path:
    path = Path(root) / CARD
    path.write_text(render_card(card), encoding="utf-8")
    return path


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A small Markdown table (cells are str()-ed, pipes escaped)."""
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
