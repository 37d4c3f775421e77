"""`arena leaderboard` end to end on a PostgreSQL arena of N voted battles over M models.

Run: .venv/bin/python benchmarks/bench_leaderboard_db.py [--battles 100000] [--models 100]
     [--sizes 100000,1000000] [--stages read|all] [--source DIR] [--json out.json]
(--stages: then each stage once more, timed alone; --source: run another checkout's code,
e.g. `git archive HEAD | tar -x -C DIR` for the code before a change.)

It starts a PostgreSQL server of its own (the machine's is shared), migrates a fresh
database, writes plain rows with COPY (visitors, images, models, battles, turns, answers of
50-400 words of markdown, votes; with the cases every cleaning rule drops: named votes,
failed answers, answers that name their model, removed battles, banned visitors, a
disabled model, visitors over the daily cap, spammed prompts, presets, deleted and
refinement battles; generations.style and .mentions as save_answer stores them, where the
schema has them), then runs the CLI (`arena leaderboard`) in a child process and
reports its wall time, CPU time and peak RSS (the child's own ``ru_maxrss``). Results:
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if "--stages-of" not in sys.argv:  # that child imports the code under test (PYTHONPATH)
    sys.path.insert(0, str(ROOT))

CHUNK = 5_000  # battles per COPY round
_VOCABULARY = ("the image shows a model answer with some detail about colour shape text "
               "scene object person animal chart table value label street building sky "
               "water tree number left right top bottom because therefore however likely "
               "appears")
WORDS = tuple(_VOCABULARY.split())
LANGUAGES = ("en", "en", "en", "en", "zh", "es", "de", "fr", "ja")
CATEGORIES = ("captioning", "ocr", "diagram", "entity_recognition", "homework", "humor",
              "code", "creative_writing", "refusal")


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def markdown_answer(rng: random.Random) -> str:
    """50-400 words of markdown: paragraphs, sometimes headers, lists, bold, code."""
    target, words, parts = rng.randint(50, 400), 0, []
    while words < target:
        kind = rng.random()
        if kind < 0.15:
            parts.append(f"## {_sentence(rng, 3)}")
            words += 4
        elif kind < 0.35:
            items = [f"- {'**' + rng.choice(WORDS) + '** ' if rng.random() < 0.3 else ''}"
                     f"{_sentence(rng, 8)}" for _ in range(rng.randint(2, 5))]
            parts.append("\n".join(items))
            words += 9 * len(items)
        elif kind < 0.40:
            parts.append("```python\nprint('" + _sentence(rng, 5) + "')\n```")
            words += 6
        else:
            parts.append(" ".join(_sentence(rng, rng.randint(8, 20)) for _ in range(3)))
            words += 40
    return "\n\n".join(parts)


def model_names(n: int) -> list[str]:
    return [f"vendor{k % 7}/model-{k:03d}" for k in range(n)]


def registry_words(name: str) -> list[str]:
    """The registry's identity_words of a generated model."""
    return [name.split("/")[1].upper()]


def identity_words(name: str) -> tuple[str, ...]:
    """What the leaderboard looks for (the name and the registry's words)."""
    from app.leaderboard.mentions_store import model_identity_words

    return model_identity_words(name, registry_words(name))


