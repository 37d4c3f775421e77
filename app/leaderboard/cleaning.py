"""Cleaning before ranking: the ranking engine's rules (``app.ranking.RULES``) plus two
the engine cannot know about, run right after ``banned_visitor``: ``excluded_vote`` (an
operator excluded the vote after the vote-integrity report), ``deleted`` (the battle's
owner deleted it: out unless ``include_deleted``, the operator's
``ARENA_LEADERBOARD_INCLUDE_DELETED``) and ``preset`` (the battle
was started from a preset: not the visitor's own image and question, so, as in
VisionArena, it does not count unless ``include_presets``). Presets dropped there passed
every hygiene rule before them: they are released (marked) though not ranked.

Each rule sees only what the previous ones kept, so the per-rule counts add up to
``total - kept``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.leaderboard.records import ModelInfo, VotedBattle
from app.ranking import RULES as ENGINE_RULES
from app.ranking import BattleRecord, StyleCounts, count_style
from app.ranking import CleaningConfig as EngineCleaningConfig

DESCRIPTIONS: dict[str, str] = {
    "anonymous_vote": "only battles voted on while both models were anonymous",
    "unfinished": "a side failed or did not finish",
    "identity_disclosed": "an answer or user turn names either model (name or identity "
                          "word)",
    "removed": "battle removed by a moderator",
    "banned_visitor": "the voter is banned",
    "excluded_vote": "vote excluded by an operator (vote-integrity report)",
    "deleted": "deleted by its owner (My battles), not counted unless include_deleted",
    "preset": "started from a preset (an image and question the arena drew), not counted "
              "unless include_presets",
    "excluded_model": "a model is disabled for ranking (options.ranked: false) or unknown",
    "daily_vote_cap": "votes beyond the per-visitor daily cap (UTC day, earliest kept)",
    "duplicate_prompt": "high-frequency duplicate prompt (same image and text), "
                        "down-sampled at random (seeded)",
}


@dataclass(frozen=True)
class CleaningParams:
    daily_vote_cap: int | None = 50
    max_per_prompt: int | None = 20  # battles kept per (image, normalised prompts)
    seed: int = 0
    include_presets: bool = False  # rank battles started from a preset too
    include_deleted: bool = False  # rank battles their owner deleted too


def prompt_hash(battle: VotedBattle) -> str:
    """Same image and the same user turns (case and spacing folded) → same hash."""
    text = "\x1f".join(" ".join(t.prompt.casefold().split()) for t in battle.turns)
    return hashlib.sha256(f"{battle.image_sha256 or '-'}\x1e{text}".encode()).hexdigest()


def _style(battle: VotedBattle, side: str) -> StyleCounts:
    """The engine's style counts summed over turns (tokens as the engine reported them)."""
    total = [0, 0, 0, 0]
    for t in battle.turns:
        text, tokens = (t.answer_a, t.tokens_a) if side == "a" else (t.answer_b, t.tokens_b)
        for k, v in enumerate(count_style(text, tokens).as_tuple()):
            total[k] += v
    return StyleCounts(*total)


def engine_record(battle: VotedBattle, models: Mapping[str, ModelInfo]) -> BattleRecord:
    """The ranking engine's typed input for one voted battle."""

    def excluded(name: str | None) -> bool:
        info = models.get(name or "")
        return info is None or not info.ranked

    return BattleRecord(
        battle_id=str(battle.battle_id),
        model_a=battle.model_a,
        model_b=battle.model_b or "",
        winner=battle.winner,  # type: ignore[arg-type]
        anonymous=battle.anonymous,
        tstamp=battle.voted_at.timestamp(),
        visitor_id=str(battle.visitor_id),
        ip_hash=battle.ip_hash,
        answers_a=tuple(t.answer_a for t in battle.turns),
        answers_b=tuple(t.answer_b for t in battle.turns),
        user_turns=tuple(t.prompt for t in battle.turns),
        status_a=battle.finish_status("a"),  # type: ignore[arg-type]
        status_b=battle.finish_status("b"),  # type: ignore[arg-type]
        removed=battle.removed,
        visitor_banned=battle.visitor_banned,
        model_a_excluded=excluded(battle.model_a),
        model_b_excluded=excluded(battle.model_b),
        prompt_hash=prompt_hash(battle),
        language=battle.language or "unknown",
        categories=frozenset(battle.categories),
        turns=len(battle.turns),
        style_a=_style(battle, "a"),
        style_b=_style(battle, "b"),
    )


@dataclass(frozen=True)
class Cleaned:
    """The battles that count (input order) as our records and the engine's, plus the
    report."""

    battles: list[VotedBattle]
    records: list[BattleRecord]
    report: dict[str, Any]
    presets: list[VotedBattle] = field(default_factory=list)  # dropped only as presets


def clean(battles: Sequence[VotedBattle], models: Mapping[str, ModelInfo],
          params: CleaningParams = CleaningParams()) -> Cleaned:
    excluded_ids = {str(b.battle_id) for b in battles if b.vote_excluded}
    deleted_ids = set() if params.include_deleted else {
        str(b.battle_id) for b in battles if b.deleted}
    preset_ids = set() if params.include_presets else {
        str(b.battle_id) for b in battles if b.is_preset}

    def drop_excluded_votes(records: Sequence[BattleRecord],
                            _: EngineCleaningConfig) -> list[BattleRecord]:
        return [r for r in records if r.battle_id not in excluded_ids]

    def drop_deleted(records: Sequence[BattleRecord],
                     _: EngineCleaningConfig) -> list[BattleRecord]:
        return [r for r in records if r.battle_id not in deleted_ids]

    def drop_presets(records: Sequence[BattleRecord],
                     _: EngineCleaningConfig) -> list[BattleRecord]:
        return [r for r in records if r.battle_id not in preset_ids]

    names = [name for name, _ in ENGINE_RULES]
    at = names.index("banned_visitor") + 1 if "banned_visitor" in names else len(names)
    rules = [*ENGINE_RULES[:at], ("excluded_vote", drop_excluded_votes),
             ("deleted", drop_deleted), ("preset", drop_presets), *ENGINE_RULES[at:]]
    config = EngineCleaningConfig(
        identity_names={name: info.identity_words for name, info in models.items()},
        daily_vote_cap=params.daily_vote_cap,
        max_per_prompt=params.max_per_prompt,
        seed=params.seed,
    )
    current = [engine_record(b, models) for b in battles]
    steps = []
    presets: set[str] = set()
    for name, rule in rules:
        after = rule(current, config)
        if name == "preset":
            presets = {r.battle_id for r in current} - {r.battle_id for r in after}
        steps.append({"rule": name, "description": DESCRIPTIONS.get(name, name),
                      "dropped": len(current) - len(after), "remaining": len(after)})
        current = after
    by_id = {str(b.battle_id): b for b in battles}
    report = {
        "total": len(battles),
        "kept": len(current),
        "rules": steps,
        "params": {"daily_vote_cap": params.daily_vote_cap,
                   "max_per_prompt": params.max_per_prompt, "seed": params.seed,
                   "include_presets": params.include_presets,
                   "include_deleted": params.include_deleted},
    }
    return Cleaned([by_id[r.battle_id] for r in current], current, report,
                   [b for b in battles if str(b.battle_id) in presets])
