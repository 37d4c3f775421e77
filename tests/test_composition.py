"""`create_app(settings, background=...)`: the entry point hands in what runs beside the web
routes (the embedded workers); the app starts it after the registry sync and stops it at
shutdown, also when the start itself fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.config import REPO_ROOT, Settings
from app.web.main import create_app
from app.web.state import ArenaState


def _settings(tmp_path: Path, **extra: object) -> Settings:
    from app.db.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'arena.db'}"
    upgrade(url)
    return Settings(database_url=url, redis_url=None, data_dir=tmp_path,
                    models_file=Path(REPO_ROOT) / "models.yaml", moderation_enabled=False,
                    secret_key="composition-tests-secret-0123456789", ip_hash_salt="salt",
                    **extra)


async def test_background_services_run_during_the_lifespan_and_stop_after(
    tmp_path: Path,
) -> None:
    seen: list[ArenaState] = []
    tasks: list[asyncio.Task[None]] = []

    async def service(state: ArenaState) -> list[asyncio.Task[None]]:
        seen.append(state)
        tasks.append(asyncio.create_task(asyncio.Event().wait()))
        return tasks[-1:]

    app = create_app(_settings(tmp_path), background=[service, service])
    async with app.router.lifespan_context(app):
        assert seen == [app.state.arena, app.state.arena]
        assert not any(t.done() for t in tasks)
    assert len(tasks) == 2 and all(t.cancelled() for t in tasks)


async def test_a_failing_service_stops_the_ones_started_before_it(tmp_path: Path) -> None:
    started: list[asyncio.Task[None]] = []

    async def fine(state: ArenaState) -> list[asyncio.Task[None]]:
        started.append(asyncio.create_task(asyncio.Event().wait()))
        return started[-1:]

    async def broken(state: ArenaState) -> list[asyncio.Task[None]]:
        raise RuntimeError("engine did not load")

    app = create_app(_settings(tmp_path), background=[fine, broken])
    with pytest.raises(RuntimeError, match="engine did not load"):
        async with app.router.lifespan_context(app):
            pytest.fail("the app must not serve when a background service failed")
    assert started and started[0].cancelled()


def test_the_entry_point_adds_the_workers_only_when_asked(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from arena_cli import serving

    calls: list[tuple] = []
    monkeypatch.setattr("app.web.main.create_app",
                        lambda settings, background=(): calls.append(tuple(background)))
    serving.compose_app(_settings(tmp_path))
    serving.compose_app(_settings(tmp_path, embedded_workers=True))

    from workers.categorizer import start_categorizer
    from workers.embedded import start_embedded_workers

    # The embedded default also keeps its leaderboard fresh after votes.
    assert calls == [
        (), (start_embedded_workers, start_categorizer, serving.start_leaderboard_refresher)
    ]