class Generator:
    """Rows for COPY, chunk by chunk, from one seed."""

    def __init__(self, n_battles: int, n_models: int, seed: int, style: bool,
                 mentions: bool = False) -> None:
        self.rng = random.Random(seed)
        self.np = np.random.default_rng(seed)
        self.n = n_battles
        self.models = model_names(n_models)
        self.strength = self.np.normal(0, 1, n_models)
        self.answers = [markdown_answer(self.rng) for _ in range(3000)]
        # generations.style as save_answer stores it (migration 0019), when the schema has it
        self.style = style
        self.styles = {text: self.stored(text) for text in self.answers} if style else {}
        # generations.mentions as save_answer stores it (migration 0021), when it exists
        self.mentions = mentions
        self.identity = {name: identity_words(name) for name in self.models}
        self.prompts = [_sentence(self.rng, self.rng.randint(5, 30)) for _ in range(50_000)]
        self.spam = self.prompts[:20]  # asked many times: the duplicate-prompt rule
        n_visitors = max(50, n_battles // 20)
        self.visitors = [uuid.UUID(int=self.rng.getrandbits(128)) for _ in range(n_visitors)]
        self.ip = {v: f"{self.rng.getrandbits(256):064x}" for v in self.visitors}
        self.banned = set(self.visitors[: max(1, n_visitors // 100)])
        self.heavy = self.visitors[-5:]  # vote far beyond the daily cap
        self.images = [f"{self.rng.getrandbits(256):064x}"
                       for _ in range(max(100, n_battles // 10))]
        self.start = datetime(2026, 1, 1, tzinfo=UTC)
        self.span = timedelta(days=180).total_seconds()

    @staticmethod
    def stored(text: str) -> str:
        from app.leaderboard.style_store import style_to_store

        return json.dumps(style_to_store(text))

    def stored_mentions(self, text: str, a: str, b: str) -> str:
        from app.leaderboard.mentions_store import mentions_to_store

        return json.dumps(mentions_to_store(text, (*self.identity[a], *self.identity[b])))

    def visitor_rows(self) -> list[tuple[Any, ...]]:
        return [(v, self.start, self.ip[v], v in self.banned) for v in self.visitors]

    def image_rows(self) -> list[tuple[Any, ...]]:
        return [(s, f"{k:032x}", 640, 480, 50_000, "image/jpeg", self.start)
                for k, s in enumerate(self.images)]

    def chunk(self, first: int, size: int) -> dict[str, list[tuple[Any, ...]]]:
        rng, out = self.rng, {"battles": [], "turns": [], "generations": [], "votes": []}
        m = len(self.models)
        pairs = self.np.integers(0, m, size=(size, 2))
        for k in range(size):
            i, j = int(pairs[k, 0]), int(pairs[k, 1])
            if i == j:
                j = (j + 1) % m
            a, b = self.models[i], self.models[j]
            bid = uuid.UUID(int=rng.getrandbits(128))
            heavy = rng.random() < 0.002
            visitor = rng.choice(self.heavy) if heavy else rng.choice(self.visitors)
            at = self.start + timedelta(seconds=(first + k) / self.n * self.span)
            mode = "anonymous" if rng.random() < 0.9 else "side_by_side"
            refinement = mode == "anonymous" and rng.random() < 0.02
            turns = 2 if refinement or rng.random() < 0.1 else 1
            is_preset = rng.random() < 0.02
            deleted = at if rng.random() < 0.005 else None
            removed = rng.random() < 0.01
            categories = json.dumps(sorted(rng.sample(CATEGORIES, rng.randint(0, 2))))
            out["battles"].append((
                bid, visitor, mode, a, b, rng.choice(self.images), at, self.ip[visitor], "{}",
                "removed" if removed else "none", removed, rng.choice(LANGUAGES), categories,
                2, is_preset, "random-image" if is_preset else None, None, deleted, None,
                refinement))
            failed = rng.random() < 0.02
            disclose = rng.random() < 0.01
            for t in range(turns):
                tid = uuid.UUID(int=rng.getrandbits(128))
                prompt = (rng.choice(self.spam) if rng.random() < 0.01
                          else rng.choice(self.prompts))
                kind = "refinement" if refinement and t == 1 else "question"
                out["turns"].append((tid, bid, t, prompt, at, kind,
                                     0 if kind == "refinement" else None))
                for side, model in (("a", a), ("b", b)):
                    text = rng.choice(self.answers)
                    if disclose and side == "a" and t == 0:
                        text += f"\n\nAs {model.split('/')[1].upper()}, I hope this helps."
                    status = "failed" if failed and side == "b" and t == turns - 1 else "done"
                    tokens = int(len(text.split()) * 1.3)
                    text = text if status == "done" else ""
                    row = (uuid.UUID(int=rng.getrandbits(128)), tid, side, model, "{}",
                           status, text, 40, tokens, 250.0, 4000.0, "stop", 1, 0, None,
                           None, at, at, at, None)
                    if self.style:
                        row += (None if status != "done" else self.styles.get(text)
                                or self.stored(text),)
                    if self.mentions:
                        row += (None if status != "done"
                                else self.stored_mentions(text, a, b),)
                    out["generations"].append(row)
            d = (self.strength[i] - self.strength[j]) / 1.2
            p = 1 / (1 + np.exp(-d))
            u = rng.random()
            winner = ("tie" if u < 0.1 else "tie (bothbad)" if u < 0.15
                      else "model_a" if rng.random() < p else "model_b")
            out["votes"].append((bid, visitor, winner, mode == "anonymous", self.ip[visitor],
                                 at + timedelta(seconds=30), rng.random() < 0.003, None,
                                 None, None, None))
        return out


COLUMNS = {
    "visitors": ("id", "created_at", "ip_hash", "banned"),
    "images": ("sha256", "phash", "width", "height", "bytes", "mime", "created_at"),
    "battles": ("id", "visitor_id", "mode", "model_a", "model_b", "image_sha256",
                "created_at", "ip_hash", "moderation", "review_status", "removed",
                "language", "categories", "version", "is_preset", "preset", "redraws",
                "deleted_at", "deleted_vote", "refinement"),
    "turns": ("id", "battle_id", "index", "prompt", "created_at", "kind", "refines_index"),
    "generations": ("id", "turn_id", "side", "model", "params", "status", "text",
                    "prompt_tokens", "completion_tokens", "ttft_ms", "latency_ms",
                    "finish_reason", "attempts", "attempts_base", "error", "worker_id",
                    "created_at", "finished_at", "status_at", "rating"),
    "votes": ("battle_id", "visitor_id", "winner", "anonymous", "ip_hash", "created_at",
              "excluded", "excluded_reason", "reason_tags", "reason_comment", "reasons_at"),
}


async def populate(dsn: str, db_url: str, n: int, n_models: int, seed: int) -> float:
    """Write the arena; returns seconds taken. Triggers and foreign keys are off during
    the COPY (session_replication_role = replica): the rows are consistent by construction."""
    import asyncpg
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from app.db.models import ModelEntry
    from app.db.session import make_engine, make_sessionmaker

    began = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    have = {name for (name,) in await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = "
        "'generations' AND column_name IN ('style', 'mentions')")}
    await conn.close()
    style, mentions = "style" in have, "mentions" in have
    gen = Generator(n, n_models, seed, style, mentions)
    columns = {**COLUMNS, "generations": COLUMNS["generations"] + (("style",) if style else ())
               + (("mentions",) if mentions else ())}
    engine = make_engine(db_url)
    async with make_sessionmaker(engine)() as session:
        for k, name in enumerate(gen.models):
            session.add(ModelEntry(name=name, backend="hf", options={}, sampling={},
                                   identity_words=registry_words(name),
                                   ranked=k != n_models - 1))  # one model off the board
        await session.commit()
    await engine.dispose()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.copy_records_to_table("visitors", records=gen.visitor_rows(),
                                         columns=COLUMNS["visitors"])
        await conn.copy_records_to_table("images", records=gen.image_rows(),
                                         columns=COLUMNS["images"])
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn()) as progress:
            task = progress.add_task("writing battles", total=n)
            for first in range(0, n, CHUNK):
                rows = gen.chunk(first, min(CHUNK, n - first))
                for table in ("battles", "turns", "generations", "votes"):
                    await conn.copy_records_to_table(table, records=rows[table],
                                                     columns=columns[table])
                progress.update(task, advance=len(rows["battles"]))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - began


def run_cli(db_url: str, tmp: Path, source: Path | None = None) -> dict[str, Any]:
    """`arena leaderboard` in a child; wall seconds, its peak RSS, the battles counted.
    ``source``: run another checkout of the code (e.g. the commit before a change)."""
    env = {**os.environ, "ARENA_DATABASE_URL": db_url, "ARENA_DATA_DIR": str(tmp / "data")}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    began = time.perf_counter()
    child = subprocess.Popen([str(Path(sys.executable).parent / "arena"), "leaderboard"],
                             cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert child.stdout is not None
    output = child.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"arena leaderboard failed:\n{output[-4000:]}")
    counted = None
    for line in output.splitlines():  # "default · overall (N battles)"
        if "default · overall (" in line:
            counted = int(line.split("(")[1].split()[0].replace(",", ""))
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024, "counted": counted,
            "output_tail": output[-1500:]}


async def _stages(db_url: str, plots: bool) -> dict[str, float]:
    """Seconds of each stage of `arena leaderboard`, run one after another in this process
    (reading; cleaning and fitting; the audits; the plots), and the peak RSS after reading."""
    import resource

    from app.db.session import make_engine, make_sessionmaker
    from app.leaderboard import load
    from app.leaderboard.audits import robustness_report, tie_report
    from app.leaderboard.compute import LeaderboardParams, compute_leaderboards
    from app.leaderboard.snapshots import render_run_plots

    params, cutoff, out = LeaderboardParams(), datetime.now(UTC), {}
    engine = make_engine(db_url)
    began = time.perf_counter()
    async with make_sessionmaker(engine)() as session:
        models = await load.load_model_info(session)
        if hasattr(load, "load_ranking_records"):
            records = await load.load_ranking_records(session, models, cutoff=cutoff)
        else:  # the code before the chunked reader
            records = await load.load_battle_records(session, cutoff=cutoff)
    await engine.dispose()
    out["read_s"] = time.perf_counter() - began
    out["read_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    run = compute_leaderboards(records, models, cutoff=cutoff, code_version="bench",
                               params=params)
    out["clean_fit_s"] = time.perf_counter() - began
    began = time.perf_counter()
    tie_report(run.kept, params.reweighting)
    robustness_report(run.kept, params.reweighting)
    out["audits_s"] = time.perf_counter() - began
    if plots:
        began = time.perf_counter()
        render_run_plots(run)
        out["plots_s"] = time.perf_counter() - began
    out["boards"] = len(run.boards)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_stages(db_url: str, source: Path | None, plots: bool) -> dict[str, float]:
    """``_stages`` in a child (its own peak RSS; ``source``'s code when given)."""
    env = {**os.environ, **({"PYTHONPATH": str(source)} if source else {})}
    done = subprocess.run([sys.executable, __file__, "--stages-of", db_url,
                           *(["--stages", "all"] if plots else [])], env=env,
                          check=True, capture_output=True, text=True, cwd=source or ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


async def _admin(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _staged(st: dict[str, float] | None) -> str:
    if not st:
        return "–"
    plots = f"{st['plots_s']:.1f}" if "plots_s" in st else "–"
    return (f"{st['read_s']:.1f} ({st['read_peak_rss_mb']:,.0f}) / {st['clean_fit_s']:.1f} / "
            f"{st['audits_s']:.1f} / {plots}")


def migrate(db_url: str, source: Path | None) -> None:
    """The schema of the code under test (``source``'s migrations when given)."""
    env = {**os.environ, **({"PYTHONPATH": str(source)} if source else {})}
    subprocess.run([sys.executable, "-c", "import sys; from app.db.migrate import upgrade; "
                    "upgrade(sys.argv[1])", db_url], check=True, env=env,
                   cwd=source or ROOT)


def sizes(args: argparse.Namespace) -> Iterator[int]:
    yield from ([int(s) for s in args.sizes.split(",")] if args.sizes else [args.battles])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--sizes", help="several sizes, comma-separated (overrides --battles)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--source", type=Path,
                        help="run the CLI from this checkout (default: this one)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory and the databases in it")
    parser.add_argument("--stages", choices=("all", "read"),
                        help="then time each stage in a child of its own: reading, cleaning "
                             "and fitting, audits, and (all) the plots")
    parser.add_argument("--stages-of", help=argparse.SUPPRESS)  # the child of --stages
    args = parser.parse_args()
    if args.stages_of:
        print(json.dumps(asyncio.run(_stages(args.stages_of, args.stages == "all"))))
        return

    from benchmarks.relay_token_mode import private_postgres
    from tests.conftest import free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-lbdb-"))
    port = free_port()
    stop = private_postgres(tmp / "pg", port)
    rows = []
    try:
        for n in sizes(args):
            name = f"arena_{n}"
            admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
            asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
            dsn = f"postgresql://postgres@127.0.0.1:{port}/{name}"
            db_url = dsn.replace("postgresql://", "postgresql+asyncpg://")
            migrate(db_url, args.source)
            print(f"generating {n:,} voted battles over {args.models} models ...", flush=True)
            gen_s = asyncio.run(populate(dsn, db_url, n, args.models, args.seed))
            print(f"  written in {gen_s:.0f} s; running arena leaderboard ...", flush=True)
            (tmp / "data").mkdir(exist_ok=True)
            result = run_cli(db_url, tmp, args.source)
            rows.append({"battles": n, "models": args.models, "generate_s": gen_s, **result})
            if args.stages:
                print("  and stage by stage ...", flush=True)
                rows[-1]["stages"] = run_stages(db_url, args.source, args.stages == "all")
                print(f"  {rows[-1]['stages']}", flush=True)
            print(result["output_tail"][-600:], flush=True)
            figures = {k: v for k, v in rows[-1].items() if k != "output_tail"}
            print(f"  result: {json.dumps(figures)}", flush=True)
            if args.json:  # after every size: a later one may not finish
                args.json.write_text(json.dumps(
                    [{k: v for k, v in r.items() if k != "output_tail"} for r in rows],
                    indent=2))
            if not args.keep:  # kept: restart the server on DIR/pg to profile against it
                asyncio.run(_admin(admin, f'DROP DATABASE "{name}"'))
    finally:
        stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{platform.node()} · {os.cpu_count()} cores · python {platform.python_version()}")
    print("| battles | models | wall s | CPU s | peak RSS MB | battles counted | stages: read s "
          "(peak RSS MB) / clean+fit s / audits s / plots s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        staged = _staged(r.get("stages"))
        print(f"| {r['battles']:,} | {r['models']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
              f"{r['peak_rss_mb']:,.0f} | {r['counted']} | {staged} |")


if __name__ == "__main__":
    main()
