"""A missing prerequisite (service, extra, environment) skips a test on a workstation and
fails it under CI=true: CI never passes by skipping."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.conftest as shared


@pytest.mark.parametrize(("in_ci", "outcome"), [(True, pytest.fail.Exception),
                                                 (False, pytest.skip.Exception)])
def test_missing_things_fail_under_ci_and_skip_elsewhere(
    in_ci: bool, outcome: type[BaseException], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared, "IN_CI", in_ci)
    with pytest.raises(outcome, match="no_such_module_for_arena_tests.*pip install it"):
        shared.require_module("no_such_module_for_arena_tests", "pip install it")
    with pytest.raises(outcome, match=r"the thing is missing .*; make it"):
        shared.require_file(tmp_path / "absent", "the thing", "make it")
    with pytest.raises(outcome, match="Redis is not reachable; start it"):
        shared.missing_service("Redis", "start it")


def test_present_things_pass_through(tmp_path: Path) -> None:
    assert shared.require_module("json", "-").dumps(1) == "1"
    assert shared.require_file(tmp_path, "a folder", "-") == tmp_path
