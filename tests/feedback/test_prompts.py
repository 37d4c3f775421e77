"""Imported prompt files: JSON Lines or a JSON list, images relative to the file; a file with
any bad row is refused whole, every problem listed with its line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from app.demo.shapes import random_scene, render_png
from app.feedback.prompts import MAX_PROMPT_CHARS, PromptFileError, load_prompt_file


@pytest.fixture
def images(tmp_path: Path) -> list[bytes]:
    out = []
    for i in range(3):
        data = render_png(random_scene(700 + i))
        (tmp_path / f"s{i}.png").write_bytes(data)
        out.append(data)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s0.png").write_bytes(out[0])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    return out


def write(tmp_path: Path, rows: list, name: str = "p.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_jsonl_and_json_lists_load(tmp_path: Path, images: list[bytes]) -> None:
    rows = [{"id": "a", "prompt": " What colour? ", "image": "s0.png"},
            {"id": 7, "prompt": "How many?", "img_path": "sub/s0.png"},
            {"id": "c", "prompt": "Where?", "image": str(tmp_path / "s2.png")}]
    for path in (write(tmp_path, [*rows[:1], "", *rows[1:]]),
                 tmp_path / "p.json"):
        if path.suffix == ".json":
            path.write_text(json.dumps(rows))
        prompts = load_prompt_file(path)
        assert [p.id for p in prompts] == ["a", "7", "c"]
        assert prompts[0].prompt == "What colour?"
        assert prompts[1].image_data == images[0]
        assert prompts[2].image_sha256 == hashlib.sha256(images[2]).hexdigest()
        assert all(p.battle_id is None and p.fixed == () for p in prompts)


def test_every_bad_row_is_reported_and_nothing_is_imported(tmp_path: Path,
                                                           images: list[bytes]) -> None:
    path = write(tmp_path, [
        {"id": "ok", "prompt": "Fine?", "image": "s0.png"},
        '{"id": "x", "prompt": ',                                  # 2: not JSON
        {"id": "m", "prompt": "Where?", "image": "nowhere.png"},   # 3: missing image
        {"id": "b", "prompt": "Broken?", "image": "broken.png"},   # 4: not an image
        {"id": "ok", "prompt": "Again?", "image": "s1.png"},       # 5: repeated id
        {"id": "e", "prompt": "  ", "image": "s1.png"},            # 6: empty prompt
        {"id": "l", "prompt": "x" * (MAX_PROMPT_CHARS + 1), "image": "s1.png"},  # 7
        ["not", "an", "object"],                                   # 8
        {"id": "k", "prompt": "Q?", "image": "s1.png", "answer": "no"},  # 9: unknown key
        {"prompt": "No id?", "image": "s1.png"},                   # 10
        {"id": "t", "prompt": "Two?", "image": "s1.png", "img_path": "s2.png"},  # 11
        {"id": "n", "prompt": "No image?"},                        # 12
    ])
    with pytest.raises(PromptFileError) as err:
        load_prompt_file(path)
    problems = err.value.problems
    expected = {
        "line 2": "not valid JSON", "line 3": "does not exist",
        "line 4": "not a readable image", "line 5": "repeats line 1",
        "line 6": "prompt must be a non-empty string", "line 7": "characters (at most",
        "line 8": "must be an object", "line 9": "unknown keys ['answer']",
        "line 10": "id must be a non-empty string", "line 11": "not both",
        "line 12": "image must be a path",
    }
    for where, why in expected.items():
        assert any(p.startswith(f"{where}:") and why in p for p in problems), (where, problems)
    assert not any(p.startswith("line 1:") for p in problems)
    assert "nothing was imported" in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("content, why", [
    ("", "the file is empty"),
    ("[1, 2", "not valid JSON"),
    ("\n\n", "no prompts"),
    (b"\xff\xfe{", "not UTF-8"),
])
def test_unusable_files(tmp_path: Path, content: str | bytes, why: str) -> None:
    path = tmp_path / "f.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(PromptFileError, match=why):
        load_prompt_file(path)
    with pytest.raises(PromptFileError, match="does not exist"):
        load_prompt_file(tmp_path / "absent.jsonl")
