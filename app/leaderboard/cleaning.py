"""Cleaning before ranking: the ranking engine's rules (``app.ranking.RULES``) plus two
the engine cannot know about, run right after ``banned_visitor``: ``excluded_vote`` (an
operator excluded the vote after the vote-integrity report), ``deleted`` (the battle's
owner deleted it: out unless ``include_deleted``, the operator's
``ARENA_LEADERBOARD_INCLUDE_DELETED``) and ``preset`` (the battle
was started from a preset: not the visitor's own image and question, so, as in
VisionArena, it does not count unless ``include_presets``). Presets dropped there passed
every hygiene rule before them: they are released (marked) though not ranked.

The last rule, ``refinement``, drops the votes of refinement battles unless
``include_refinement`` (the operator's ``ARENA_LEADERBOARD_INCLUDE_REFINEMENT``): they
passed every other rule and count on the refinement board
(``Cleaned.refinement_records``), not on the others.

Each rule sees only what the previous ones kept, so the per-rule counts add up to
``total - kept``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from app.leaderboard.records import ModelInfo, RankingFacts, VotedBattle
from app.ranking import RULES as ENGINE_RULES
from app.ranking import STYLE_FEATURES, BattleRecord, StyleCounts, count_style
from app.ranking import CleaningConfig as EngineCleaningConfig
from app.ranking.cleaning import discloses_identity

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
    "refinement": "a refinement battle's vote: counted on the refinement board only, "
                  "unless include_refinement",
}


@dataclass(frozen=True)
class CleaningParams:
    daily_vote_cap: int | None = 50
    max_per_prompt: int | None = 20  # battles kept per (image, normalised prompts)
    seed: int = 0
    include_presets: bool = False  # rank battles started from a preset too
    include_deleted: bool = False  # rank battles their owner deleted too
    include_refinement: bool = False  # count refinement battles on every board too


def prompt_hash(battle: VotedBattle) -> str:
    """Same image and the same user turns (case and spacing folded) → same hash."""
    text = "\x1f".join(" ".join(t.prompt.casefold().split()) for t in battle.turns)
    return hashlib.sha256(f"{battle.image_sha256 or '-'}\x1e{text}".encode()).hexdigest()


def _style(battle: VotedBattle, side: str) -> StyleCounts:
    """The engine's style counts summed over turns (tokens as the engine reported them)."""
    total = [0] * len(STYLE_FEATURES)
    for t in battle.turns:
        text, tokens, known = ((t.answer_a, t.tokens_a, t.style_a) if side == "a"
                               else (t.answer_b, t.tokens_b, t.style_b))
        counts = known if known is not None else count_style(text, tokens)  # stored: read
        for k, v in enumerate(counts.as_tuple()):
            total[k] += v
    return StyleCounts(*total)


@lru_cache(maxsize=4096)
def _category_set(categories: tuple[str, ...]) -> frozenset[str]:
    """One frozenset per set of categories, shared by every record that has it."""
    return frozenset(categories)


@lru_cache(maxsize=1 << 16)
def _visitor_key(visitor_id: uuid.UUID) -> str:
    """One string per visitor, shared by the visitor's records (a million records hold
    a few thousand visitors)."""
    return str(visitor_id)


def identity_names(models: Mapping[str, ModelInfo]) -> dict[str, tuple[str, ...]]:
    """The engine's ``CleaningConfig.identity_names`` of these models."""
    return {name: info.identity_words for name, info in models.items()}


def pair_identity_words(names: Mapping[str, Sequence[str]], model_a: str,
                        model_b: str) -> tuple[str, ...]:
    """The words ``discloses_identity`` looks for in a battle of these two models."""
    return tuple(w.lower() for model in (model_a, model_b) for w in names.get(model, ()) if w)


def identity_words(names: Mapping[str, Sequence[str]], record: BattleRecord) -> tuple[str, ...]:
    """The words ``discloses_identity`` looks for in one battle (its two models')."""
    return pair_identity_words(names, record.model_a, record.model_b)


def ranking_facts(battle: VotedBattle, models: Mapping[str, ModelInfo],
                  names: Mapping[str, Sequence[str]] | None = None, *,
                  disclosed: bool = False, words: tuple[str, ...] | None = None,
                  ) -> RankingFacts:
    """What cleaning and ranking need of a battle's texts, computed from its full turns by
    the functions a full battle goes through (``engine_record``'s, and the engine's
    ``discloses_identity``), so a battle reduced to its facts is cleaned and ranked exactly
    as the full one. ``names``: ``identity_names(models)``, and ``words``: the battle's
    ``pair_identity_words`` (one tuple shared by every battle of the pair), when the caller
    has them. ``disclosed``: an answer whose text the turns leave out ("") is known, from
    its stored mentions, to name a model."""
    names = identity_names(models) if names is None else names
    model_b = battle.model_b or ""
    if words is None:
        words = pair_identity_words(names, battle.model_a, model_b)
    if not disclosed and words:  # the engine's rule, on the texts the turns hold
        disclosed = discloses_identity(BattleRecord(
            battle_id="", model_a=battle.model_a, model_b=model_b, winner=None,
            anonymous=False, tstamp=0.0, visitor_id="", ip_hash="",
            answers_a=tuple(t.answer_a for t in battle.turns),
            answers_b=tuple(t.answer_b for t in battle.turns),
            user_turns=tuple(t.prompt for t in battle.turns)), names)
    return RankingFacts(
        prompt_hash=prompt_hash(battle), status_a=battle.finish_status("a"),
        status_b=battle.finish_status("b"), turns=len(battle.turns), identity_words=words,
        disclosed=disclosed, style_a=_style(battle, "a"), style_b=_style(battle, "b"))


