"""FIRE's metrics: free dialogues (AT, ADR, ATR, RR, share reaching tau) and fixed
dialogues (BLEU-1..4, CIDEr, teacher-score MAE).

FIRE's public code does not define the free-dialogue metrics and the paper text was not
available, so these are OUR RECONSTRUCTION, versioned as `METRICS_VERSION` (stored with
every report; a change of definition is a new version). With s0 the first score, sf the
last, n the refinement turns taken (N when tau is never reached):

- AT  = mean n, over dialogues that did not fail;
- ADR = mean (sf - s0), over dialogues that did not fail;
- ATR = mean (sf - s0) / n, over dialogues that did not fail with n >= 1;
- RR  = share of the dialogues with s0 < tau that end with sf >= tau (a dialogue that
  failed after its first score counts as not recovered);
- reached = share of all dialogues that reach tau at all (failures count as not reached).

A failed dialogue (teacher reply unparsable, score 0, feedback stating the ground truth,
student generation failed) is counted by reason. Pure: numbers in, numbers out.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

METRICS_VERSION = "fire-free-v1"
FIXED_VERSION = "fire-fixed-v1"
UNPARSABLE_ERROR = 10.0  # a teacher score that does not parse counts as this absolute error


@dataclass(frozen=True)
class DialogueScores:
    """One dialogue as the metrics see it: the teacher's scores in turn order, how it ended
    ("reached", "exhausted", "failed"), the reason of a failure, the question kind."""

    scores: tuple[int, ...]
    status: str
    failure: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class FreeMetrics:
    dialogues: int
    scored: int  # dialogues with a first score
    failed: int
    started_above: int  # s0 >= tau: nothing to refine
    at: float | None
    adr: float | None
    atr: float | None
    rr: float | None
    rr_base: int  # dialogues with s0 < tau (RR's denominator)
    reached: float | None
    failures: dict[str, int] = field(default_factory=dict)
    version: str = METRICS_VERSION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def failure_reason(failure: str | None) -> str:
    """A failure message's reason class: the part before the colon."""
    return (failure or "unknown").split(":")[0]


def free_metrics(dialogues: Iterable[DialogueScores], *, tau: int) -> FreeMetrics:
    ds = list(dialogues)
    done = [d for d in ds if d.status != "failed" and d.scores]
    refined = [d for d in done if len(d.scores) > 1]
    below = [d for d in ds if d.scores and d.scores[0] < tau]
    return FreeMetrics(
        dialogues=len(ds), scored=sum(bool(d.scores) for d in ds),
        failed=sum(d.status == "failed" for d in ds),
        started_above=sum(bool(d.scores) and d.scores[0] >= tau for d in ds),
        at=_mean([len(d.scores) - 1 for d in done]),
        adr=_mean([d.scores[-1] - d.scores[0] for d in done]),
        atr=_mean([(d.scores[-1] - d.scores[0]) / (len(d.scores) - 1) for d in refined]),
        rr=_mean([float(d.status == "reached") for d in below]), rr_base=len(below),
        reached=_mean([float(d.status == "reached") for d in ds]),
        failures=dict(Counter(failure_reason(d.failure) for d in ds if d.status == "failed")),
    )


def by_kind(dialogues: Iterable[DialogueScores], *, tau: int) -> dict[str, FreeMetrics]:
    groups: dict[str, list[DialogueScores]] = {}
    for d in dialogues:
        groups.setdefault(d.kind or "all", []).append(d)
    return {k: free_metrics(v, tau=tau) for k, v in sorted(groups.items())}


def score_curve(dialogues: Iterable[DialogueScores], max_turns: int) -> list[float | None]:
    """Mean score at each turn 0..N over dialogues that have a first score; a dialogue that
    stopped (at tau, or exhausted) keeps its last score for the later turns."""
    rows = [d.scores for d in dialogues if d.scores]
    if not rows:
        return [None] * (max_turns + 1)
    return [sum(s[min(t, len(s) - 1)] for s in rows) / len(rows) for t in range(max_turns + 1)]


# --- fixed dialogues ---------------------------------------------------------------------

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> str:
    """Lower-cased words and punctuation, space separated (what CIDEr's scorer expects;
    the COCO toolkit's PTB tokenizer needs Java)."""
    return " ".join(_TOKEN.findall(text.lower()))


def bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Corpus BLEU-1..4 (sacrebleu, 0-100), each hypothesis against its references."""
    import sacrebleu

    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError("BLEU needs one list of references per hypothesis (and at least one)")
    width = max(len(r) for r in references)
    streams = [[r[i] if i < len(r) else "" for r in references] for i in range(width)]
    out = {}
    for n in range(1, 5):
        metric = sacrebleu.metrics.BLEU(max_ngram_order=n, effective_order=True)
        out[f"bleu{n}"] = round(float(metric.corpus_score(list(hypotheses), streams).score), 3)
    return out


def cider(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus CIDEr (pycocoevalcap's CIDEr-D scorer on our tokenization)."""
    from pycocoevalcap.cider.cider import Cider

    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError("CIDEr needs one list of references per hypothesis (and at least one)")
    gts = {str(i): [tokenize(r) for r in refs] for i, refs in enumerate(references)}
    res = {str(i): [tokenize(h)] for i, h in enumerate(hypotheses)}
    score, _ = Cider().compute_score(gts, res)
    return round(float(score), 4)


def score_mae(predicted: Sequence[int | None], reference: Sequence[int]) -> float:
    """Mean absolute error of the teacher's scores; None (unparsable) counts as
    `UNPARSABLE_ERROR`."""
    if len(predicted) != len(reference) or not reference:
        raise ValueError("MAE needs as many predicted as reference scores (at least one)")
    errors = [UNPARSABLE_ERROR if p is None else abs(p - r)
              for p, r in zip(predicted, reference, strict=True)]
    return sum(errors) / len(errors)


def fixed_metrics(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                  predicted: Sequence[int | None], reference_scores: Sequence[int]
                  ) -> dict[str, Any]:
    out: dict[str, Any] = {"version": FIXED_VERSION, "answers": len(hypotheses)}
    out.update(bleu(hypotheses, references))
    out["cider"] = cider(hypotheses, references)
    out["teacher_mae"] = score_mae(predicted, reference_scores)
    out["teacher_unparsable"] = sum(p is None for p in predicted)
    return out


def fmt(value: float | None, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.0%}" if pct else f"{value:.2f}"


def table_rows(results: Mapping[str, FreeMetrics]) -> list[list[str]]:
    """Rows (label, dialogues, AT, ADR, ATR, RR, reached, failed) for a printed table."""
    return [[label, str(m.dialogues), fmt(m.at), fmt(m.adr), fmt(m.atr),
             f"{fmt(m.rr, True)} of {m.rr_base}", fmt(m.reached, True), str(m.failed)]
            for label, m in results.items()]


TABLE_HEADER = ["", "dialogues", "AT", "ADR", "ATR", "RR", "reach τ", "failed"]
