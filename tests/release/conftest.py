"""The release tests use the leaderboard tests' fresh, migrated PostgreSQL database per
module (``lb_pg_url``, ``lb_sm``) and a blob store of their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.leaderboard.conftest import lb_pg_url, lb_sm

__all__ = ["blob_dir", "lb_pg_url", "lb_sm"]


@pytest.fixture(scope="module")
def blob_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("release-blobs")
