"""One VL-RewardBench item, and the benchmark's fixed mapping of sources to domains.

The benchmark's scoring (`cal.py` of the reference code) groups items by the dataset they
came from, the folder of `image_path` (`images/<dataset>/...`): POVID, RLAIF-V and RLHF-V
are *hallucination*, the reasoning tasks (MathVerse, MMMU-Pro) *reasoning*, VLFeedback and
WildVision *general*. Files without `image_path` are mapped by the id's prefix the same way;
anything else (the arena's own battles) is *general*.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.judges.inputs import ImageInput

DOMAINS: tuple[str, ...] = ("general", "hallucination", "reasoning")
# source (lower case) -> domain, as the reference scoring's group mapping
SOURCE_DOMAINS: Mapping[str, str] = {
    "povid": "hallucination", "rlaif-v": "hallucination", "rlhf-v": "hallucination",
    "reasoning_tasks": "reasoning", "mathverse": "reasoning", "mmmu-pro": "reasoning",
    "mmmu_pro": "reasoning", "vlfeedback": "general", "wildvision-battle": "general",
}
_PREFIX_RE = re.compile(r"^(" + "|".join(sorted(map(re.escape, SOURCE_DOMAINS), key=len,
                                                reverse=True)) + r")(?![a-z0-9])",
                        re.IGNORECASE)


def source_of(item_id: str, image_path: str | None = None) -> str:
    """The dataset an item came from: the folder of ``images/<dataset>/...`` when given,
    else a known prefix of the id (``RLAIF-V-14`` -> ``rlaif-v``), else ``other``."""
    if image_path:
        parts = [p for p in re.split(r"[\\/]", image_path) if p]
        if len(parts) >= 3 and parts[0] == "images":
            return parts[1].lower()
    m = _PREFIX_RE.match(item_id)
    return m.group(1).lower().replace("_", "-") if m else "other"


def domain_of(source: str) -> str:
    """general | hallucination | reasoning for a source (unknown sources are general)."""
    return SOURCE_DOMAINS.get(source.lower(), "general")


@dataclass(frozen=True)
class RewardItem:
    """Two responses to one visual query, and which one people preferred.

    ``human_ranking[i]`` is response ``i``'s rank (0 = preferred), as in the benchmark's
    files; ``image`` carries the picture's sha256 (and its bytes when read from a file)."""

    id: str
    query: str
    image: ImageInput
    responses: tuple[str, str]
    human_ranking: tuple[int, int]
    models: tuple[str, str] = ("", "")
    source: str = "other"
    meta: Mapping[str, Any] = field(default_factory=dict)
    ground_truth: str | None = None

    def __post_init__(self) -> None:
        if sorted(self.human_ranking) != [0, 1]:
            raise ValueError(f"{self.id}: human_ranking must be [0, 1] or [1, 0]")

    @property
    def domain(self) -> str:
        return domain_of(self.source)

    @property
    def preferred(self) -> int:
        """The index of the response people preferred."""
        return self.human_ranking.index(0)

    @property
    def key(self) -> str:
        """The item's identity for aggregation (the reference keys on id + query + the
        sorted responses, so a repeated id with other content is another item)."""
        text = "\x1f".join([self.id, self.query, *sorted(self.responses),
                            self.image.sha256])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
