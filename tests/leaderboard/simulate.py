"""Insert simulated voted battles straight into the database (no web, no workers).

Winners follow Bradley-Terry with known strengths, so tests can check the fitted order.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Battle, Generation, ModelEntry, Turn, Visitor, Vote

STRENGTHS = {"alpha-vl": 1200.0, "beta-vl": 1100.0, "gamma-vl": 1000.0, "delta-vl": 900.0}
UNRANKED = ("omega-vl",)  # in the registry with options {ranked: false}
IDENTITY = {"alpha-vl": ["AlphaCorp"], "beta-vl": ["Betatron"]}
DAY = datetime(2026, 11, 20, tzinfo=UTC)


@dataclass
class BattleSpec:
    """One battle; the defaults make a clean anonymous battle that counts."""

    model_a: str
    model_b: str
    winner: str
    visitor: uuid.UUID
    voted_at: datetime
    prompt: str
    answer_a: str = "A **bold** answer.\n\n- one\n- two"
    answer_b: str = "# Plain\nanswer"
    mode: str = "anonymous"
    vote_anonymous: bool = True
    removed: bool = False
    excluded: bool = False
    status_b: str = "done"
    language: str | None = "en"
    categories: list[str] = field(default_factory=list)
    battle_id: uuid.UUID = field(default_factory=uuid.uuid4)
    preset: str | None = None  # started from a preset (e.g. "random-image")
    deleted: bool = False  # deleted by its owner (My battles): a tombstone
    # A refinement battle: a refinement turn (feedback, rated before and after) follows
    # the question, and the vote after it counts on the refinement board only.
    refinement: bool = False


def bt_winner(rng: random.Random, a: str, b: str, strengths: dict[str, float]) -> str:
    if rng.random() < 0.1:
        return rng.choice(["tie", "tie (bothbad)"])
    p_a = 1.0 / (1.0 + 10 ** ((strengths[b] - strengths[a]) / 400.0))
    return "model_a" if rng.random() < p_a else "model_b"


def random_battles(n: int, *, seed: int, visitors: list[uuid.UUID],
                   strengths: dict[str, float] = STRENGTHS, start: datetime = DAY,
                   spacing_s: float = 60.0) -> list[BattleSpec]:
    """``n`` clean battles with distinct prompts, spread over visitors and time."""
    rng = random.Random(seed)
    names = sorted(strengths)
    out = []
    for k in range(n):
        a, b = rng.sample(names, 2)
        out.append(BattleSpec(
            model_a=a, model_b=b, winner=bt_winner(rng, a, b, strengths),
            visitor=visitors[k % len(visitors)], voted_at=start + timedelta(seconds=spacing_s * k),
            prompt=f"What is shown in picture {seed}-{k}?",
            language="en" if k % 3 else "de",
            categories=["ocr"] if k % 2 else ["captioning"],
            answer_a="word " * rng.randint(3, 30), answer_b="**word** " * rng.randint(3, 30),
        ))
    return out


async def add_models(session: AsyncSession, names: list[str], *,
                     unranked: tuple[str, ...] = UNRANKED,
                     identity: dict[str, list[str]] | None = None) -> None:
    """Registry rows as `sync_registry` writes them."""
    identity = IDENTITY if identity is None else identity
    for name in names:
        session.add(ModelEntry(name=name, backend="openai",
                               identity_words=identity.get(name, []),
                               ranked=name not in unranked))
    await session.commit()


async def add_visitors(session: AsyncSession, n: int, *, banned: int = 0) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n)]
    session.add_all(Visitor(id=v, ip_hash="x" * 64, banned=k < banned) for k, v in enumerate(ids))
    await session.commit()
    return ids


REFINEMENT_FEEDBACK = "The count is wrong: look at the left side."
REFINEMENT_RATINGS = {"a": (3, 8), "b": (5, 4)}  # per side: before, after


async def insert_battles(session: AsyncSession, specs: list[BattleSpec]) -> None:
    """Insert battles with their votes. Some specs break the vote rules on purpose (a vote
    on an unfinished battle), as data from before the database enforced them did: the
    cleaning must still drop those. They are written with the triggers off (PostgreSQL's
    replica role, for this transaction only)."""
    if any(s.status_b != "done" for s in specs):
        await session.execute(sql("SET LOCAL session_replication_role = replica"))
    for s in specs:
        battle = Battle(
            id=s.battle_id, visitor_id=s.visitor, mode=s.mode, model_a=s.model_a,
            model_b=s.model_b, ip_hash="x" * 64, created_at=s.voted_at - timedelta(seconds=30),
            removed=s.removed, review_status="removed" if s.removed else "none",
            language=s.language, categories=s.categories,
            is_preset=s.preset is not None, preset=s.preset,
            deleted_at=s.voted_at + timedelta(minutes=5) if s.deleted else None,
            refinement=s.refinement,
        )
        turn = Turn(battle=battle, index=0, prompt=s.prompt, created_at=battle.created_at)
        for side, model, text, status in (("a", s.model_a, s.answer_a, "done"),
                                          ("b", s.model_b, s.answer_b, s.status_b)):
            Generation(turn=turn, side=side, model=model, status=status, text=text,
                       completion_tokens=len(text.split()) if status == "done" else None,
                       rating=REFINEMENT_RATINGS[side][0] if s.refinement else None)
        if s.refinement:
            turn = Turn(battle=battle, index=1, prompt=REFINEMENT_FEEDBACK, kind="refinement",
                        refines_index=0, created_at=battle.created_at)
            for side, model in (("a", s.model_a), ("b", s.model_b)):
                Generation(turn=turn, side=side, model=model, status="done",
                           text=f"Refined by {side}.", completion_tokens=3,
                           rating=REFINEMENT_RATINGS[side][1])
        session.add(battle)
    await session.flush()  # the answers exist before their votes, as in the arena
    session.add_all(
        Vote(battle_id=s.battle_id, visitor_id=s.visitor, winner=s.winner,
             anonymous=s.vote_anonymous, ip_hash="x" * 64, created_at=s.voted_at,
             excluded=s.excluded)
        for s in specs
    )
    await session.commit()


@dataclass
class Scenario:
    """Clean battles plus battles that each break exactly one cleaning rule."""

    specs: list[BattleSpec]
    expected_dropped: dict[str, int]
    clean_ids: set[uuid.UUID]
    removed_ids: set[uuid.UUID]

    @property
    def expected_kept(self) -> int:
        return len(self.specs) - sum(self.expected_dropped.values())


DAILY_CAP = 10
MAX_PER_PROMPT = 5


async def build_scenario(session: AsyncSession, *, n_clean: int = 240, seed: int = 7,
                         start: datetime = DAY) -> Scenario:
    """Insert visitors, and return (not yet inserted) battles with known drop counts under
    ``daily_vote_cap=DAILY_CAP`` and ``max_per_prompt=MAX_PER_PROMPT``."""
    regular = await add_visitors(session, 30)
    banned = (await add_visitors(session, 1, banned=1))[0]
    heavy = (await add_visitors(session, 1))[0]
    dup_voters = await add_visitors(session, 12)
    clean = random_battles(n_clean, seed=seed, visitors=regular, start=start)
    later = start + timedelta(hours=6)
    extra = iter(random_battles(60, seed=seed + 1, visitors=regular, start=later))

    def one(**changes: object) -> BattleSpec:
        spec = next(extra)
        for key, value in changes.items():
            setattr(spec, key, value)
        return spec

    bad: dict[str, list[BattleSpec]] = {
        "anonymous_vote": [one(mode="side_by_side", vote_anonymous=False) for _ in range(3)]
        + [one(vote_anonymous=False) for _ in range(2)],
        "unfinished": [one(status_b="failed") for _ in range(2)]
        + [one(status_b="running") for _ in range(2)],
        "identity_disclosed": [
            one(model_a="alpha-vl", model_b="gamma-vl",
                answer_a="As an assistant made by alphacorp, I see a cat."),
            one(model_a="gamma-vl", model_b="beta-vl", answer_b="I am BETA-VL. A cat."),
            one(model_a="delta-vl", model_b="alpha-vl",
                answer_a="Unlike alpha-vl, I think it is a dog."),
        ],
        "removed": [one(removed=True) for _ in range(6)],
        "banned_visitor": [one(visitor=banned) for _ in range(2)],
        "excluded_vote": [one(excluded=True) for _ in range(7)],
        "deleted": [one(deleted=True) for _ in range(2)],
        "preset": [one(preset="random-image") for _ in range(3)],
        "refinement": [one(refinement=True) for _ in range(2)],
        "excluded_model": [one(model_a="omega-vl", model_b=b)
                           for b in ("alpha-vl", "beta-vl", "delta-vl")],
    }
    heavy_day1 = random_battles(DAILY_CAP + 4, seed=seed + 2, visitors=[heavy],
                                start=start + timedelta(hours=1), spacing_s=30)
    heavy_day2 = random_battles(3, seed=seed + 3, visitors=[heavy],
                                start=start + timedelta(days=1, hours=1), spacing_s=30)
    dups = random_battles(12, seed=seed + 4, visitors=dup_voters,
                          start=start + timedelta(hours=2), spacing_s=45)
    for k, spec in enumerate(dups):
        spec.prompt = "What is this?" if k % 2 else "  what IS   this? "
    specs = [*clean, *(s for group in bad.values() for s in group), *heavy_day1, *heavy_day2,
             *dups]
    expected = {name: len(group) for name, group in bad.items()}
    expected["daily_vote_cap"] = 4
    expected["duplicate_prompt"] = 12 - MAX_PER_PROMPT
    return Scenario(specs, expected, {s.battle_id for s in clean},
                    {s.battle_id for s in bad["removed"]})
