"""`arena fire run | report | export | import`: FIRE teacher-student evaluation.

`run` has the student answer items with a ground truth and refine its answer after the
teacher's feedback until the score reaches tau or N refinements were made, through the
workers (the deployment path: Redis and worker processes), with progress bars; killing it
and starting the same command again resumes it. `report` prints the metrics of stored runs
(a table overall and per question kind, a score-against-turn plot), `export` writes a
run's dialogues as FIRE JSON or LLaVA conversations, `import` stores a FIRE test file as an
item set that runs can use (`--items set:NAME`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from arena_cli.bench import _bars, _fail, _with_services

fire_cli = typer.Typer(help="FIRE: teacher-student feedback-refinement evaluation.",
                       no_args_is_help=True)


def _items(spec: str, count: int | None, image_root: Path | None, skip_bad: bool,
           set_name: str | None) -> tuple[str, list[Any], str]:
    """(item set, items or [] for a stored set, a note) for --items."""
    from app.fire.items import DEMO_SET, demo_items, read_fire_file, sample, set_name_for

    if spec == DEMO_SET:
        n = count or 100
        return f"{DEMO_SET}-{n}", demo_items(n), f"{n} demo items (held-out scenes)"
    if spec.startswith("set:"):
        return spec[4:], [], f"stored set {spec[4:]!r}"
    result = read_fire_file(Path(spec), image_root=image_root, skip_bad=skip_bad)
    items = sample(result.items, count)
    return set_name or set_name_for(Path(spec), result.items), items, result.summary()


@fire_cli.command("run")
def run(
    student: Annotated[str, typer.Option(help="registry name of the student model")],
    teacher: Annotated[str, typer.Option(help="registry name of the teacher (a judge)")],
    tau: Annotated[int, typer.Option(help="score that ends a dialogue as reached (1-10)")] = 8,
    turns: Annotated[int, typer.Option(help="refinements after the first answer (N)")] = 3,
    items: Annotated[str, typer.Option(help="demo | a FIRE JSON file | set:NAME (stored "
                                            "with `arena fire import`)")] = "demo",
    count: Annotated[int | None, typer.Option(min=1, help="items (demo: how many; a file: a "
                                                          "seeded sample)")] = None,
    feedback: Annotated[str, typer.Option(help="teacher | uninformative (the control: the "
                                               "student is told only 'Try again.')")]
    = "teacher",
    image_root: Annotated[Path | None, typer.Option(help="folder of a file's images "
                                                         "(default: the file's)")] = None,
    skip_bad: Annotated[bool, typer.Option(help="leave out a file's bad rows (counted) "
                                                "instead of refusing the file")] = False,
    set_name: Annotated[str | None, typer.Option(help="item set name for a file")] = None,
    timeout: Annotated[float | None, typer.Option(help="seconds per stage")] = None,
    plot: Annotated[Path | None, typer.Option(help="write the score-per-turn PNG here")]
    = None,
    out: Annotated[Path | None, typer.Option(help="write the report JSON here")] = None,
) -> None:
    """Run (or resume) FIRE dialogues of a student with a teacher; print the metrics."""
    from app.fire.items import ItemFileError
    from app.fire.runs import FireParams, run_fire
    from app.judges.runs import RunError
    from app.judges.templates import TemplateInputError

    try:
        item_set, chosen, note = _items(items, count, image_root, skip_bad, set_name)
    except ItemFileError as exc:
        raise _fail(f"no run: {exc}") from exc
    params = FireParams(student, teacher, tau, turns, feedback, timeout_s=timeout)
    typer.echo(f"FIRE {student} with teacher {teacher}, tau {tau}, N {turns}, feedback "
               f"{feedback}: {note}", err=True)

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> Any:
        from app.fire.runs import stored_items

        nonlocal chosen
        if not chosen:
            async with sessionmaker() as session:
                chosen = await stored_items(session, blobs, item_set, count)
        with _bars() as bars:
            dialogues = bars.add_task("dialogues finished", total=len(chosen), note="")
            stage = bars.add_task("round", total=None, note="")

            def on_round(round_: int, finished: int, total: int) -> None:
                bars.update(dialogues, completed=finished, total=total,
                            note=f"round {round_}")

            def on_progress(name: str, p: Any) -> None:
                bars.update(stage, description=name, completed=p.finished, total=p.total,
                            note=f"{p.parse_failures} unparsable" if p.parse_failures else "")

            return await run_fire(sessionmaker, queue, blobs, params, item_set, chosen,
                                  on_progress=on_progress, on_round=on_round)

    try:
        result = _with_services(go)
    except (RunError, ItemFileError, TemplateInputError) as exc:
        raise _fail(f"FIRE run stopped: {exc}") from exc
    _print_reports([result.metrics], plot)
    typer.echo(f"run {result.id}")
    if out is not None:
        out.write_text(json.dumps({"run": str(result.id), **result.metrics}, indent=2) + "\n")


def _label(m: dict[str, Any]) -> str:
    return f"{m['student']} ({m['feedback']})"


def _kind_cell(km: dict[str, Any] | None) -> str:
    from app.fire.metrics import fmt

    if km is None:
        return "–"
    adr = "–" if km["adr"] is None else f"{km['adr']:+.2f}"
    return f"{fmt(km['rr'], True)} of {km['rr_base']} · {adr}"


def _print_reports(reports: list[dict[str, Any]], plot: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from app.fire.metrics import METRICS_VERSION, TABLE_HEADER, FreeMetrics, table_rows

    console = Console()
    table = Table(title=f"FIRE free dialogues ({METRICS_VERSION}: our reconstructed "
                        "definitions, see the README)")
    for col in ["run", *TABLE_HEADER[1:]]:
        table.add_column(col, justify="left" if col == "run" else "right")
    for m in reports:
        for row in table_rows({_label(m): FreeMetrics(**m["overall"])}):
            table.add_row(*row)
    console.print(table)
    kinds = sorted({k for m in reports for k in m["by_kind"]})
    if kinds != ["all"]:
        per = Table(title="per question kind: RR (recovered of those below tau) · ADR")
        per.add_column("run")
        for k in kinds:
            per.add_column(k, justify="right")
        for m in reports:
            per.add_row(_label(m), *(_kind_cell(m["by_kind"].get(k)) for k in kinds))
        console.print(per)
    if plot is not None:
        from app.fire.plots import score_plot_png

        plot.write_bytes(score_plot_png({_label(m): m["curve"] for m in reports},
                                        reports[0]["tau"]))
        console.print(f"plot: {plot}")


@fire_cli.command("report")
def report(
    runs: Annotated[str | None, typer.Option(help="run ids (or prefixes), comma separated; "
                                                  "default: the latest 20")] = None,
    plot: Annotated[Path | None, typer.Option(help="write the score-per-turn PNG here")]
    = None,
) -> None:
    """Print the stored metrics of FIRE runs (overall and per question kind)."""
    from app.fire.runs import FireRunError, find_runs

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> Any:
        async with sessionmaker() as session:
            return [r.metrics for r in await find_runs(
                session, [x for x in (runs or "").split(",") if x]) if r.metrics]

    try:
        reports = _with_services(go)
    except FireRunError as exc:
        raise _fail(str(exc)) from exc
    if not reports:
        raise _fail("no finished FIRE run")
    _print_reports(reports, plot)


@fire_cli.command("export")
def export(
    run_id: Annotated[str, typer.Option("--run", help="run id (or a prefix)")],
    out: Annotated[Path, typer.Option(help="folder to write into (created)")],
    fmt: Annotated[str, typer.Option("--format", help="fire | llava-student | "
                                                      "llava-teacher")] = "fire",
) -> None:
    """Write a run's dialogues (JSON) and their images (images/<sha256>.png)."""
    from app.fire.export import FORMATS
    from app.fire.runs import FireRunError, export_run

    if fmt not in FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(FORMATS)}")

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> Any:
        return await export_run(sessionmaker, blobs, run_id, fmt, out)

    try:
        path, n = _with_services(go)
    except FireRunError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"{n} records in {path}")


