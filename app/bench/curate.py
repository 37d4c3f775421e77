"""Pick the bench's questions: cluster the eligible prompts, sample uniformly per cluster.

Arena-Hard and VisionArena-Bench cluster the arena's prompts by topic and take the same
number from each cluster, so that a topic many visitors ask about (in the demo: "Describe
the image.") does not crowd out the rest. Everything is seeded: the same prompts, the same
embeddings and the same seed give the same questions in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.bench.eligibility import BenchPrompt


class BenchBuildError(ValueError):
    """A bench that can not be built (no eligible prompts, bad sizes); nothing was written."""


@dataclass(frozen=True)
class Selection:
    prompts: list[BenchPrompt]  # the chosen questions, in bench order
    clusters: list[int]  # each chosen question's cluster
    n_clusters: int
    cluster_sizes: list[int]  # eligible prompts per cluster


def kmeans(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster labels, renumbered canonically: cluster 0 holds the first vector, the next
    new label the next vector not in a cluster seen so far. The labels then depend only on
    the partition, not on how k-means happened to number its centroids."""
    from sklearn.cluster import KMeans

    n = len(vectors)
    if not 1 <= k <= n:
        raise BenchBuildError(f"cannot make {k} clusters of {n} prompts")
    if k == n:
        return np.arange(n)
    raw = KMeans(n_clusters=k, random_state=seed, n_init=4).fit_predict(vectors)
    order: dict[int, int] = {}
    for label in raw:
        order.setdefault(int(label), len(order))
    return np.array([order[int(label)] for label in raw])


def sample_per_cluster(labels: Sequence[int], n: int, seed: int) -> list[int]:
    """Indices of ``n`` items taken round-robin over the clusters (each cluster shuffled,
    clusters visited in a shuffled order): every cluster gives one before any gives two,
    and a cluster that runs out leaves its share to the others."""
    if n < 1:
        raise BenchBuildError("a bench needs at least one question")
    rng = np.random.default_rng(seed)
    members: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        members.setdefault(int(label), []).append(i)
    queues = [list(rng.permutation(members[c])) for c in sorted(members)]
    visit = list(rng.permutation(len(queues)))
    chosen: list[int] = []
    while len(chosen) < n and any(queues):
        for c in visit:
            if queues[c] and len(chosen) < n:
                chosen.append(int(queues[c].pop(0)))
    return chosen


def select_questions(prompts: Sequence[BenchPrompt], vectors: np.ndarray, *, n: int,
                     seed: int, n_clusters: int | None = None) -> Selection:
    """Cluster ``prompts`` (rows of ``vectors``) and choose ``n`` of them (all of them when
    there are fewer). Default cluster count: n / 2, as Arena-Hard took two per cluster."""
    if not prompts:
        raise BenchBuildError("no eligible prompts: the bench needs single-turn English "
                              "prompts with an image that moderation let through")
    if len(vectors) != len(prompts):
        raise ValueError("one vector per prompt")
    k = n_clusters if n_clusters is not None else max(1, n // 2)
    k = min(k, len(prompts))
    labels = kmeans(np.asarray(vectors, dtype=np.float64), k, seed)
    chosen = sample_per_cluster(labels, min(n, len(prompts)), seed)
    sizes = np.bincount(labels, minlength=k).tolist()
    return Selection([prompts[i] for i in chosen], [int(labels[i]) for i in chosen], k, sizes)
