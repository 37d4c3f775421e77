"""`arena release` as an operator runs it (a subprocess, the embedded SQLite default): a
release of simulated traffic prints its counts and the vLLM replay command and writes a
folder that matches its manifest, with the terms page's text in the card; a range in the
future ends with a clear message, exit 1, and no folder (the other refusals are tested on
the library in test_release.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from app.db.migrate import upgrade
from app.db.session import make_engine, make_sessionmaker
from app.release.manifest import verify_manifest
from tests.release import traffic as t

ROOT = Path(__file__).resolve().parents[2]


def arena(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arena_cli.main", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=400, check=False)


async def _fill(url: str, blobs: Path) -> None:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        convs, images = t.bulk_traffic(30)
        await t.add_registry(session)
        visitors = await t.add_visitors(session, consented=20)
        await t.store_images(session, t.write_blob_dir(blobs), images)
        await t.insert_conversations(session, visitors, convs)
    await engine.dispose()


def test_cli_releases_and_refuses_a_future_range(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/arena.db"
    upgrade(url)
    asyncio.run(_fill(url, tmp_path / "var" / "blobs"))
    env = {**os.environ, "ARENA_DATABASE_URL": url, "ARENA_DATA_DIR": str(tmp_path / "var"),
           "ARENA_TERMS_VERSION": t.TERMS, "COLUMNS": "200"}
    done = arena(env, "release", "--from", "2026-11-20", "--to", "2026-11-21",
                 "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout + done.stderr
    text = " ".join(done.stdout.split())
    assert "released 57 chat rows, 24 battle rows, 30 replay prompts" in text
    assert "--hf-subset replay" in text and "--hf-name lmarena-ai/VisionArena-Chat" in text
    verify_manifest(tmp_path / "out")
    assert "may be released publicly for research" in (tmp_path / "out" / "README.md").read_text()

    done = arena(env, "release", "--from", "2026-01-01", "--to", "2999-01-01",
                 "--out", str(tmp_path / "never"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "release failed, nothing published" in done.stdout
    assert "the range ends in the future" in " ".join(done.stdout.split())
    assert not (tmp_path / "never").exists()
