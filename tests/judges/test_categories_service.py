"""The periodic category pass as the embedded demo runs it: SQLite, the in-process queue,
the embedded workers and `workers.categorizer.start_categorizer` as background services of
one app. On when a registry model sets `options.categories`, off when none does."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from app.config import Settings
from app.db.category_tables import CategoryLabel
from app.db.migrate import upgrade
from app.db.models import Battle, ModelEntry
from app.judges.categories import CategorizerConfig
from app.queue.memory_queue import MemoryQueue
from tests.judges.test_categories_pass import ANSWER_MODELS, COUNTING, seed_battles
from workers.categorizer import categorize_once, start_categorizer
from workers.embedded import start_embedded_workers

JUDGE = "embedded-judge"


def _settings(tmp_path: Path, judge: Path, categories: Any) -> Settings:
    options: dict[str, Any] = {"num_threads": 1, "judge_form": "short"}
    if categories is not None:
        options["categories"] = categories
    (tmp_path / "small.yaml").write_text(yaml.safe_dump({"name": "small", "categories": [
        {"name": "counting", "sees": "prompt", "question": "Does it ask how many?"},
        {"name": "busy", "sees": "image", "question": "Are there several shapes?"},
    ]}))
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump({"models": [
        {"name": JUDGE, "backend": "transformers", "path": str(judge), "role": "judge",
         "concurrency": 4, "max_new_tokens": 32, "options": options}]}))
    url = f"sqlite+aiosqlite:///{tmp_path / 'arena.db'}"
    upgrade(url)
    return Settings(database_url=url, redis_url=None, data_dir=tmp_path, models_file=models,
                    moderation_enabled=False, rate_limits_enabled=False,
                    embedded_workers=True, secret_key="s" * 32, ip_hash_salt="salt")


async def _answer_models(sm: Any) -> None:
    async with sm() as session:
        for name in ANSWER_MODELS:
            if await session.get(ModelEntry, name) is None:
                session.add(ModelEntry(name=name, backend="openai"))
        await session.commit()


async def test_the_embedded_demo_labels_new_battles_by_itself(
    tmp_path: Path, tiny_models: dict[str, Path]
) -> None:
    from app.web.main import create_app

    # the set path is relative: it is looked up beside models.yaml
    settings = _settings(tmp_path, tiny_models["tiny-alpha"],
                         {"set": "small.yaml", "interval_s": 1, "batch": 50})
    app = create_app(settings, background=[start_embedded_workers, start_categorizer])
    async with app.router.lifespan_context(app):
        state = app.state.arena
        await _answer_models(state.sessionmaker)
        seeded = await seed_battles(state.sessionmaker, state.blobs, 2, seed=41,
                                    prompts=[COUNTING])
        ids = [b.battle_id for b in seeded]
        deadline = asyncio.get_running_loop().time() + 120
        while True:  # the service's own ticks: first after 5 s, then every second
            async with state.sessionmaker() as session:
                labels = (await session.scalars(select(CategoryLabel).where(
                    CategoryLabel.battle_id.in_(ids)))).all()
            if len(labels) == 4 and all(lb.active for lb in labels):
                break
            assert asyncio.get_running_loop().time() < deadline, [
                (lb.category, lb.decision, lb.active) for lb in labels]
            await asyncio.sleep(0.3)
        # The untrained judge's answers are unparsable: counted, never a category.
        assert {lb.decision for lb in labels} == {"unparsable"}
        async with state.sessionmaker() as session:
            cats = (await session.scalars(select(Battle.categories)
                                          .where(Battle.id.in_(ids)))).all()
        assert cats == [[], []]


async def test_the_pass_is_off_without_a_configured_judge_and_says_why_it_cannot_start(
    tmp_path: Path, tiny_models: dict[str, Path]
) -> None:
    from app.web.main import create_app

    settings = _settings(tmp_path, tiny_models["tiny-alpha"], None)
    app = create_app(settings)  # no workers: the judge has none
    async with app.router.lifespan_context(app):
        state = app.state.arena
        assert await start_categorizer(state) == []  # off: no model sets options.categories
        await _answer_models(state.sessionmaker)
        await seed_battles(state.sessionmaker, state.blobs, 1, seed=42)
        config = CategorizerConfig(judge=JUDGE, set=str(tmp_path / "small.yaml"))
        tick = await categorize_once(state.sessionmaker, MemoryQueue(), config)
        assert tick.started is None and "has no live worker" in (tick.error or "")
        bad = await categorize_once(state.sessionmaker, MemoryQueue(),
                                    CategorizerConfig(judge=JUDGE, set="missing.yaml"))
        assert "category set 'missing.yaml' not found" in (bad.error or "")
        async with state.sessionmaker() as session:
            assert (await session.scalars(select(CategoryLabel))).all() == []
