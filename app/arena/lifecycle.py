"""Model lifecycle: testing → provisional → listed, and retired; one place owns the rules.

- **testing**: fewer than ``list_votes`` counted votes. Fitted with everyone else (its
  battles inform the others' ratings) but absent from the public board; shown in admin.
  Drawn ``new_model_boost`` times as often, so it reaches the threshold sooner.
- **provisional**: listed, with fewer than ``list_votes + provisional_votes`` votes; the
  public board marks its score provisional.
- **listed**: enough votes for a settled score.
- **retired**: set by an operator. Stays on the board, marked; never drawn for a battle.

Votes are the counted (cleaned, anonymous) votes of the latest leaderboard run
(``models.ranked_votes``), so the vote path never counts anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

State = Literal["testing", "provisional", "listed", "retired"]
STATES: tuple[State, ...] = ("testing", "provisional", "listed", "retired")
PUBLIC_STATES: frozenset[str] = frozenset({"provisional", "listed", "retired"})
STATE_LABELS = {"testing": "Testing", "provisional": "Provisional", "listed": "Listed",
                "retired": "Retired"}


@dataclass(frozen=True)
class LifecycleRules:
    list_votes: int = 1000
    provisional_votes: int = 1000
    new_model_boost: float = 3.0

    def __post_init__(self) -> None:
        if self.list_votes < 0 or self.provisional_votes < 0:
            raise ValueError("lifecycle vote thresholds must be >= 0")
        if not 1.0 <= self.new_model_boost <= 100.0:
            raise ValueError("the new-model boost must be between 1 and 100")

    def state(self, votes: int, *, retired: bool) -> State:
        if retired:
            return "retired"
        if votes < self.list_votes:
            return "testing"
        if votes < self.list_votes + self.provisional_votes:
            return "provisional"
        return "listed"

    def sampling_weight(self, weight: float, votes: int, *, retired: bool) -> float:
        """The weight a model is drawn with: 0 when retired, boosted while testing."""
        state = self.state(votes, retired=retired)
        if state == "retired":
            return 0.0
        return weight * self.new_model_boost if state == "testing" else weight

    def describe(self) -> dict[str, Any]:
        return {"list_votes": self.list_votes, "provisional_votes": self.provisional_votes,
                "new_model_boost": self.new_model_boost}


def rules_from_settings(settings: Any) -> LifecycleRules:
    """The configured rules; unset thresholds are 1000/1000 in production and 1/20 in the
    demo and development (their arenas have a handful of votes)."""
    production = getattr(settings, "env", "development") == "production"
    list_votes = settings.lifecycle_list_votes
    provisional = settings.lifecycle_provisional_votes
    return LifecycleRules(
        list_votes=(1000 if production else 1) if list_votes is None else list_votes,
        provisional_votes=(1000 if production else 20) if provisional is None else provisional,
        new_model_boost=settings.lifecycle_new_model_boost,
    )


def draw_weight(model: Any, rules: LifecycleRules | None = None) -> float:
    """Sampling weight of a registry row (``weight``, ``ranked_votes``, ``retired_at``).

    Without ``rules`` (a re-draw in a worker, which has no lifecycle settings) only the
    never-draw-a-retired-model rule applies. A model kept off the boards (``ranked:
    false``) never collects counted votes, so it gets no new-model boost either.
    """
    retired = model.retired_at is not None
    if rules is None or not getattr(model, "ranked", True):
        return 0.0 if retired else float(model.weight)
    return rules.sampling_weight(model.weight, model.ranked_votes or 0, retired=retired)
