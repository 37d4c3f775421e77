"""Who may vote and ask, and when: the one owner of the battle rules.

The pages, the API, the SSE relay and the state transitions all ask here. The database
enforces the same vote rules with a trigger (migration 0007), so that no code path can
break them; this module is what gives the visitor a readable reason first.
"""

from __future__ import annotations

from app.db.models import Battle


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
    return None


def can_vote(battle: Battle) -> bool:
    return vote_refusal(battle) is None


def follow_up_refusal(battle: Battle, max_turns: int) -> tuple[str, int] | None:
    """Why no follow-up question may be asked now (message, HTTP status), or None."""
    if battle.vote is not None:
        return "This battle is over. Start a new battle to ask more.", 409
    if len(battle.turns) >= max_turns:
        return f"This conversation reached its limit of {max_turns} questions.", 422
    done, failed = latest_turn_state(battle)
    if failed:
        return "An answer failed; this conversation can not continue.", 409
    if not done:
        return "Please wait until both answers have finished.", 409
    return None