@fire_cli.command("fixed")
def fixed(
    student: Annotated[str, typer.Option(help="registry name of the student model")],
    teacher: Annotated[str, typer.Option(help="registry name of the teacher (a judge)")],
    references: Annotated[str, typer.Option(help="demo | a FIRE JSON file with "
                                                 "student_history, teacher_history, "
                                                 "scores")] = "demo",
    count: Annotated[int, typer.Option(min=1, help="demo reference dialogues")] = 100,
    image_root: Annotated[Path | None, typer.Option(help="folder of a file's images")]
    = None,
    timeout: Annotated[float | None, typer.Option(help="seconds per stage")] = None,
    out: Annotated[Path | None, typer.Option(help="write the metrics JSON here")] = None,
) -> None:
    """Fixed dialogues: BLEU-1..4 and CIDEr of the student's continuations of reference
    dialogues, and the MAE of the teacher's scores of the reference answers."""
    from app.fire.fixed import demo_references, read_references, run_fixed
    from app.fire.items import ItemFileError
    from app.fire.runs import FireParams
    from app.judges.runs import RunError

    try:
        refs = demo_references(count) if references == "demo" else read_references(
            Path(references), image_root)
    except (ItemFileError, OSError, ValueError) as exc:
        raise _fail(f"no run: {exc}") from exc

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> Any:
        return await run_fixed(sessionmaker, queue, blobs,
                               FireParams(student, teacher, timeout_s=timeout), refs)

    try:
        result = _with_services(go)
    except RunError as exc:
        raise _fail(f"FIRE fixed run stopped: {exc}") from exc
    typer.echo(json.dumps(result, indent=2))
    if out is not None:
        out.write_text(json.dumps(result, indent=2) + "\n")


@fire_cli.command("import")
def import_items(
    path: Annotated[Path, typer.Argument(help="a FIRE test JSON file")],
    set_name: Annotated[str, typer.Option("--set", help="the item set's name")],
    image_root: Annotated[Path | None, typer.Option(help="folder of its images")] = None,
    skip_bad: Annotated[bool, typer.Option(help="leave out bad rows (counted)")] = False,
) -> None:
    """Store a FIRE test file as an item set (all rows or none)."""
    from app.fire.items import ItemFileError
    from app.fire.runs import FireRunError, import_file

    async def go(settings: Any, sessionmaker: Any, queue: Any, blobs: Any) -> Any:
        return await import_file(sessionmaker, blobs, path, set_name, image_root=image_root,
                                 skip_bad=skip_bad)

    try:
        n, summary = _with_services(go)
    except (ItemFileError, FireRunError) as exc:
        raise _fail(f"nothing imported: {exc}") from exc
    typer.echo(f"set {set_name!r}: {n} items ({summary})")


def register(cli: typer.Typer) -> None:
    cli.add_typer(fire_cli, name="fire")
