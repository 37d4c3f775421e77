"""What a visitor may see of a battle. The one place that decides when names are shown.

Before the vote of an anonymous battle, sides are only "a" and "b": no model name, no
per-model timing, no raw error text (an error message could name its model).
"""

from __future__ import annotations

from typing import Any

from app.arena.rules import can_give_reasons, can_vote, rating_refusal
from app.db.models import Battle, Generation, Vote

PUBLIC_FAILURE = "This answer could not be generated. You can start a new battle."


def names_visible(battle: Battle) -> bool:
    return battle.mode != "anonymous" or battle.vote is not None


def tokens_per_s(gen: Generation) -> float | None:
    """Decoding speed after the first token (the time to first token is shown apart);
    over the whole latency when no first-token time was recorded."""
    return decode_speed(gen.completion_tokens, gen.latency_ms, gen.ttft_ms)


def decode_speed(tokens: int | None, total_ms: float | None,
                 ttft_ms: float | None) -> float | None:
    """``tokens_per_s`` of these stored numbers (the leaderboard's latency column reads
    millions of them as plain columns)."""
    if not tokens or not total_ms:
        return None
    if ttft_ms is not None and tokens > 1 and total_ms > ttft_ms:
        return round((tokens - 1) / ((total_ms - ttft_ms) / 1000), 1)
    return round(tokens / (total_ms / 1000), 1)


def vote_view(vote: Vote) -> dict[str, Any]:
    reasons = None
    if vote.reasons_at is not None:
        tags = vote.reason_tags or {}
        reasons = {"a": list(tags.get("a", [])), "b": list(tags.get("b", [])),
                   "comment": vote.reason_comment}
    return {"winner": vote.winner, "reasons": reasons}


def generation_view(gen: Generation, reveal: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "status": gen.status,
        "text": gen.text if gen.status == "done" else "",
        "finish_reason": gen.finish_reason if gen.status == "done" else None,
        "error": PUBLIC_FAILURE if gen.status == "failed" else None,
        "rating": gen.rating,
    }
    if reveal:
        view |= {
            "model": gen.model,
            "completion_tokens": gen.completion_tokens,
            "ttft_ms": gen.ttft_ms,
            "latency_ms": gen.latency_ms,
            "tokens_per_s": tokens_per_s(gen) if gen.status == "done" else None,
        }
    return view


def battle_view(battle: Battle) -> dict[str, Any]:
    """The battle as the API and the pages show it. ``names`` ("hidden" | "revealed") says
    which response model it validates into (app/web/schemas.py: `BattlePublic`, which has
    no field for a name, or `RevealedBattle`)."""
    reveal = names_visible(battle)
    turns = []
    for turn in battle.turns:
        sides = {g.side: generation_view(g, reveal) for g in turn.generations}
        turns.append({"index": turn.index, "prompt": turn.prompt, "kind": turn.kind,
                      "refines": turn.refines_index, **sides})
    last = battle.turns[-1].generations if battle.turns else []
    finished = bool(last) and all(g.status == "done" for g in last)
    failed = any(g.status == "failed" for g in last)
    view: dict[str, Any] = {
        "id": str(battle.id),
        "names": "revealed" if reveal else "hidden",
        "mode": battle.mode,
        "image": battle.image_sha256,
        "turns": turns,
        "finished": finished,
        "failed": failed,
        "can_vote": can_vote(battle),
        "can_give_reasons": can_give_reasons(battle),
        "preset": battle.preset if battle.is_preset else None,
        "refinement": battle.refinement,
        # The answers of the latest turn can be rated now (app/arena/ratings.py).
        "can_rate": bool(last) and rating_refusal(battle, len(battle.turns) - 1) is None
        and any(g.rating is None for g in last),
        "vote": None,
        "models": None,
    }
    if reveal:
        view["models"] = {"a": battle.model_a, "b": battle.model_b}
    if battle.vote is not None:
        view["vote"] = vote_view(battle.vote)
    return view
