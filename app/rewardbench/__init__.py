"""VL-RewardBench on the arena: how often does a judge agree with human preferences?

- `items`: a preference item (a query, an image, two responses, the human ranking) and the
  benchmark's fixed mapping of an item's source to its domain;
- `files`: VL-RewardBench files in (JSON / JSONL, images beside or embedded) and out (our
  decisive battles, so other tools can evaluate judges on the arena's human votes);
- `battles`: the arena's decisive battles as items;
- `protocol`: the benchmark's evaluation, pure: a seeded random order per repetition,
  mapped back through the human ranking, majority per item, the metrics;
- `runner`: the evaluation as a judge run on the workers (resumable, idempotent).
"""
