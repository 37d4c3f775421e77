"""FIRE metrics on hand-made score sequences (fire-free-v1), and the fixed-dialogue
metrics on hand-made answers."""

from __future__ import annotations

import pytest

from app.fire.dialogue import Turn, next_step, student_history
from app.fire.metrics import (
    METRICS_VERSION,
    DialogueScores,
    bleu,
    by_kind,
    cider,
    fixed_metrics,
    free_metrics,
    score_curve,
    score_mae,
)

TAU = 8


def test_reached_at_the_first_refinement() -> None:
    m = free_metrics([DialogueScores((2, 9), "reached")], tau=TAU)
    assert (m.at, m.adr, m.atr, m.rr, m.rr_base, m.reached) == (1, 7, 7, 1.0, 1, 1.0)


def test_never_reached() -> None:
    m = free_metrics([DialogueScores((2, 5, 5, 6), "exhausted")], tau=TAU)
    assert (m.at, m.adr, m.atr, m.rr, m.reached) == (3, 4, 4 / 3, 0.0, 0.0)


def test_started_above_tau() -> None:
    m = free_metrics([DialogueScores((10,), "reached")], tau=TAU)
    assert (m.at, m.adr, m.atr, m.rr, m.rr_base, m.reached, m.started_above) == (
        0, 0, None, None, 0, 1.0, 1)


def test_failures_are_counted_and_kept_out_of_the_means() -> None:
    ds = [DialogueScores((2, 10), "reached"),
          DialogueScores((3,), "failed", "teacher reply unusable: score 0"),
          DialogueScores((), "failed", "student: generation failed (x)"),
          DialogueScores((2, 2), "failed", "teacher feedback states the ground truth: red")]
    m = free_metrics(ds, tau=TAU)
    assert m.failed == 3 and m.scored == 3 and m.dialogues == 4
    assert (m.at, m.adr, m.atr) == (1, 8, 8)  # the only dialogue that did not fail
    assert (m.rr, m.rr_base) == (1 / 3, 3)  # failed after a first score: not recovered
    assert m.reached == 1 / 4
    assert m.failures == {"teacher reply unusable": 1, "student": 1,
                          "teacher feedback states the ground truth": 1}
    assert m.version == METRICS_VERSION


def test_mixed_means_curve_and_kinds() -> None:
    ds = [DialogueScores((10,), "reached", kind="count"),
          DialogueScores((2, 10), "reached", kind="colour_at"),
          DialogueScores((2, 2, 5, 5), "exhausted", kind="colour_at")]
    m = free_metrics(ds, tau=TAU)
    assert m.at == pytest.approx(4 / 3)
    assert m.adr == pytest.approx((0 + 8 + 3) / 3)
    assert m.atr == pytest.approx((8 + 1) / 2)
    assert (m.rr, m.rr_base) == (0.5, 2)
    assert score_curve(ds, 3) == pytest.approx([14 / 3, 22 / 3, 25 / 3, 25 / 3])
    kinds = by_kind(ds, tau=TAU)
    assert set(kinds) == {"colour_at", "count"} and kinds["count"].rr is None
    assert free_metrics([], tau=TAU).at is None


def test_dialogue_rules_stop_at_tau_or_n_and_on_failure() -> None:
    assert next_step([], tau=8, max_turns=3) == ("student", "open")
    assert next_step([Turn(0, "a")], tau=8, max_turns=3) == ("teacher", "open")
    assert next_step([Turn(0, "a", 9, "ok")], tau=8, max_turns=3) == ("done", "reached")
    assert next_step([Turn(0, "a", 2, "f")], tau=8, max_turns=3) == ("student", "open")
    done = [Turn(i, "a", 2, "f") for i in range(4)]
    assert next_step(done, tau=8, max_turns=3) == ("done", "exhausted")
    assert next_step(done[:1], tau=8, max_turns=0) == ("done", "exhausted")
    assert next_step([Turn(0, "a", None, None, "teacher reply unusable: x")]) == (
        "done", "failed")
    assert student_history(done[:2]) == ["a", "f", "a", "f"]
    assert student_history(done[:2], "uninformative") == ["a", "Try again.", "a", "Try again."]


def test_fixed_dialogue_metrics() -> None:
    refs = [["The shape on the left is red."], ["There are two shapes."]]
    same = bleu(["The shape on the left is red.", "There are two shapes."], refs)
    assert all(v == pytest.approx(100.0) for v in same.values())
    off = bleu(["The shape on the left is blue.", "There are three shapes."], refs)
    assert off["bleu1"] > off["bleu2"] > off["bleu3"] > off["bleu4"] > 0
    assert cider(["The shape on the left is blue.", "There are three shapes."], refs) < \
        cider(["The shape on the left is red.", "There are two shapes."], refs)
    assert score_mae([10, 5, None], [10, 2, 2]) == pytest.approx((0 + 3 + 10) / 3)
    m = fixed_metrics(["a b c"], [["a b c"]], [None], [4])
    assert m["teacher_mae"] == 10 and m["teacher_unparsable"] == 1
    with pytest.raises(ValueError):
        score_mae([1], [])
    with pytest.raises(ValueError):
        bleu([], [])
