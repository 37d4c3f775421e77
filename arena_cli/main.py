"""The `arena` Typer app: every command group registered on one `cli`."""

from __future__ import annotations

import signal

import typer

from arena_cli import (
    admin,
    bench,
    categories,
    feedback,
    fire,
    judge,
    judge_eval,
    leaderboard,
    release,
    serving,
    train,
    truth_check,
)

cli = typer.Typer(help="vlm-arena: anonymous side-by-side battles between VLMs.",
                  no_args_is_help=True)
serving.register(cli)
admin.register(cli)
leaderboard.register(cli)
truth_check.register(cli)
bench.register(cli)
judge.register(cli)
categories.register(cli)
release.register(cli)
feedback.register(cli)
fire.register(cli)
judge_eval.register(cli)
train.register(cli)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    cli()


if __name__ == "__main__":
    main()
