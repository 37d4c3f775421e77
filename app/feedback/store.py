"""What the feedback workflow reads and writes in the database: the arena's prompts with
their two answers, a ratings run's items, and the battles that have both a human vote and
AI ratings.

Which prompt a ratings judgment rated for a run, which model wrote each answer and, for an
arena prompt, the battle and its sides' positions are the run's own rows in
``feedback_items`` (app/db/feedback_tables.py), never the judgment's ``meta``: a judgment is
reused by key across runs and battles and keeps the meta of the run that made it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.dialect import insert_for
from app.db.feedback_tables import FeedbackItem as FeedbackLink
from app.db.judge_tables import Judgment
from app.db.models import Battle, Turn
from app.feedback.agreement import AgreementItem
from app.feedback.pairs import FeedbackItem, skip_reason
from app.feedback.prompts import FeedbackPrompt
from app.judges.results import AspectRating, Ratings
from app.judges.verdicts import answer_scores
from app.leaderboard.load import load_battle_records

RATINGS_TASK = "vlfeedback-ratings"
IMAGE_KEY = "$image_sha256"
ID_CHUNK = 5000  # battle ids per query


async def arena_prompts(session: AsyncSession, *, limit: int,
                        before: datetime | None = None) -> list[FeedbackPrompt]:
    """Single-turn two-model battles with an image whose both answers finished, oldest
    first, with those answers as the prompt's fixed answers. Removed and deleted battles
    are not used."""
    query = (
        select(Battle).where(Battle.model_b.is_not(None), Battle.image_sha256.is_not(None),
                             Battle.removed.is_(False), Battle.review_status != "removed",
                             Battle.deleted_at.is_(None))
        .options(selectinload(Battle.turns).selectinload(Turn.generations))
        .order_by(Battle.created_at, Battle.id)
    )
    if before is not None:
        query = query.where(Battle.created_at < before)
    out: list[FeedbackPrompt] = []
    for battle in (await session.scalars(query.limit(limit * 4 + 100))).all():
        if len(battle.turns) != 1:
            continue
        sides = {g.side: g for g in battle.turns[0].generations}
        a, b = sides.get("a"), sides.get("b")
        if a is None or b is None or a.status != "done" or b.status != "done":
            continue
        out.append(FeedbackPrompt(
            id=f"battle:{battle.id}", prompt=battle.turns[0].prompt,
            image_sha256=str(battle.image_sha256), battle_id=str(battle.id),
            fixed=((battle.model_a, a.text), (str(battle.model_b), b.text))))
        if len(out) == limit:
            break
    await session.commit()
    return out


def ratings_of(parsed: Mapping[str, Any] | None) -> Ratings | None:
    """A stored ``Ratings`` parse result back as the judge layer's type."""
    if not parsed or parsed.get("type") != "Ratings":
        return None
    return Ratings(tuple({aspect: AspectRating(int(v["rating"]), str(v["rationale"]))
                          for aspect, v in answer.items()} for answer in parsed["answers"]))


def item_of(row: Judgment, link: FeedbackLink) -> FeedbackItem:
    """A ratings judgment, as the run's link row says, as a feedback item (with the failure
    reason when it has no ratings)."""
    inputs = row.inputs or {}
    ratings = ratings_of(row.parsed) if row.status == "done" and not row.parse_error else None
    failure = None
    if ratings is None:
        failure = (row.parse_error or row.error or
                   ("not finished" if row.status != "done" else "no parsed result"))
    image = inputs.get("image") or {}
    return FeedbackItem(
        id=link.prompt_id, prompt=str(inputs.get("question", "")),
        image_sha256=str(image.get(IMAGE_KEY, "")), models=tuple(link.models),
        answers=tuple(inputs.get("answers", ())), judge=row.judge_model, ratings=ratings,
        failure=failure, battle_id=str(link.battle_id) if link.battle_id else None)


async def save_links(session: AsyncSession, run_id: uuid.UUID,
                     links: list[tuple[uuid.UUID, dict[str, Any]]]) -> None:
    """The run's (prompt -> judgment) rows; a prompt already linked keeps its row."""
    now = datetime.now(UTC)
    rows = [{"run_id": run_id, "judgment_id": jid, "battle_id": None, "side_a": None,
             "side_b": None, "position": n, "created_at": now, **link}
            for n, (jid, link) in enumerate(links)]
    for start in range(0, len(rows), 500):
        await session.execute(insert_for(session)(FeedbackLink).values(rows[start:start + 500])
                              .on_conflict_do_nothing(index_elements=["run_id", "prompt_id"]))
    await session.commit()


async def run_items(session: AsyncSession, run_id: uuid.UUID) -> list[FeedbackItem]:
    """The items of a ratings run, in the order of the prompts it was given."""
    rows = (await session.execute(
        select(Judgment, FeedbackLink).join(FeedbackLink,
                                            FeedbackLink.judgment_id == Judgment.id)
        .where(FeedbackLink.run_id == run_id)
        .order_by(FeedbackLink.position, FeedbackLink.prompt_id))).all()
    await session.commit()
    return [item_of(j, link) for j, link in rows]


async def agreement_items(session: AsyncSession, *, judge: str | None = None
                          ) -> tuple[list[AgreementItem], dict[str, int]]:
    """Battles with a decisive human vote (the human-pair rules) and a judge's parsed
    ratings of both of its answers: one item per (battle, judge), the latest ratings.
    Also the rated battles left out, by reason."""
    query = (select(Judgment.judge_model, Judgment.parsed, FeedbackLink.battle_id,
                    FeedbackLink.side_a, FeedbackLink.side_b)
             .join(FeedbackLink, FeedbackLink.judgment_id == Judgment.id)
             .where(FeedbackLink.battle_id.is_not(None), FeedbackLink.side_a.is_not(None),
                    FeedbackLink.side_b.is_not(None), Judgment.task == RATINGS_TASK,
                    Judgment.status == "done", Judgment.parse_error.is_(None))
             .order_by(Judgment.finished_at, FeedbackLink.created_at))
    if judge is not None:
        query = query.where(Judgment.judge_model == judge)
    latest: dict[tuple[str, str], tuple[Ratings, int, int]] = {}
    for judge_model, parsed, battle_id, side_a, side_b in (await session.execute(query)).all():
        ratings = ratings_of(parsed)
        if ratings is not None:
            latest[(str(battle_id), judge_model)] = (ratings, int(side_a), int(side_b))
    skipped: dict[str, int] = {}
    if not latest:
        await session.commit()
        return [], skipped
    ids = sorted({uuid.UUID(b) for b, _ in latest})
    battles = {}
    for start in range(0, len(ids), ID_CHUNK):
        battles.update({str(b.battle_id): b for b in await load_battle_records(
            session, battle_ids=ids[start:start + ID_CHUNK])})
    await session.commit()
    items = []
    for (battle_id, judge_model), (ratings, side_a, side_b) in latest.items():
        battle = battles.get(battle_id)
        reason = "no-vote" if battle is None else skip_reason(battle)
        if battle is None or reason is not None:
            skipped[reason or "no-vote"] = skipped.get(reason or "no-vote", 0) + 1
            continue
        scores = answer_scores(ratings)
        items.append(AgreementItem(
            battle_id=battle_id, judge=judge_model, model_a=battle.model_a,
            model_b=str(battle.model_b), human=battle.winner,  # type: ignore[arg-type]
            score_a=float(scores[side_a]), score_b=float(scores[side_b]),
            voted_at=battle.voted_at.astimezone(UTC)))
    return items, skipped
