"""A personal leaderboard: the models ranked by one visitor's votes, blended with the
global board.

The personal logits are the MAP estimate of Bradley-Terry on the visitor's votes with a
Gaussian prior centred on the global logits: ``NLL(theta) + lam / 2 ||theta - global||^2``.
``lam`` is the blend (large: the global board; small: the visitor's votes alone); it is
chosen by K-fold cross-validation on the visitor's own votes (held-out log-loss of the
expected score, ties counting half), from a fixed grid, so the same votes give the same
board.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.special import expit, log_expit

from app.ranking.battles import A_WINS, B_WINS, Battles, FloatArray

LAMBDAS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 1e6)
MIN_VOTES = 20


@dataclass(frozen=True)
class PersonalBoard:
    models: tuple[str, ...]
    logits: FloatArray
    lam: float  # the chosen prior strength
    cv_log_loss: float  # held-out, at the chosen lam
    global_log_loss: float  # held-out, of the global board alone
    n_votes: int


def _scores(battles: Battles) -> FloatArray:
    o = battles.outcome
    return np.where(o == A_WINS, 1.0, np.where(o == B_WINS, 0.0, 0.5))


def map_fit(battles: Battles, prior: FloatArray, lam: float, iters: int = 50) -> FloatArray:
    """MAP logits by Newton (the objective is strictly convex for lam > 0)."""
    a, b, y = battles.model_a, battles.model_b, _scores(battles)
    m = prior.size
    theta = prior.copy()
    for _ in range(iters):
        p = expit(theta[a] - theta[b])
        r = y - p
        grad = np.bincount(a, r, m) - np.bincount(b, r, m) - lam * (theta - prior)
        w = p * (1 - p)
        h = np.zeros((m, m))
        np.add.at(h, (a, b), -w)
        np.add.at(h, (b, a), -w)
        h[np.diag_indices(m)] = np.bincount(a, w, m) + np.bincount(b, w, m) + lam
        step = linalg.solve(h, grad, assume_a="pos")
        theta += step
        if np.abs(step).max() < 1e-9:
            break
    return theta


def _log_loss(battles: Battles, theta: FloatArray) -> float:
    eta = theta[battles.model_a] - theta[battles.model_b]
    y = _scores(battles)
    return float(-np.mean(y * log_expit(eta) + (1 - y) * log_expit(-eta)))


def personal_board(votes: Battles, global_logits: FloatArray, *, folds: int = 5,
                   seed: int = 0) -> PersonalBoard:
    """The visitor's board; ``votes`` and ``global_logits`` share one model list."""
    n = len(votes)
    if n < MIN_VOTES:
        raise ValueError(f"a personal board needs at least {MIN_VOTES} votes")
    prior = np.asarray(global_logits, dtype=np.float64)
    fold = np.random.default_rng(seed).permutation(n) % folds
    losses = []
    for lam in LAMBDAS:
        total = 0.0
        for k in range(folds):
            train, test = votes.subset(fold != k), votes.subset(fold == k)
            total += _log_loss(test, map_fit(train, prior, lam)) * len(test)
        losses.append(total / n)
    best = int(np.argmin(losses))
    global_loss = _log_loss(votes, prior)
    return PersonalBoard(votes.models, map_fit(votes, prior, LAMBDAS[best]), LAMBDAS[best],
                         losses[best], global_loss, n)
