"""Bad input to `arena train dpo|sft`: a clear error, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from arena_cli.main import cli

runner = CliRunner()


def run(*args: str):
    return runner.invoke(cli, ["train", *args])


def nothing_written(out: Path) -> bool:
    return not out.exists() and not list(out.parent.glob(f".{out.name}.*"))


def bad_folder(tmp_path: Path, table: pa.Table) -> Path:
    """A data folder holding `table` as its only shard."""
    data = tmp_path / "bad" / "data"
    data.mkdir(parents=True)
    pq.write_table(table, data / "train-00000-of-00001.parquet")
    return data.parent


def rows_of(folder: Path) -> list[dict]:
    return pq.read_table(next((folder / "data").glob("*.parquet"))).to_pylist()


def refused(result, out: Path, *words: str) -> None:
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "not trained" in text and all(w in text for w in words), text
    assert nothing_written(out)


def test_empty_data_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    refused(run("dpo", "--model", "shapes-small", "--data", str(tmp_path / "empty"),
                "--out", str(out)), out, "no parquet files")


def test_missing_data_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    refused(run("sft", "--model", "shapes-small", "--data", str(tmp_path / "nope"),
                "--out", str(out)), out, "does not exist")


def test_missing_columns(tmp_path: Path, train_pairs: Path) -> None:
    table = pa.Table.from_pylist(rows_of(train_pairs)).drop_columns(["rejected", "source"])
    bad = bad_folder(tmp_path, table)
    out = tmp_path / "out"
    refused(run("dpo", "--model", "shapes-small", "--data", str(bad), "--out", str(out)),
            out, "lacks the columns", "'rejected'", "'source'")


@pytest.mark.parametrize(("column", "value", "words"), [
    ("source", "robot", ("source must be one of",)),
    ("chosen", [{"role": "assistant", "content": [{"type": "text", "text": "  "}]}],
     ("chosen has no text",)),
])
def test_bad_rows(tmp_path: Path, train_pairs: Path, column: str, value, words) -> None:
    rows = rows_of(train_pairs)
    rows[3][column] = value
    bad = bad_folder(tmp_path, pa.Table.from_pylist(rows))
    out = tmp_path / "out"
    refused(run("dpo", "--model", "shapes-small", "--data", str(bad), "--out", str(out)),
            out, "row 3", *words)


def test_unreadable_image(tmp_path: Path, train_pairs: Path) -> None:
    rows = rows_of(train_pairs)
    rows[5]["images"] = [{"bytes": b"not an image", "path": None}]
    bad = bad_folder(tmp_path, pa.Table.from_pylist(rows))
    out = tmp_path / "out"
    refused(run("dpo", "--model", "shapes-small", "--data", str(bad), "--out", str(out)),
            out, "row 5", "not a readable image")


def test_unknown_model(tmp_path: Path, train_pairs: Path) -> None:
    out = tmp_path / "out"
    refused(run("dpo", "--model", "shapes-giant", "--data", str(train_pairs), "--out",
                str(out)), out, "unknown model 'shapes-giant'", "shapes-small")


def test_output_folder_not_empty(tmp_path: Path, train_pairs: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run("dpo", "--model", "shapes-small", "--data", str(train_pairs), "--out", str(out))
    assert result.exit_code == 2 and "not empty" in " ".join(result.output.split())
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("option", [("--steps", "0"), ("--lr", "-1"), ("--beta", "0"),
                                    ("--pairs", "sideways")])
def test_bad_settings(tmp_path: Path, train_pairs: Path, option: tuple[str, str]) -> None:
    out = tmp_path / "out"
    refused(run("dpo", "--model", "shapes-small", "--data", str(train_pairs), "--out", str(out),
                *option), out)


def test_corrupt_parquet(tmp_path: Path) -> None:
    data = tmp_path / "bad" / "data"
    data.mkdir(parents=True)
    (data / "train-00000-of-00001.parquet").write_bytes(b"PAR1 not really")
    out = tmp_path / "out"
    refused(run("dpo", "--model", "shapes-small", "--data", str(data.parent), "--out",
                str(out)), out, "can not be loaded")
