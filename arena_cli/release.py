"""`arena release`: a research dataset release of a date range (registered on the main
CLI). The release itself is `app.release.build`; this composes settings, database, blob
store and the progress bars."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer


def _when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO date or date-time") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def terms_text(root: Path) -> str:
    """The terms page's sentences, as plain text for the card."""
    path = root / "templates" / "terms.html"
    if not path.is_file():
        return ""
    html = path.read_text(encoding="utf-8")
    items = re.findall(r"<(?:p|li)>(.*?)</(?:p|li)>", html, flags=re.S)
    text = [" ".join(re.sub(r"<[^>]+>|\{%.*?%\}|\{\{.*?\}\}", "", i).split()) for i in items]
    return "\n".join(f"- {t}" for t in text if t)


def _progress_hook(progress: Any) -> Any:
    tasks: dict[str, Any] = {}

    def hook(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    return hook


def register(cli: typer.Typer) -> None:
    @cli.command("release")
    def release(
        start: Annotated[str, typer.Option("--from", help="first moment (ISO date or time, UTC)")],
        end: Annotated[str, typer.Option("--to", help="end of the range, excluded")],
        out: Annotated[Path, typer.Option(help="the release folder to write")],
        image_pii: Annotated[str, typer.Option(help="images with faces or printed PII: "
                                               "drop or blur")] = "drop",
        nsfw_threshold: Annotated[float | None, typer.Option(
            help="NSFW probability that drops (default: ARENA_NSFW_BLOCK)")] = None,
        dedup_quantile: Annotated[float, typer.Option(help="prompts counted more often than "
                                                      "this quantile are down-sampled")] = 0.9999,
        shard_mb: Annotated[int, typer.Option(help="bound of one Parquet shard (MB)")] = 500,
        seed: Annotated[int, typer.Option(help="seed of the dedup sampling")] = 42,
        license_: Annotated[str, typer.Option("--license", help="the dataset's license")]
        = "cc-by-4.0",
        force: Annotated[bool, typer.Option(help="replace an existing folder")] = False,
        push: Annotated[str | None, typer.Option(help="then upload to this HF dataset repo "
                                                 "(or a local folder)")] = None,
    ) -> None:
        """Release the conversations and battles of [--from, --to) with their images,
        filtered (consent, moderation, identity leaks, PII, NSFW, dedup), with a card
        and a manifest."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from app.config import get_settings
        from app.leaderboard.load import load_model_info
        from app.release.build import ReleaseParams, build_release
        from app.release.errors import ReleaseError
        from app.release.exports import REPLAY_COMMAND
        from app.release.push import push_release
        from app.storage.blobs import LocalBlobStore
        from arena_cli.leaderboard import _with_db

        console = Console()
        if image_pii not in ("drop", "blur"):
            raise typer.BadParameter("--image-pii is drop or blur")
        settings = get_settings()
        store = LocalBlobStore(settings.blobs_path)
        root = Path(__file__).resolve().parent.parent

        async def go(sm: Any) -> Any:
            async with sm() as session:
                models = await load_model_info(session)
            params = ReleaseParams(
                start=_when(start), end=_when(end), out_dir=out,
                terms_versions=(settings.terms_version,),
                identity_names={n: m.identity_words for n, m in models.items()},
                image_pii_action=image_pii,  # type: ignore[arg-type]
                nsfw_threshold=settings.nsfw_block if nsfw_threshold is None else nsfw_threshold,
                dedup_quantile=dedup_quantile, seed=seed,
                shard_bytes=shard_mb * 1024 * 1024, license=license_,
                terms_text=terms_text(root), force=force)
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                          MofNCompleteColumn(), console=console) as progress:
                return await build_release(sm, store.read_sync, params,
                                           progress=_progress_hook(progress))

        try:
            result = _with_db(go)
            rows = result.manifest["rows"]
            console.print(f"released {rows['chat']} chat rows, {rows['battle']} battle rows, "
                          f"{rows['replay']} replay prompts into {result.folder}")
            for f in result.manifest["filters"]:
                console.print(f"  {f['name']}: chat -{f['chat_removed']}, battle "
                              f"-{f['battle_removed']}, changed {f['changed']}")
            console.print("replay: " + REPLAY_COMMAND.format(folder=result.folder,
                                                             n=rows["replay"]))
            if push:
                console.print(f"pushed to {push_release(result.folder, push)}")
        except ReleaseError as exc:
            console.print(f"[red]release failed, nothing published:[/red] {exc}")
            raise typer.Exit(1) from exc
