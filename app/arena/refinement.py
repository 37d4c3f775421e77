"""Refinement turns: the visitor's feedback on the answers, instead of a new question.

FIRE measures whether a model improves an answer when told what is wrong with it; real
arena users do it in follow-ups ("the count is wrong", "look at the left side"). Here it
is a turn of its own kind: stored with the feedback as its prompt and the index of the turn
it refines, sent to both models with the whole conversation exactly as a follow-up
question is (the workers build every turn's messages the same way: workers/job_store.py),
and answered as usual. Ratings given with the feedback are the "before" ratings of the
refined answers (app/arena/ratings.py), written in the same transaction as the turn.

When feedback may be given is the follow-up rule (app/arena/rules.py): after every answer
of the latest turn finished, before the vote, within the turn limit. Two submissions at
once make one turn (the battle's version, bumped in one conditional UPDATE).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from app.arena.battles import Limits, add_turn
from app.arena.errors import ArenaError
from app.arena.ratings import store_ratings
from app.arena.rules import follow_up_refusal
from app.db.models import Battle, Turn
from app.queue import JobQueue

FEEDBACK_MAX_CHARS = 2000
FEEDBACK_HINT = "What is wrong or missing in the answers, e.g. “the count is wrong”."


def check_feedback(feedback: object) -> str:
    """The feedback as stored and sent, or a 422 that says what is wrong."""
    if not isinstance(feedback, str):
        raise ArenaError("The feedback must be text.", 422)
    text = feedback.strip()
    if not text:
        raise ArenaError("Please write your feedback on the answers.", 422)
    if len(text) > FEEDBACK_MAX_CHARS:
        raise ArenaError(
            f"The feedback is too long ({len(text):,} characters; "
            f"the limit is {FEEDBACK_MAX_CHARS:,}).",
            422,
        )
    if "\x00" in text:
        raise ArenaError("The feedback contains invalid characters.", 422)
    return text


async def add_refinement(
    session: AsyncSession,
    queue: JobQueue,
    battle: Battle,
    feedback: str,
    limits: Limits,
    *,
    ratings: Mapping[str, int] | None = None,
    moderation: dict | None = None,
    review: bool = False,
) -> Turn:
    """Store the refinement turn (and the "before" ratings of the answers it refines) in
    one transaction and queue both answers. Nothing is written when any part is refused."""
    feedback = check_feedback(feedback)
    refusal = follow_up_refusal(battle, limits.max_turns)
    if refusal:
        raise ArenaError(*refusal)
    refines = len(battle.turns) - 1
    try:
        await store_ratings(session, battle, refines, ratings or {})
        return await add_turn(session, queue, battle, feedback, limits, moderation=moderation,
                              review=review, refines=refines)
    except BaseException:
        await session.rollback()  # a refused turn takes the ratings with it
        raise
