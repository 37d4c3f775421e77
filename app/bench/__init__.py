"""VisionArena-Bench (Arena-Hard's method) on the arena's own prompts.

- ``eligibility``: which battles' prompts may enter, the (image, prompt) dedup key (pure);
- ``embed``: offline text (MiniLM) and image (perceptual, or a local CLIP) embedders;
- ``curate``: seeded k-means and uniform sampling per cluster (pure);
- ``files``: the versioned bench folder (Arena-Hard question format + images + manifest);
- ``build``: battles in the database to a bench folder;
- ``score``: Bradley-Terry win rate vs the anchor, verdict counts, rewards, agreement (pure);
- ``runner``: answers and swapped verdicts as judge-layer batch jobs, resumable; storage;
- ``nightly``: new models answered and judged, agreement recomputed, export files.
"""

from app.bench.curate import BenchBuildError, sample_per_cluster, select_questions
from app.bench.eligibility import (
    BenchPrompt,
    PromptRecord,
    drop_reason,
    question_id,
    select_eligible,
)
from app.bench.files import Bench, BenchFileError, BenchQuestion, load_bench, write_bench
from app.bench.score import (
    BenchScore,
    PairJudgment,
    ScoreError,
    ScoreRow,
    arena_intervals,
    bench_agreement,
    score_bench,
)

__all__ = [
    "Bench", "BenchBuildError", "BenchFileError", "BenchPrompt", "BenchQuestion", "BenchScore",
    "PairJudgment", "PromptRecord", "ScoreError", "ScoreRow", "arena_intervals",
    "bench_agreement", "drop_reason", "load_bench", "question_id", "sample_per_cluster",
    "score_bench", "select_eligible", "select_questions", "write_bench",
]
