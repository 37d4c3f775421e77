"""The arena's decisive battles as VL-RewardBench items: the human votes a judge is held to.

A battle qualifies when its vote says A or B is better (ties and both-bad say nothing about
which answer is better), it was blind (anonymous battle, vote cast before the reveal), it
has one turn with an image and both answers finished, and nothing set it aside (removed,
waiting for review, deleted by its owner, a banned voter, a vote excluded by an operator).
Every other voted battle is counted by the first reason it fails.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.judges.inputs import ImageInput
from app.leaderboard.load import load_battle_records
from app.leaderboard.records import VotedBattle
from app.rewardbench.items import RewardItem

SOURCE = "vlm-arena"
RANKING = {"model_a": (0, 1), "model_b": (1, 0)}


def skip_reason(b: VotedBattle) -> str | None:
    """Why a voted battle is not a decisive human preference item (None: it is one)."""
    if b.winner not in RANKING:
        return "not decisive (tie or both bad)"
    if b.removed or b.review_status == "review" or b.deleted:
        return "removed, in review or deleted"
    if b.visitor_banned or b.vote_excluded:
        return "banned voter or excluded vote"
    if not b.anonymous or b.model_b is None:
        return "not a blind battle"
    if len(b.turns) != 1:
        return "more than one turn"
    if b.image_sha256 is None:
        return "no image"
    t = b.turns[0]
    if t.status_a != "done" or t.status_b != "done" or not t.answer_a.strip() \
            or not t.answer_b.strip():
        return "an answer did not finish"
    return None


def battle_item(b: VotedBattle) -> RewardItem:
    t = b.turns[0]
    assert b.image_sha256 is not None and b.model_b is not None
    return RewardItem(
        id=f"{SOURCE}-{b.battle_id}", query=t.prompt, image=ImageInput(b.image_sha256),
        responses=(t.answer_a, t.answer_b), human_ranking=RANKING[b.winner],
        models=(b.model_a, b.model_b), source=SOURCE,
        meta={"battle_id": str(b.battle_id), "voted_at": b.voted_at.isoformat(),
              "voter": b.judge, "winner": b.winner})


def decisive_items(battles: Sequence[VotedBattle], since: datetime | None = None,
                   until: datetime | None = None) -> tuple[list[RewardItem], Counter[str]]:
    """The qualifying battles voted in [since, until) as items, and the others by reason."""
    items: list[RewardItem] = []
    skipped: Counter[str] = Counter()
    for b in battles:
        if (since is not None and b.voted_at < since) or (until is not None
                                                          and b.voted_at >= until):
            continue
        reason = skip_reason(b)
        if reason is None:
            items.append(battle_item(b))
        else:
            skipped[reason] += 1
    return items, skipped


async def load_decisive_items(session: AsyncSession, since: datetime | None = None,
                              until: datetime | None = None
                              ) -> tuple[list[RewardItem], Counter[str]]:
    records = await load_battle_records(session, cutoff=until)
    await session.commit()
    return decisive_items(records, since, until)
