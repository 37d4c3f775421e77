"""`arena categories …`: the category classifier from a terminal (registered on the main CLI).

    arena categories run      label the battles that have no labels under the current
                              (set, template version, judge), with a progress bar
    arena categories status   label counts of a labelling version
    arena categories sets     the built-in sets and the one the registry configures
    arena categories check F  validate a category set file
    arena categories serve    the periodic pass in a process of its own (needs Redis)

The judge, set and template default to the registry's `options.categories` (see
app/judges/categories.py, `CategorizerConfig`); the options override them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from arena_cli.judge import CliFailure, fail, follow_run, local_judges, with_db

app = typer.Typer(help="The category classifier: label battles with VisionArena's (or your) "
                       "categories.", no_args_is_help=True)

JudgeOpt = Annotated[str | None, typer.Option(help="judge model (default: the registry's "
                                                   "options.categories)")]
SetOpt = Annotated[str | None, typer.Option("--set", help="built-in set name or a YAML file")]
TemplateOpt = Annotated[str | None, typer.Option(help="category template, e.g. category@2 "
                                                      "(default: the set's)")]


async def _resolve(settings: Any, sessionmaker: Any, judge: str | None, set_ref: str | None,
                   template: str | None) -> tuple[Any, str, Any]:
    """(category set, judge, registry config or None) from the options and the registry."""
    from app.judges.categories import (
        DEFAULT_SET,
        configured_categorizer,
        load_category_set,
        set_search_dirs,
    )

    async with sessionmaker() as session:
        config = await configured_categorizer(session)
    judge = judge or (config.judge if config else None)
    if judge is None:
        raise CliFailure("no judge: pass --judge, or set options.categories on a judge model "
                         "in the registry (models.yaml; the arena syncs it when it starts)")
    same = config is not None and config.judge == judge
    cset = load_category_set(set_ref or (config.set if same else DEFAULT_SET),
                             base_dirs=set_search_dirs(settings.models_file),
                             template=template or (config.template if same else None))
    return cset, judge, config if same else None


@app.command("run")
def run(
    judge: JudgeOpt = None,
    set_ref: SetOpt = None,
    template: TemplateOpt = None,
    limit: Annotated[int | None, typer.Option(min=1, max=10_000,
                                              help="battles per pass (default: the "
                                                   "registry's batch, or 200)")] = None,
    all_battles: Annotated[bool, typer.Option("--all", help="pass again until no battle "
                                                            "is left")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="wait for the judgments "
                                                                "and apply the labels")] = True,
    local_worker: Annotated[bool | None, typer.Option(
        "--local-worker/--no-local-worker",
        help="run the judge in this process (default: only without ARENA_REDIS_URL)")] = None,
) -> None:
    """Label the battles that have no labels under (set, template version, judge)."""
    from app.judges.categories import LabelVersion, apply_finished, start_pass, version_status

    async def go(settings: Any, sessionmaker: Any) -> Any:
        cset, name, config = await _resolve(settings, sessionmaker, judge, set_ref, template)
        batch = limit or (config.batch if config else 200)
        local = (not settings.redis_url) if local_worker is None else local_worker
        if local and not wait:
            raise CliFailure("--no-wait needs the deployment's workers (ARENA_REDIS_URL): a "
                             "local judge stops with this command")
        version = LabelVersion.of(cset, name)
        typer.echo(f"labelling version: {version.label} · {len(cset.categories)} categories "
                   f"({', '.join(cset.names)})")
        async with local_judges(settings, sessionmaker, [name], local=local) as queue:
            async with sessionmaker() as session:  # runs that finished meanwhile
                await apply_finished(session)
            while True:
                async with sessionmaker() as session:
                    started = await start_pass(session, queue, cset, name, limit=batch,
                                               created_by="cli")
                if started.battles == 0:
                    typer.echo("no battle left to label")
                    break
                typer.echo(f"pass: {started.battles} battles, {started.judgments} judgments, "
                           f"{started.skipped} labels skipped"
                           + (f" · run {started.run_id}" if started.run_id else ""))
                if started.run_id is not None:
                    if not wait:
                        break
                    await follow_run(sessionmaker, started.run_id,
                                     description=f"{cset.name} · {name}")
                    async with sessionmaker() as session:
                        for applied in await apply_finished(session, [started.run_id]):
                            counts = ", ".join(f"{k} {v}"
                                               for k, v in sorted(applied.decisions.items()))
                            typer.echo(f"labels: {counts}; {applied.switched} battles switched"
                                       + (f", {applied.kept} kept a newer labelling"
                                          if applied.kept else ""))
                if not all_battles:
                    break
        async with sessionmaker() as session:
            return await version_status(session, version)

    _print_status(with_db(go))


def _print_status(status: Any) -> None:
    d = status.decisions
    typer.echo(f"{status.version.label}: {status.battles_labelled} battles labelled "
               f"({status.battles_active} showing these labels), {status.backlog} waiting")
    typer.echo("  decisions: " + ", ".join(f"{k} {v}" for k, v in d.items() if v)
               if any(d.values()) else "  decisions: none yet")
    if status.yes_by_category:
        typer.echo("  yes by category: " + ", ".join(
            f"{k} {v}" for k, v in sorted(status.yes_by_category.items())))


@app.command("status")
def status(judge: JudgeOpt = None, set_ref: SetOpt = None, template: TemplateOpt = None) -> None:
    """Label counts of one labelling version (default: the registry's)."""
    from app.judges.categories import LabelVersion, version_status

    async def go(settings: Any, sessionmaker: Any) -> Any:
        cset, name, _ = await _resolve(settings, sessionmaker, judge, set_ref, template)
        async with sessionmaker() as session:
            return await version_status(session, LabelVersion.of(cset, name))

    _print_status(with_db(go))


@app.command("sets")
def sets() -> None:
    """The built-in category sets, and what the registry configures."""
    from app.judges.categories import builtin_sets, load_category_set

    for name, path in builtin_sets().items():
        cset = load_category_set(path)
        typer.echo(f"{name} ({path}): {', '.join(cset.names)} · {cset.template.id}")

    async def go(settings: Any, sessionmaker: Any) -> Any:
        from app.judges.categories import configured_categorizer

        async with sessionmaker() as session:
            return await configured_categorizer(session)

    config = with_db(go)
    if config is None:
        typer.echo("periodic pass: off (no registry model sets options.categories)")
    else:
        typer.echo(f"periodic pass: judge {config.judge}, set {config.set}, every "
                   f"{config.interval_s:g} s, {config.batch} battles a pass"
                   + (f", template {config.template}" if config.template else ""))


@app.command("check")
def check(path: Annotated[Path, typer.Argument(help="a category set YAML file")]) -> None:
    """Validate a category set file and print its categories."""
    from app.judges.categories import CategoryConfigError, load_category_set

    try:
        cset = load_category_set(path)
    except CategoryConfigError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{cset.name}: {len(cset.categories)} categories, template {cset.template.id}, "
               f"digest {cset.digest}")
    for c in cset.categories:
        typer.echo(f"  {c.name} [{c.sees}]: {c.question}")


@app.command("serve")
def serve() -> None:
    """The periodic pass in its own process (the scheduler runs it too); needs Redis."""
    import logging
    import signal

    from workers.categorizer import run_categorizer_process

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def go(settings: Any, sessionmaker: Any) -> None:
        if not settings.redis_url:
            raise CliFailure("`arena categories serve` reaches the workers through Redis: set "
                             "ARENA_REDIS_URL (the embedded demo runs the pass itself)")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_categorizer_process(settings, sessionmaker, stop)

    with_db(go)


def register(cli: typer.Typer) -> None:
    cli.add_typer(app, name="categories")
