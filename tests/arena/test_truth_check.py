"""The arena ranks models correctly: a few hundred anonymous battles between the shipped
demo models, through the real stack (uvicorn, Redis, worker processes with the transformers
engine, PostgreSQL), voted by simulated people who know the truth; then the stored
leaderboard must order the models by their measured accuracy, with separated intervals."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from app.config import REPO_ROOT
from app.db.session import make_engine, make_sessionmaker
from app.demo.truth_check import run_truth_check
from tests.arena.stack import ArenaStack, services_stack

DEMO = ["shapes-large", "shapes-medium", "shapes-small"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_stack(
    pg_url: str, redis_url: str, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("truth")
    registry = yaml.safe_load((Path(REPO_ROOT) / "models.yaml").read_text())
    for m in registry["models"]:
        m["path"] = str(Path(REPO_ROOT) / m["path"])
        assert Path(m["path"]).is_dir(), f"demo model missing: {m['path']}"
    (data / "models.yaml").write_text(yaml.safe_dump(registry))
    s = services_stack(
        pg_url, redis_url, redis_prefix + "truth:", data / "models.yaml", data,
        ARENA_RATE_LIMITS_ENABLED="false", ARENA_MAX_GENERATIONS_IN_FLIGHT="1000",
    )
    try:
        s.start_web()
        for name in DEMO:
            s.start_worker(f"w-{name}", name)
        s.wait_models_online(DEMO)
        yield s
    finally:
        s.stop()


def test_ranking_matches_accuracy_through_the_whole_arena(
    demo_stack: ArenaStack, pg_url: str
) -> None:
    result = asyncio.run(
        run_truth_check(demo_stack.url, battles=360, concurrency=12, mode="anonymous", seed=1)
    )
    assert result.failed == 0 and len(result.battles) == 360
    accuracy = result.accuracy()
    assert accuracy["shapes-large"] > accuracy["shapes-medium"] > accuracy["shapes-small"]
    assert result.ranking() == DEMO, (result.intervals(), accuracy)
    assert result.separated(), result.intervals()

    # The leaderboard the arena itself stores (cleaning rules, its own fit) agrees.
    from app.leaderboard.pipeline import run_leaderboard

    async def stored() -> list[str]:
        engine = make_engine(pg_url)
        try:
            _, run = await run_leaderboard(make_sessionmaker(engine), source="test")
        finally:
            await engine.dispose()
        board = run.board("default")
        assert board is not None
        return [row["model"] for row in board.payload["rows"] if row["model"] in DEMO]

    assert asyncio.run(stored()) == DEMO
