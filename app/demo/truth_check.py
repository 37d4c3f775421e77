"""The truth check: battles about shapes images, voted by simulated people who know the
right answer, through a running arena's public API. If the arena works, its ranking of the
models matches how often each model actually answered correctly.

Only HTTP is used, so an operator can point it at any installation. In `side_by_side`
mode (the default for the CLI) the votes are non-anonymous and never reach the public
leaderboard; `anonymous` mode exercises the real draw and counts like any visitor's votes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from app.demo.questions import is_correct, make_question
from app.demo.shapes import random_scene, render_png
from app.demo.voter import SimulatedVoter
from app.ranking import Battles, BradleyTerryResult, fit_bradley_terry


class TruthCheckError(RuntimeError):
    pass


@dataclass(frozen=True)
class JudgedBattle:
    model_a: str
    model_b: str
    winner: str
    correct_a: bool
    correct_b: bool


@dataclass
class TruthCheckResult:
    battles: list[JudgedBattle] = field(default_factory=list)
    failed: int = 0
    fit: BradleyTerryResult | None = None

    def accuracy(self) -> dict[str, float]:
        right: dict[str, list[bool]] = {}
        for b in self.battles:
            right.setdefault(b.model_a, []).append(b.correct_a)
            right.setdefault(b.model_b, []).append(b.correct_b)
        return {m: sum(v) / len(v) for m, v in right.items()}

    def ranking(self) -> list[str]:
        assert self.fit is not None
        return [self.fit.models[i] for i in self.fit.order()]

    def accuracy_order(self) -> list[str]:
        acc = self.accuracy()
        return sorted(acc, key=lambda m: -acc[m])

    def intervals(self) -> dict[str, tuple[float, float, float]]:
        assert self.fit is not None
        ci = self.fit.intervals["bootstrap"]
        return {
            m: (float(self.fit.ratings[i]), float(ci.lower[i]), float(ci.upper[i]))
            for i, m in enumerate(self.fit.models)
        }

    def separated(self) -> bool:
        """Each model's interval lies wholly above the next one's, in the fitted order."""
        ivs = self.intervals()
        order = self.ranking()
        return all(ivs[hi][1] > ivs[lo][2] for hi, lo in zip(order, order[1:], strict=False))

    def passed(self) -> bool:
        return self.ranking() == self.accuracy_order() and self.separated()


async def _answers(client: httpx.AsyncClient, battle_id: str) -> None:
    async with client.stream("GET", f"/api/battles/{battle_id}/stream", timeout=600) as r:
        if r.status_code != 200:
            raise TruthCheckError(f"stream answered {r.status_code}")
        async for line in r.aiter_lines():
            if line.startswith("event: end"):
                return


async def _one_battle(
    base_url: str, index: int, seed: int, mode: str, pair: tuple[str, str] | None,
    voter: SimulatedVoter,
) -> JudgedBattle | None:
    rng = random.Random(seed * 1_000_003 + index)
    scene = random_scene(seed * 1_000_003 + index)
    question = make_question(scene, rng)
    form = {"prompt": question.text, "mode": mode}
    if pair:
        form |= {"model_a": pair[0], "model_b": pair[1]}
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        await client.post("/api/consent", json={"accept": True})
        r = await client.post("/api/battles", data=form,
                              files={"image": ("scene.png", render_png(scene), "image/png")})
        if r.status_code != 201:
            raise TruthCheckError(f"creating a battle: {r.status_code} {r.text[:300]}")
        battle_id = r.json()["id"]
        await _answers(client, battle_id)
        view = (await client.get(f"/api/battles/{battle_id}")).json()
        if view["failed"]:
            return None
        a, b = view["turns"][0]["a"]["text"], view["turns"][0]["b"]["text"]
        winner = voter.vote(question, scene, a, b)
        r = await client.post(f"/api/battles/{battle_id}/vote", json={"winner": winner})
        if r.status_code != 200:
            raise TruthCheckError(f"voting: {r.status_code} {r.text[:300]}")
        names = r.json()["models"]
        return JudgedBattle(names["a"], names["b"], winner,
                            is_correct(question, scene, a), is_correct(question, scene, b))


async def run_truth_check(
    base_url: str,
    *,
    battles: int = 300,
    concurrency: int = 8,
    mode: str = "side_by_side",
    seed: int = 0,
    noise: float = 0.05,
    both_right_tie: float = 0.9,
    bootstrap: int = 500,
    progress: Callable[[int], None] | None = None,
) -> TruthCheckResult:
    if mode not in ("anonymous", "side_by_side"):
        raise ValueError("mode is anonymous or side_by_side")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        models = [m["name"] for m in (await client.get("/api/models")).json() if m["online"]]
    if len(models) < 2:
        raise TruthCheckError(f"need at least two models online, found {models}")
    pairs = [(a, b) for a in models for b in models if a != b]
    voter = SimulatedVoter(noise=noise, both_right_tie=both_right_tie, seed=seed)
    result = TruthCheckResult()
    gate = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with gate:
            pair = pairs[i % len(pairs)] if mode == "side_by_side" else None
            judged = await _one_battle(base_url, i, seed, mode, pair, voter)
        if judged is None:
            result.failed += 1
        else:
            result.battles.append(judged)
        if progress:
            progress(1)

    await asyncio.gather(*(run(i) for i in range(battles)))
    if not result.battles:
        raise TruthCheckError("no battle finished")
    result.fit = fit_bradley_terry(
        Battles.from_names(
            [b.model_a for b in result.battles],
            [b.model_b for b in result.battles],
            [b.winner for b in result.battles],
        ),
        intervals=("bootstrap",),
        n_bootstrap=bootstrap,
        seed=seed,
    )
    return result
