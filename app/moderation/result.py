"""What the gate decided and why, in a form that can be stored with the battle."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from app.moderation.pii import PiiFinding

Decision = Literal["allow", "review", "block"]
PiiAction = Literal["allow", "review", "block"]

NSFW = "nsfw"
ABUSE = "abuse"
PII = "pii"

_SEVERITY: dict[str, int] = {"allow": 0, "review": 1, "block": 2}


def stricter(a: Decision, b: Decision) -> Decision:
    """The more severe of two decisions."""
    return a if _SEVERITY[a] >= _SEVERITY[b] else b


@dataclass(frozen=True)
class ModerationThresholds:
    """Score cut-offs. A score >= *_block blocks; >= *_review (but below block) flags.

    Defaults: open_nsfw's authors call < 0.2 safe and > 0.8 NSFW; a plain skin-coloured
    square scores ~0.3, so review starts at 0.4. alt-profanity-check is a profanity model
    (English only): insults score ~1.0, but so does mild swearing ("I hate this stupid
    chart": 0.996), so blocking needs >= 0.98 and review starts at 0.6 ("damn": ~0.68).
    Personal data is sent to review by default: it is not harmful to answer, but it must
    not end up in a published dataset.
    """

    nsfw_block: float = 0.8
    nsfw_review: float = 0.4
    abuse_block: float = 0.98
    abuse_review: float = 0.6
    pii_action: PiiAction = "review"

    def __post_init__(self) -> None:
        for name in ("nsfw", "abuse"):
            review, block = getattr(self, f"{name}_review"), getattr(self, f"{name}_block")
            if not 0.0 <= review <= block <= 1.0:
                raise ValueError(
                    f"need 0 <= {name}_review <= {name}_block <= 1, got {review}, {block}"
                )
        if self.pii_action not in _SEVERITY:
            raise ValueError(f"pii_action must be allow, review or block: {self.pii_action!r}")

    def level(self, score: float, review: float, block: float) -> Decision:
        """Decision for one score against one review/block pair."""
        if score >= block:
            return "block"
        if score >= review:
            return "review"
        return "allow"


@dataclass(frozen=True)
class ModerationResult:
    """Outcome of one check (one image or one text).

    `reasons` lists every signal at review level or above, most severe first; `blocked_by`
    is the subset that reached block. Spans are offsets only, never the text itself.
    """

    decision: Decision
    reasons: tuple[str, ...] = ()
    blocked_by: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    language: str | None = None
    pii_kinds: tuple[str, ...] = ()
    pii_spans: tuple[PiiFinding, ...] = ()
    elapsed_ms: float = 0.0

    @property
    def allowed(self) -> bool:
        """True unless blocked (review still lets the battle run)."""
        return self.decision != "block"

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict for a JSON column next to the battle."""
        return {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "blocked_by": list(self.blocked_by),
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
            "language": self.language,
            "pii_kinds": list(self.pii_kinds),
            "pii_spans": [
                {"kind": s.kind, "start": s.start, "end": s.end, "score": round(s.score, 4)}
                for s in self.pii_spans
            ],
            "elapsed_ms": round(self.elapsed_ms, 3),
        }

    def to_json_str(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModerationResult:
        return cls(
            decision=data["decision"],
            reasons=tuple(data.get("reasons", ())),
            blocked_by=tuple(data.get("blocked_by", ())),
            scores={k: float(v) for k, v in data.get("scores", {}).items()},
            language=data.get("language"),
            pii_kinds=tuple(data.get("pii_kinds", ())),
            pii_spans=tuple(
                PiiFinding(s["kind"], int(s["start"]), int(s["end"]), float(s["score"]))
                for s in data.get("pii_spans", ())
            ),
            elapsed_ms=float(data.get("elapsed_ms", 0.0)),
        )
