"""The pure core of the judge layer: versioned task templates (data files), strict output
parsers and the meaning of verdicts. No database, queue or web; the judge runner and the
research workflows (bench, categories, VLFeedback, VL-RewardBench, FIRE) call this.
"""

from app.judges.inputs import ImageInput, canonical_inputs, inputs_hash
from app.judges.leakage import find_leaks, leaks_ground_truth
from app.judges.parsers import (
    PARSERS,
    parse,
    parse_decision,
    parse_pairwise,
    parse_ratings,
    parse_reward,
    parse_teacher,
    parse_text,
)
from app.judges.results import (
    ASPECTS,
    Answer,
    AspectRating,
    Decision,
    ParseFailure,
    ParseResult,
    Ratings,
    RewardChoice,
    TeacherReply,
    Verdict,
)
from app.judges.templates import (
    FORMS,
    JudgePrompt,
    Message,
    Sampling,
    Template,
    TemplateError,
    TemplateInputError,
    TemplateRegistry,
    UnknownTemplate,
    check_inputs,
    default_registry,
    get_template,
    judgment_inputs_hash,
    list_templates,
    load_template,
    parse_output,
    render,
)
from app.judges.verdicts import (
    GAMES,
    REWARDS,
    Games,
    PreferencePair,
    SwappedJudgment,
    answer_scores,
    battle_rows,
    combine_swapped,
    games,
    judged_battles,
    preferred_side,
    reward,
    rewardbench_preferred,
    select_pairs,
    swapped_battle_rows,
    verdict_score,
)

__all__ = [
    "ASPECTS", "FORMS", "GAMES", "PARSERS", "REWARDS", "Answer", "AspectRating", "Decision",
    "Games", "ImageInput", "JudgePrompt", "Message", "ParseFailure", "ParseResult",
    "PreferencePair", "Ratings", "RewardChoice", "Sampling", "SwappedJudgment", "TeacherReply",
    "Template",
    "TemplateError", "TemplateInputError", "TemplateRegistry", "UnknownTemplate", "Verdict",
    "answer_scores", "battle_rows", "canonical_inputs", "check_inputs", "combine_swapped",
    "default_registry", "find_leaks", "games", "get_template", "inputs_hash",
    "judged_battles", "judgment_inputs_hash", "leaks_ground_truth", "list_templates",
    "load_template", "parse", "parse_decision", "parse_output", "parse_pairwise",
    "parse_ratings", "parse_reward", "parse_teacher", "parse_text", "preferred_side", "render",
    "reward",
    "rewardbench_preferred", "select_pairs", "swapped_battle_rows", "verdict_score",
]
