"""`python -m arena_cli ...` is the `arena` command."""

from arena_cli.main import main

main()
