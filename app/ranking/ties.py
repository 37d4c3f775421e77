"""Three ways to count ties, and held-out evidence for choosing between them.

- ``half`` (the boards today): a tie of either kind is half a win each way.
- ``ignore``: ties of both kinds are dropped; only decisive votes count.
- ``grounded``: a virtual model, the *usable-answer line*, joins the fit. "Both are bad"
  says both answers fell below it: each side loses one game to the line. A plain tie says
  both were usable: each side beats the line. A decisive vote says the chosen answer was
  usable: the winner beats the line (of the loser it says nothing). The two sides of any
  tie also tie each other, half a win each way. Votes of every kind thus put the line on
  the models' scale, so its rating is an estimate, not a bound of the penalty (P2L's
  grounded Rao-Kupper head has the same idea; this is its Bradley-Terry form, fitted by
  the same Newton solver).

``held_out_report`` fits each method on the earlier part of the votes (time split) and
scores the later decisive votes: log-loss of ``P(winner)`` and accuracy. Every method
predicts ``P(i beats j) = sigmoid(theta_i - theta_j)``, so the scores compare how well
each method's ratings order the models on future votes.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.special import expit, log_expit

from app.ranking.battles import A_WINS, B_WINS, BOTHBAD, TIE, Battles, FloatArray
from app.ranking.bradley_terry import DEFAULT_L2, newton_pairs
from app.ranking.reweighting import Reweighting, pair_factors

TieMethod = Literal["half", "ignore", "grounded"]
TIE_METHODS: tuple[TieMethod, ...] = ("half", "ignore", "grounded")


USABLE_LINE = "(usable-answer line)"  # the grounded method's virtual model, listed last
TIE_LABELS: dict[TieMethod, str] = {
    "half": "ties count as half a win for each side",
    "ignore": "ties are left out; only decisive votes count",
    "grounded": "\"both are bad\" is a loss of each side to a usable-answer line",
}


def tie_games(battles: Battles, method: TieMethod) -> Battles:
    """The games that ``method`` makes of the battles, as battles any fit takes.

    ``half``: the battles themselves. ``ignore``: the decisive ones. ``grounded``: every
    battle (a "both are bad" becomes a plain tie of its two sides) plus the line games of
    the module docstring, against ``USABLE_LINE``, a model appended to ``models``; a line
    game has the side's own style counts on both sides (no style difference) and the
    battle's time. One battle's games are resampled apart by a bootstrap, which understates
    the intervals a little."""
    if method == "half":
        return battles
    if method == "ignore":
        return battles.subset((battles.outcome != TIE) & (battles.outcome != BOTHBAD))
    if method != "grounded":
        raise ValueError(f"tie method must be one of {TIE_METHODS}, got {method!r}")
    if USABLE_LINE in battles.models:
        raise ValueError(f"{USABLE_LINE!r} is already a model")
    o = battles.outcome
    bad, tie = np.flatnonzero(o == BOTHBAD), np.flatnonzero(o == TIE)
    a_won, b_won = np.flatnonzero(o == A_WINS), np.flatnonzero(o == B_WINS)
    # (rows, side, the side's outcome against the line)
    line_games = [(bad, "a", B_WINS), (bad, "b", B_WINS), (tie, "a", A_WINS),
                  (tie, "b", A_WINS), (a_won, "a", A_WINS), (b_won, "b", A_WINS)]
    rows = np.concatenate([np.arange(len(battles)), *(r for r, _, _ in line_games)])
    side = {"a": battles.model_a, "b": battles.model_b}
    players = np.concatenate([battles.model_a, *(side[s][r] for r, s, _ in line_games)])
    line = np.full(rows.size - len(battles), len(battles.models))
    outcome = np.concatenate([np.where(o == BOTHBAD, TIE, o),
                              *(np.full(r.size, w) for r, _, w in line_games)])
    style_a = style_b = None
    if battles.style_a is not None and battles.style_b is not None:
        # a line game has the side's own counts on both sides: no style difference
        sides = {"a": battles.style_a, "b": battles.style_b}
        own = np.concatenate([sides[s][r] for r, s, _ in line_games])
        style_a = np.concatenate([battles.style_a, own])
        style_b = np.concatenate([battles.style_b, own])
    return Battles(
        (*battles.models, USABLE_LINE), players, np.concatenate([battles.model_b, line]),
        outcome, tstamp=None if battles.tstamp is None else battles.tstamp[rows],
        style_a=style_a, style_b=style_b,
        style_features=battles.style_features)


def _games(battles: Battles, method: TieMethod) -> tuple[np.ndarray, np.ndarray, FloatArray,
                                                         int]:
    """Games ``(i, j, score of i)`` and the number of players (models, + the line)."""
    g = tie_games(battles, method)
    o = g.outcome
    score = np.where(o == A_WINS, 1.0, np.where(o == B_WINS, 0.0, 0.5))
    return g.model_a, g.model_b, score, len(g.models)


def fit_ties(battles: Battles, method: TieMethod, *, reweighting: Reweighting | None = None,
             l2: float = DEFAULT_L2) -> FloatArray:
    """Logits of the models (and, for ``grounded``, the line last), by pair counts."""
    i, j, score, players = _games(battles, method)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    s_lo = np.where(i == lo, score, 1.0 - score)
    keys, inverse = np.unique(lo * players + hi, return_inverse=True)
    wins = np.bincount(inverse, s_lo, keys.size)
    totals = np.bincount(inverse, minlength=keys.size).astype(np.float64)
    f = pair_factors(totals, reweighting)
    if f is not None:
        wins, totals = wins * f, totals * f
    return newton_pairs(keys // players, keys % players, players, wins, totals, l2)[0]


def held_out_report(battles: Battles, *, train_share: float = 0.8,
                    reweighting: Reweighting | None = None) -> dict[str, Any]:
    """Per method: held-out log-loss and accuracy on the later decisive votes (by
    ``tstamp``, else row order), and the line's rating for ``grounded``."""
    if not 0.0 < train_share < 1.0:
        raise ValueError("train_share must be between 0 and 1")
    n = len(battles)
    order = np.argsort(battles.tstamp, kind="stable") if battles.tstamp is not None \
        else np.arange(n)
    cut = int(round(n * train_share))
    train, test = battles.subset(order[:cut]), battles.subset(order[cut:])
    decisive = (test.outcome == A_WINS) | (test.outcome == B_WINS)
    a, b = test.model_a[decisive], test.model_b[decisive]
    y = (test.outcome[decisive] == A_WINS).astype(np.float64)
    seen = train.battles_per_model() > 0
    usable = seen[a] & seen[b]  # a model the training part never saw cannot be predicted
    a, b, y = a[usable], b[usable], y[usable]
    report: dict[str, Any] = {"train_votes": cut, "test_votes": int(n - cut),
                              "test_decisive_scored": int(y.size), "methods": {}}
    for method in TIE_METHODS:
        theta = fit_ties(train, method, reweighting=reweighting)
        eta = theta[a] - theta[b]
        entry: dict[str, Any] = {
            "log_loss": round(float(-np.mean(y * log_expit(eta) + (1 - y) * log_expit(-eta)))
                              , 5) if y.size else None,
            "accuracy": round(float(np.mean((expit(eta) > 0.5) == (y == 1.0))), 5)
            if y.size else None,
        }
        if method == "grounded":
            m = len(battles.models)
            entry["line_logit"] = round(float(theta[m] - theta[:m][seen].mean()), 5)
        report["methods"][method] = entry
    return report
