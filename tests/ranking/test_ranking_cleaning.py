"""Cleaning rules: each rule drops exactly the battles it should, in order, with counts."""

from __future__ import annotations

from dataclasses import replace

from app.ranking import BattleRecord, CleaningConfig, clean_battles, discloses_identity

DAY = 86_400.0


def rec(k: int, **kw: object) -> BattleRecord:
    base = BattleRecord(battle_id=f"b{k:04d}", model_a="gpt-4o", model_b="llava",
                        winner="model_a", anonymous=True, tstamp=10.0 * k,
                        visitor_id=f"v{k}", ip_hash="h", answers_a=("A cat.",),
                        answers_b=("A dog.",), user_turns=("What is it?",))
    return replace(base, **kw)  # type: ignore[arg-type]


NAMES = {"gpt-4o": ["GPT", "OpenAI"], "llava": ["llava"]}


def report(records: list[BattleRecord], config: CleaningConfig) -> dict[str, int]:
    return {r.rule: r.dropped for r in clean_battles(records, config).report}


def test_each_rule_drops_its_battles_in_order() -> None:
    records = [
        rec(0),
        rec(1, anonymous=False),
        rec(2, winner=None),
        rec(3, status_b="failed"),
        rec(4, status_a="incomplete"),
        rec(5, answers_b=("I am LLaVA, made by ...",)),
        rec(6, answers_a=("As an openai model",)),
        rec(7, user_turns=("are you gpt?",)),
        rec(8, removed=True),
        rec(9, visitor_banned=True),
        rec(10, model_b_excluded=True),
        rec(11, removed=True, visitor_banned=True),  # counted once, by the first rule
    ]
    result = clean_battles(records, CleaningConfig(identity_names=NAMES))
    assert [(r.rule, r.dropped) for r in result.report] == [
        ("anonymous_vote", 2), ("unfinished", 2), ("identity_disclosed", 3), ("removed", 2),
        ("banned_visitor", 1), ("excluded_model", 1), ("daily_vote_cap", 0),
        ("duplicate_prompt", 0),
    ]
    assert [r.battle_id for r in result.kept] == ["b0000"]
    assert result.report[-1].remaining == 1


def test_identity_check_is_case_insensitive_and_per_pair() -> None:
    assert discloses_identity(rec(0, answers_a=("GpT here",)), NAMES)
    other = rec(0, model_a="qwen", model_b="idefics", answers_a=("I am GPT",))
    assert not discloses_identity(other, NAMES)  # names of models not in this battle
    assert not discloses_identity(rec(0), {})


def test_daily_vote_cap_keeps_earliest_votes_per_utc_day() -> None:
    records = [rec(k, visitor_id="same", tstamp=1000.0 + k) for k in range(5)]
    records += [rec(10 + k, visitor_id="same", tstamp=DAY + 5.0 + k) for k in range(3)]
    records += [rec(20, visitor_id="other", tstamp=1001.0)]
    result = clean_battles(records[::-1], CleaningConfig(daily_vote_cap=2))
    assert report(records, CleaningConfig(daily_vote_cap=2))["daily_vote_cap"] == 4
    kept = sorted(r.battle_id for r in result.kept)
    assert kept == ["b0000", "b0001", "b0010", "b0011", "b0020"]


def test_duplicate_prompts_are_downsampled_deterministically() -> None:
    records = [rec(k, prompt_hash="spam") for k in range(10)]
    records += [rec(20 + k, prompt_hash=f"p{k}") for k in range(3)] + [rec(30)]
    config = CleaningConfig(max_per_prompt=3, seed=5)
    first = clean_battles(records, config)
    assert report(records, config)["duplicate_prompt"] == 7
    spam = {r.battle_id for r in first.kept if r.prompt_hash == "spam"}
    assert len(spam) == 3 and len(first.kept) == 7
    shuffled = clean_battles(records[::-1], config)
    assert {r.battle_id for r in shuffled.kept} == {r.battle_id for r in first.kept}
    seeds = {frozenset(r.battle_id for r in clean_battles(
        records, replace(config, seed=s)).kept) for s in range(10)}
    assert len(seeds) > 1
