"""The same-step controls a DPO gain must beat (VLFeedback's and the obvious ones).

- `shuffled`: chosen and rejected swapped at random (a fair coin per pair): same prompts,
  same answers, no preference signal;
- `longest`: the longer answer is chosen (VLFeedback's "longest is best" control), pairs
  of equal length dropped;
- `sft_rows`: supervised fine-tuning rows on the chosen answers (prompt, completion).
"""

from __future__ import annotations

import random
from typing import Any, Literal

from app.training.data import message_text

PairLabels = Literal["as-labelled", "shuffled", "longest"]
PAIR_LABELS: tuple[PairLabels, ...] = ("as-labelled", "shuffled", "longest")


def relabel(dataset: Any, labels: PairLabels, seed: int = 0) -> Any:
    """The dataset with chosen/rejected as `labels` says (see the module docstring)."""
    if labels == "as-labelled":
        return dataset
    if labels == "shuffled":
        rng = random.Random(seed)
        flips = [rng.random() < 0.5 for _ in range(len(dataset))]

        def shuffle(row: dict[str, Any], idx: int) -> dict[str, Any]:
            if flips[idx]:
                row["chosen"], row["rejected"] = row["rejected"], row["chosen"]
            return row

        return dataset.map(shuffle, with_indices=True)
    if labels == "longest":
        def size(messages: Any) -> int:
            return len(message_text(messages).strip())

        def longer_first(row: dict[str, Any]) -> dict[str, Any]:
            if size(row["rejected"]) > size(row["chosen"]):
                row["chosen"], row["rejected"] = row["rejected"], row["chosen"]
            return row

        kept = dataset.filter(lambda row: size(row["chosen"]) != size(row["rejected"]))
        return kept.map(longer_first)
    raise ValueError(f"labels must be one of {PAIR_LABELS}, got {labels!r}")


def sft_rows(dataset: Any) -> Any:
    """Prompt-completion rows (TRL's conversational format) on the chosen answers."""
    keep = ["images", "prompt", "chosen"]
    return dataset.select_columns(keep).rename_column("chosen", "completion")
