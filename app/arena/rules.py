"""Who may vote and ask, and when: the one owner of the battle rules.

The pages, the API, the SSE relay and the state transitions all ask here. The database
enforces the same vote rules with a trigger (migration 0007), so that no code path can
break them; this module is what gives the visitor a readable reason first.
"""

from __future__ import annotations

from app.db.models import Battle

REFINEMENT_TURN = "refinement"  # Turn.kind of feedback on the answers before it
# A refinement battle asks "which model used your feedback better?": the vote waits for a
# finished refinement turn (also the vote trigger's rule, migration 0014).
REFINEMENT_VOTE_FIRST = (
    "In a refinement battle you vote after the models refined their answers: "
    "write feedback on the answers first."
)


def refinement_mode_refusal(mode: str, refinement: bool) -> str | None:
    """Why a battle of `mode` can not be a refinement battle, or None. Only an anonymous
    one: the vote after the feedback is a blind comparison (also a CHECK, migration 0014)."""
    if refinement and mode != "anonymous":
        return "A refinement battle is an anonymous battle."
    return None


def latest_turn_state(battle: Battle) -> tuple[bool, bool]:
    """(every answer of the latest turn is done, any of them failed)."""
    gens = battle.turns[-1].generations if battle.turns else []
    return bool(gens) and all(g.status == "done" for g in gens), any(
        g.status == "failed" for g in gens
    )


def vote_refusal(battle: Battle) -> str | None:
    """Why this battle can not be voted on now, or None when it can."""
    if battle.mode == "direct":
        return "A direct chat has nothing to vote on."
    if battle.vote is not None:
        return "This battle already has a vote."
    done, failed = latest_turn_state(battle)
    if failed:
        return "An answer failed, so this battle can not be voted on."
    if not done:
        return "Please wait until both answers have finished before voting."
    if battle.refinement and battle.turns[-1].kind != REFINEMENT_TURN:
        return REFINEMENT_VOTE_FIRST
    return None


def can_vote(battle: Battle) -> bool:
    return vote_refusal(battle) is None


def reasons_refusal(battle: Battle) -> tuple[str, int] | None:
    """Why reasons can not be added now (message, HTTP status), or None. Reasons belong to
    a vote: only after it, once, and only by its voter (whoever may see the battle owns
    it, and only the owner could vote)."""
    if battle.vote is None:
        return "Vote first: reasons go with a vote.", 409
    if battle.vote.reasons_at is not None:
        return "The reasons for this vote were already given.", 409
    return None


def can_give_reasons(battle: Battle) -> bool:
    return reasons_refusal(battle) is None


def rating_refusal(battle: Battle, turn_index: int) -> tuple[str, int] | None:
    """Why the answers of turn `turn_index` can not be rated 1-10 now, or None. A rating is
    of the answers in front of the visitor: those of the latest turn, once they finished,
    before the next turn (so a "before" rating is never given after seeing the refined
    answers) and before the vote reveals the names. Once per answer (app/arena/ratings.py
    makes that hold under races)."""
    if battle.vote is not None:
        return "Ratings are given before the vote.", 409
    if not 0 <= turn_index < len(battle.turns):
        return "No such turn.", 404
    if turn_index != len(battle.turns) - 1:
        return "Only the answers of the latest turn can be rated.", 409
    return _answers_refusal(battle, "An answer failed; these answers can not be rated.")


def follow_up_refusal(battle: Battle, max_turns: int) -> tuple[str, int] | None:
    """Why no follow-up question may be asked now (message, HTTP status), or None."""
    if battle.vote is not None:
        return "This battle is over. Start a new battle to ask more.", 409
    if len(battle.turns) >= max_turns:
        return f"This conversation reached its limit of {max_turns} questions.", 422
    return _answers_refusal(battle, "An answer failed; this conversation can not continue.")


def _answers_refusal(battle: Battle, if_failed: str) -> tuple[str, int] | None:
    """Why the latest turn's answers are not ready to build on: one failed (`if_failed`)
    or some are still being written."""
    done, failed = latest_turn_state(battle)
    if failed:
        return if_failed, 409
    if not done:
        return "Please wait until both answers have finished.", 409
    return None


# A failed side on the first turn is re-drawn at most this many times per battle; after
# that (or when no other live model is left) the side fails as before.
MAX_REDRAWS = 2


def redraw_refusal(*, mode: str, turn_index: int, voted: bool, redraws: int) -> str | None:
    """Why a side whose generation just failed (no answer) may not be re-drawn, or None
    when another model takes that side. Only anonymous battles (the visitor chose the
    models of the others), only on the first turn (later the conversation belongs to the
    two models), never after a vote, and at most MAX_REDRAWS times."""
    if mode != "anonymous":
        return "the models were chosen by name"
    if turn_index != 0:
        return "only a first-turn failure is re-drawn"
    if voted:
        return "the battle has a vote"
    if redraws >= MAX_REDRAWS:
        return f"already re-drawn {redraws} times"
    return None


def redraw_excluded(model_a: str, model_b: str | None, redraws: list[dict] | None) -> set[str]:
    """Models a re-draw may not pick: both sides' current models (the failed one and the
    other side's) and every model this battle already replaced."""
    return {model_a, *([model_b] if model_b else []),
            *(str(r.get("model")) for r in redraws or ())}