def engine_record(battle: VotedBattle, models: Mapping[str, ModelInfo]) -> BattleRecord:
    """The ranking engine's typed input for one voted battle; from its facts (no texts)
    when it was read for ranking only."""

    def excluded(name: str | None) -> bool:
        info = models.get(name or "")
        return info is None or not info.ranked

    facts = battle.facts
    if facts is not None and not battle.turns:
        return BattleRecord(
            battle_id=str(battle.battle_id), model_a=battle.model_a,
            model_b=battle.model_b or "", winner=battle.winner,  # type: ignore[arg-type]
            anonymous=battle.anonymous, tstamp=battle.voted_at.timestamp(),
            visitor_id=_visitor_key(battle.visitor_id), ip_hash=battle.ip_hash,
            status_a=facts.status_a, status_b=facts.status_b,  # type: ignore[arg-type]
            removed=battle.removed, visitor_banned=battle.visitor_banned,
            model_a_excluded=excluded(battle.model_a),
            model_b_excluded=excluded(battle.model_b),
            prompt_hash=facts.prompt_hash, language=battle.language or "unknown",
            categories=_category_set(battle.categories), turns=facts.turns,
            style_a=facts.style_a, style_b=facts.style_b,
        )
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
    # Refinement battles that passed every other rule and are not in `battles` (they
    # count on the refinement board only, and are released): ours and the engine's.
    refinement: list[VotedBattle] = field(default_factory=list)
    refinement_records: list[BattleRecord] = field(default_factory=list)


def clean(battles: Sequence[VotedBattle], models: Mapping[str, ModelInfo],
          params: CleaningParams = CleaningParams()) -> Cleaned:
    excluded_ids = {str(b.battle_id) for b in battles if b.vote_excluded}
    deleted_ids = set() if params.include_deleted else {
        str(b.battle_id) for b in battles if b.deleted}
    preset_ids = set() if params.include_presets else {
        str(b.battle_id) for b in battles if b.is_preset}
    refinement_ids = set() if params.include_refinement else {
        str(b.battle_id) for b in battles if b.refinement}

    def drop_excluded_votes(records: Sequence[BattleRecord],
                            _: EngineCleaningConfig) -> list[BattleRecord]:
        return [r for r in records if r.battle_id not in excluded_ids]

    def drop_deleted(records: Sequence[BattleRecord],
                     _: EngineCleaningConfig) -> list[BattleRecord]:
        return [r for r in records if r.battle_id not in deleted_ids]

    def drop_presets(records: Sequence[BattleRecord],
                     _: EngineCleaningConfig) -> list[BattleRecord]:
        return [r for r in records if r.battle_id not in preset_ids]

    facts = {str(b.battle_id): b.facts for b in battles
             if b.facts is not None and not b.turns}

    def drop_identity_disclosed(records: Sequence[BattleRecord],
                                config: EngineCleaningConfig) -> list[BattleRecord]:
        """The engine's rule; a battle read for ranking only answers from its facts."""
        names = config.identity_names
        kept = []
        for r in records:
            known = facts.get(r.battle_id)
            if known is None:
                disclosed = discloses_identity(r, names)
            elif known.identity_words != identity_words(names, r):
                raise ValueError(f"battle {r.battle_id} was read for ranking with other "
                                 "identity words than these models'")
            else:
                disclosed = known.disclosed
            if not disclosed:
                kept.append(r)
        return kept

    def drop_refinement(records: Sequence[BattleRecord],
                        _: EngineCleaningConfig) -> list[BattleRecord]:
        return [r for r in records if r.battle_id not in refinement_ids]

    names = [name for name, _ in ENGINE_RULES]
    at = names.index("banned_visitor") + 1 if "banned_visitor" in names else len(names)
    rules = [*ENGINE_RULES[:at], ("excluded_vote", drop_excluded_votes),
             ("deleted", drop_deleted), ("preset", drop_presets), *ENGINE_RULES[at:],
             ("refinement", drop_refinement)]
    rules = [(name, drop_identity_disclosed if name == "identity_disclosed" else rule)
             for name, rule in rules]
    config = EngineCleaningConfig(
        identity_names=identity_names(models),
        daily_vote_cap=params.daily_vote_cap,
        max_per_prompt=params.max_per_prompt,
        seed=params.seed,
    )
    current = [engine_record(b, models) for b in battles]
    steps = []
    presets: set[str] = set()
    refinement: list[BattleRecord] = []
    for name, rule in rules:
        after = rule(current, config)
        if name == "preset":
            presets = {r.battle_id for r in current} - {r.battle_id for r in after}
        if name == "refinement":
            refinement = [r for r in current if r.battle_id in refinement_ids]
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
                   "include_deleted": params.include_deleted,
                   "include_refinement": params.include_refinement},
    }
    return Cleaned([by_id[r.battle_id] for r in current], current, report,
                   [b for b in battles if str(b.battle_id) in presets],
                   [by_id[r.battle_id] for r in refinement], refinement)
