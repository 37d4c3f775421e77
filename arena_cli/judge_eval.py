"""`arena judge-eval --judge M` and `arena judge-eval export OUT`: VL-RewardBench on the arena.

The evaluation judges items with a known human preference (the arena's decisive battles
and/or VL-RewardBench files) through the workers, K times each in seeded random orders,
prints the benchmark's metrics as a table and writes them (with every call's order and
verdict) as JSON; killing it and starting it again resumes it. `export` writes the decisive
battles as a VL-RewardBench folder that other tools (and `datasets`) load as it is.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from arena_cli.bench import _bars, _fail, _with_services

judge_eval_cli = typer.Typer(
    help="VL-RewardBench: how often a judge agrees with human votes (`--judge M`), and the "
         "arena's battles in the benchmark's format (`export OUT`).",
    invoke_without_command=True)


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name}: use an ISO time, e.g. 2026-12-01T00:00:00+00:00"
                                 ) from None


def _skips(what: str, skipped: Counter[str], examples: list[str] | None = None) -> None:
    if skipped:
        counts = ", ".join(f"{n} {reason}" for reason, n in skipped.most_common())
        typer.secho(f"{what}: skipped {sum(skipped.values())} ({counts})", fg="yellow",
                    err=True)
        for line in examples or []:
            typer.secho(f"  {line}", fg="yellow", err=True)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def print_metrics(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result["metrics"]
    table = Table(title=f"judge-eval · {result['judge']} · {result['template']} · "
                        f"K={result['repetitions']} · T={result['temperature']} "
                        f"top-p={result['top_p']}")
    for col in ("domain", "items", "agree", "reject", "split", "unparsable", "accuracy %",
                "95% CI"):
        table.add_column(col, justify="left" if col == "domain" else "right")

    def row(name: str, t: dict[str, Any]) -> None:
        ci = t["ci95"]
        table.add_row(name, str(t["items"]), str(t["agree"]), str(t["reject"]),
                      str(t["split"]), str(t["unparsable"]), _pct(t["accuracy"]),
                      "–" if ci is None else f"{_pct(ci[0])} – {_pct(ci[1])}")

    for domain, t in m["domains"].items():
        row(domain, t)
    row("overall", m["overall"])
    console = Console()
    if not console.is_terminal:  # a log or a pipe: wide enough for the table on one line
        console = Console(width=120)
    console.print(table)
    console.print(
        f"macro accuracy {_pct(m['macro_accuracy'])} % · strict accuracy (undecided = wrong) "
        f"{_pct(m['strict_accuracy'])} % · single sample (repetition 0) "
        f"{_pct(m['single_sample']['accuracy'])} % · parse failures "
        f"{m['parse_failures']} of {m['calls']} ({_pct(m['parse_failure_rate'])} %), failed "
        f"calls {m['failed_calls']} · position consistency "
        f"{_pct(m['position_consistency'])} % over {m['position_pairs']} swapped pairs")


def _load_files(paths: list[Path]) -> tuple[list[Any], dict[str, Any]]:
    from app.rewardbench.files import RewardFileError, load_file

    items: list[Any] = []
    sources: dict[str, Any] = {}
    for path in paths:
        try:
            loaded = load_file(path)
        except RewardFileError as exc:
            raise _fail(f"judge-eval not started: {exc}") from exc
        _skips(str(path), loaded.skipped, loaded.examples)
        sources[str(path)] = {"items": len(loaded.items), "skipped": dict(loaded.skipped)}
        items += loaded.items
    return items, sources


@judge_eval_cli.callback()
def evaluate(
    ctx: typer.Context,
    judge: Annotated[str | None, typer.Option(help="the judge model (a registry name)")]
    = None,
    source: Annotated[list[str], typer.Option(help="'battles' (the arena's decisive votes) "
                                                   "or a VL-RewardBench file (.json/.jsonl); "
                                                   "repeat for several")] = ["battles"],  # noqa: B006
    repetitions: Annotated[int, typer.Option(min=1, max=100, help="judge calls per item "
                                                                  "(K; the paper: 5)")] = 10,
    temperature: Annotated[float, typer.Option(min=0.0)] = 0.2,
    top_p: Annotated[float, typer.Option("--top-p", min=0.0, max=1.0)] = 0.2,
    seed: Annotated[int, typer.Option(help="seed of the shown orders")] = 0,
    since: Annotated[str | None, typer.Option(help="battles voted at or after (ISO)")] = None,
    until: Annotated[str | None, typer.Option(help="battles voted before (ISO)")] = None,
    template: Annotated[str, typer.Option(help="a reward-pairwise template")]
    = "vlrewardbench-pairwise@1",
    out: Annotated[Path | None, typer.Option(help="result JSON (default: DATA_DIR/"
                                                  "judge-evals/...)")] = None,
    timeout: Annotated[float | None, typer.Option(help="seconds before giving up (the run "
                                                       "can be resumed)")] = None,
) -> None:
    """Evaluate a judge on human preferences with the VL-RewardBench protocol."""
    if ctx.invoked_subcommand is not None:
        return
    if judge is None:
        raise typer.BadParameter("--judge is required", param_hint="--judge")
    from app.judges.runs import RunError
    from app.rewardbench.battles import load_decisive_items
    from app.rewardbench.runner import EvalParams, JudgeEvalError, run_judge_eval

    since_t, until_t = _time(since, "--since"), _time(until, "--until")
    try:
        params = EvalParams(judge, repetitions, temperature, top_p, seed, template,
                            timeout_s=timeout)
    except JudgeEvalError as exc:
        raise _fail(f"judge-eval not started: {exc}") from exc
    files = [Path(s) for s in source if s != "battles"]
    items, sources = _load_files(files)

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> Any:
        if "battles" in source:
            async with sessionmaker() as session:
                found, skipped = await load_decisive_items(session, since_t, until_t)
            _skips("battles", skipped)
            sources["battles"] = {"items": len(found), "skipped": dict(skipped)}
            items.extend(found)
        with _bars() as bars:
            task = bars.add_task("judgments", total=None, note="")

            def on_progress(p: Any) -> None:
                bars.update(task, completed=p.finished, total=p.total,
                            note=f"{p.running} running, {p.parse_failures} unparsable, "
                                 f"{p.failed} failed")

            result = await run_judge_eval(sessionmaker, queue, blobs, items, params,
                                          on_progress=on_progress, sources=sources)
        return settings, result

    try:
        settings, result = _with_services(go)
    except RunError as exc:  # JudgeEvalError, or a timeout of the wait
        raise _fail(f"judge-eval stopped: {exc}") from exc
    data = result.as_json()
    path = out or (settings.data_dir / "judge-evals" /
                   f"{_safe(judge)}--{'+'.join(_safe(Path(s).stem) for s in source)}"
                   f"--k{repetitions}-seed{seed}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    print_metrics(data)
    typer.echo(f"result: {path}")
    m = result.metrics
    if m.overall.decided == 0 and m.parse_failures:
        raise _fail(f"judge {judge!r} never answered in the template's format ("
                    f"{m.parse_failures} of {m.calls} outputs unparsable): no accuracy. "
                    "Is it a judge for this template (and its judge_form)?", code=1)


def _safe(text: str) -> str:
    from app.bench.runner import safe_name

    return safe_name(text)


@judge_eval_cli.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="a new (or empty) folder")],
    embed_images: Annotated[bool, typer.Option(help="images as data URLs in the rows "
                                                    "instead of files beside them")] = False,
    since: Annotated[str | None, typer.Option(help="battles voted at or after (ISO)")] = None,
    until: Annotated[str | None, typer.Option(help="battles voted before (ISO)")] = None,
) -> None:
    """Write the arena's decisive battles as a VL-RewardBench folder (data.jsonl + images)."""
    from app.rewardbench.battles import load_decisive_items
    from app.rewardbench.files import RewardFileError, write_items
    from app.storage.blobs import BlobNotFound

    since_t, until_t = _time(since, "--since"), _time(until, "--until")

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> int:
        async with sessionmaker() as session:
            items, skipped = await load_decisive_items(session, since_t, until_t)
        images: dict[str, bytes] = {}
        kept = []
        for item in items:
            try:
                images.setdefault(item.image.sha256, await blobs.get(item.image.sha256))
                kept.append(item)
            except BlobNotFound:
                skipped["image missing from the blob store"] += 1
        _skips("battles", skipped)
        if not kept:
            raise RewardFileError("no decisive battle to export")
        return await asyncio.to_thread(write_items, kept, out,
                                       lambda i: images[i.image.sha256], embed=embed_images)

    try:
        count = _with_services(go)
    except RewardFileError as exc:
        raise _fail(f"nothing exported: {exc}") from exc
    typer.echo(f"{count} battles in {out / 'data.jsonl'}")


def register(cli: typer.Typer) -> None:
    cli.add_typer(judge_eval_cli, name="judge-eval")
