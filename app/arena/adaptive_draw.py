"""The live side of adaptive pair sampling (``ARENA_ADAPTIVE_SAMPLING``): the next pair is
drawn from ``app.ranking.adaptive.pair_probabilities`` over the live candidates, using the
latest stored leaderboard (ratings and pair counts), never the visitor or the battle.

Models the snapshot does not know yet start at the mean rating with no battles, which
the information gain favours. Sides stay random (``sample_pair``'s rule).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.ranking.adaptive import pair_probabilities
from app.ranking.results import RatingScale


async def adaptive_pair(session: AsyncSession, candidates: Sequence[tuple[str, float]],
                        rng: random.Random) -> tuple[str, str] | None:
    """A pair of live candidates (weight > 0), or None without a usable snapshot (the
    caller then draws by weight)."""
    from app.leaderboard.snapshots import latest_snapshot

    names = sorted(n for n, w in candidates if w > 0)
    if len(names) < 2:
        return None
    view = await latest_snapshot(session)
    payload = view.snapshot.payload if view is not None else None
    counts_doc = (payload or {}).get("pair_counts")
    if not payload or not counts_doc:
        return None
    rating = {r["model"]: r["rating"] for r in
              [*payload.get("rows", []), *payload.get("testing", [])] if r["rating"] is not None}
    known = counts_doc["models"]
    idx = {m: k for k, m in enumerate(known)}
    factor = RatingScale().factor
    theta = np.array([(rating.get(n, 1000.0) - 1000.0) / factor for n in names])
    theta -= theta.mean()
    counts = np.zeros((len(names), len(names)))
    matrix = counts_doc["counts"]
    for a, na in enumerate(names):
        for b, nb in enumerate(names):
            if na in idx and nb in idx:
                counts[a, b] = matrix[idx[na]][idx[nb]]
    pairs, probs = pair_probabilities(theta, counts, range(len(names)))
    k = rng.choices(range(len(probs)), weights=probs.tolist())[0]
    pair = [names[int(pairs[k, 0])], names[int(pairs[k, 1])]]
    rng.shuffle(pair)
    return pair[0], pair[1]
