"""The ratings job's plan per prompt (which models answer, in what order) and the requests
it refuses before touching the database or the queue."""

from __future__ import annotations

import pytest

from app.feedback.job import FeedbackError, FeedbackParams, plan, run_feedback
from app.feedback.prompts import FeedbackPrompt

POOL = ("m1", "m2", "m3", "m4", "m5")


def prompt(pid: str, fixed: tuple[tuple[str, str], ...] = ()) -> FeedbackPrompt:
    return FeedbackPrompt(id=pid, prompt="Q?", image_sha256="0" * 64, fixed=fixed)


def test_the_plan_is_seeded_per_prompt_and_shuffled() -> None:
    a = plan(prompt("p1"), POOL, 4, seed=0)
    assert a == plan(prompt("p1"), POOL, 4, seed=0)  # a rerun asks for the same work
    assert len({m for m, _ in a}) == 4 and all(t is None for _, t in a)
    draws = {tuple(m for m, _ in plan(prompt(f"p{i}"), POOL, 4, seed=0)) for i in range(40)}
    assert len(draws) > 10  # models and positions vary between prompts
    assert {d[0] for d in draws} == set(POOL)  # every model sits first somewhere


def test_fixed_answers_are_kept_and_not_drawn_again() -> None:
    fixed = (("m1", "Red."), ("m2", "Blue."))
    got = plan(prompt("battle:x", fixed), POOL, 4, seed=1)
    assert sorted(m for m, _ in got)[:2] == ["m1", "m2"] and len(got) == 4
    assert dict(got)["m1"] == "Red." and dict(got)["m2"] == "Blue."
    assert sum(t is None for _, t in got) == 2
    positions = {tuple(m for m, _ in plan(prompt(f"battle:{i}", fixed), POOL, 3, seed=1))
                 .index("m1") for i in range(30)}
    assert positions == {0, 1, 2}  # the battle's side A is not always first
    with pytest.raises(FeedbackError, match="the pool has 3"):
        plan(prompt("battle:y", fixed), POOL, 6, seed=1)
    with pytest.raises(FeedbackError, match="needs 0 models"):
        plan(prompt("battle:z", fixed), POOL, 1, seed=1)


@pytest.mark.parametrize("params, prompts, why", [
    (FeedbackParams(judge="j", k=1), [prompt("a")], "k must be 2 to 8"),
    (FeedbackParams(judge="j", k=9), [prompt("a")], "k must be 2 to 8"),
    (FeedbackParams(judge="j"), [], "no prompts"),
    (FeedbackParams(judge="j"), [prompt("a"), prompt("b"), prompt("a")], "repeated: \\['a'\\]"),
])
async def test_refused_before_anything_runs(params: FeedbackParams,
                                            prompts: list[FeedbackPrompt], why: str) -> None:
    with pytest.raises(FeedbackError, match=why):
        await run_feedback(None, None, None, prompts, params)  # type: ignore[arg-type]
