"""Dependencies point inward (docs: DESIGN.md "Depend inward").

- `app` never imports `workers` (the entry point `arena_cli` composes the two);
- `app.ranking` is pure: of our code it imports only `app.ranking` itself.

Every import statement counts, also those inside functions and `TYPE_CHECKING` blocks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from app.config import REPO_ROOT

APP = Path(REPO_ROOT) / "app"
OUR_PACKAGES = {"app", "workers", "arena_cli", "tests", "benchmarks", "migrations"}


def _imports_in(source: str, package: str, filename: str = "<src>") -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, a module of `package`."""
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if not node.level:
                yield node.lineno, node.module or ""
                continue
            parts = package.split(".")  # relative: resolve against this module's package
            base = ".".join(parts[: len(parts) - node.level + 1])
            if node.module:
                yield node.lineno, f"{base}.{node.module}"
            else:  # `from .. import x`: x may be a module
                for alias in node.names:
                    yield node.lineno, f"{base}.{alias.name}"


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    dotted = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
    package = dotted.removesuffix(".__init__") if path.name == "__init__.py" \
        else dotted.rpartition(".")[0]
    return _imports_in(path.read_text(encoding="utf-8"), package, str(path))


def _where(path: Path, line: int, module: str) -> str:
    return f"{path.relative_to(REPO_ROOT)}:{line}: imports {module}"


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def test_app_never_imports_workers() -> None:
    bad = [
        _where(path, line, module)
        for path in sorted(APP.rglob("*.py"))
        for line, module in _imports(path)
        if _top(module) in {"workers", "arena_cli"}
    ]
    assert not bad, "app/ must not import workers/ or the entry point:\n" + "\n".join(bad)


def test_ranking_imports_nothing_of_ours() -> None:
    files = sorted((APP / "ranking").rglob("*.py"))
    assert files, "app/ranking/ has no modules"
    bad = [
        _where(path, line, module)
        for path in files
        for line, module in _imports(path)
        if _top(module) in OUR_PACKAGES
        and not (module == "app.ranking" or module.startswith("app.ranking."))
    ]
    assert not bad, "app/ranking/ may import only app.ranking of our code:\n" + "\n".join(bad)


def test_the_scan_sees_nested_and_relative_imports() -> None:
    """The checker itself: imports inside functions and relative imports count."""
    source = ("import numpy\n"
              "def f():\n"
              "    from workers.worker import Worker\n"
              "    from .. import db\n"
              "    from .elo import fit_elo\n")
    assert list(_imports_in(source, "app.ranking")) == [
        (1, "numpy"), (3, "workers.worker"), (4, "app.db"), (5, "app.ranking.elo"),
    ]
