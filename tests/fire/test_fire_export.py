"""FIRE exports: the test-item JSON with the dialogue, LLaVA conversations for students
and teachers (the FIRE file reads back as items; the teacher's prompt is fire-teacher@1)."""

from __future__ import annotations

import json
from pathlib import Path

from app.demo.shapes import random_scene, render_png
from app.fire.export import ExportDialogue, ExportTurn, export_records
from app.fire.items import read_fire_file

DIALOGUE = ExportDialogue(
    "d1", "images/x.png", "What colour is the shape on the left?",
    "The shape on the left is red.", "reached", None,
    [ExportTurn("The shape on the left is blue.", 2, "The colour is wrong. Look again."),
     ExportTurn("The shape on the left is red.", 10, "Correct. Nothing to fix.")],
    "colour_at")


def test_fire_json_round_trips_as_items(tmp_path: Path) -> None:
    (rec,) = export_records([DIALOGUE], "fire")
    assert rec["raw"] == {"question": DIALOGUE.question, "groundtruth": DIALOGUE.ground_truth}
    assert rec["student_history"] == [t.answer for t in DIALOGUE.turns]
    assert rec["teacher_history"] == [t.feedback for t in DIALOGUE.turns]
    assert rec["scores"] == [2, 10] and rec["status"] == "reached"
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "x.png").write_bytes(render_png(random_scene(3)))
    (tmp_path / "fire.json").write_text(json.dumps([rec]))
    (item,) = read_fire_file(tmp_path / "fire.json").items
    assert (item.item_id, item.question, item.ground_truth) == (
        "d1", DIALOGUE.question, DIALOGUE.ground_truth)


def test_llava_conversations() -> None:
    (student,) = export_records([DIALOGUE], "llava-student")
    assert [(m["from"], m["value"]) for m in student["conversations"]] == [
        ("human", "<image>\nWhat colour is the shape on the left?"),
        ("gpt", "The shape on the left is blue."),
        ("human", "The colour is wrong. Look again."),
        ("gpt", "The shape on the left is red.")]
    (control,) = export_records([DIALOGUE], "llava-student", feedback="uninformative")
    assert control["conversations"][2]["value"] == "Try again."
    teacher = export_records([DIALOGUE], "llava-teacher")
    assert len(teacher) == 2
    human, gpt = teacher[0]["conversations"]
    assert human["value"].startswith("<image>\nYou are a teacher")
    assert "Ground truth: The shape on the left is red." in human["value"]
    assert gpt["value"] == "Score: 2\nFeedback: The colour is wrong. Look again."


def test_score_plot_is_a_png_with_one_line_per_run() -> None:
    import io

    from PIL import Image

    from app.fire.plots import score_plot_png

    png = score_plot_png({"base (teacher)": [4.0, 6.0, 6.5, None],
                          "student (teacher)": [5.0, 8.0, 9.0, 9.5]}, tau=8)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.size[0] > 400
    assert score_plot_png({}, tau=8).startswith(b"\x89PNG")
