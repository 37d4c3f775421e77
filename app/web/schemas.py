"""Typed request and response bodies of the JSON API (`/api/...`, `/admin/api/...`).

Request bodies ignore unknown keys (as before); response bodies forbid them.

Anonymity is part of the types: a battle whose names are hidden is a `BattlePublic`, whose
sides (`SidePublic`) have no field for a model name or a per-model timing, and whose
`models` can only be null. Every public model forbids extra keys, so a view that leaks a
name fails validation (a 500) instead of reaching the browser. After the vote, or in the
named modes, the same battle is a `RevealedBattle`. The two are told apart by `names`,
which `app.arena.views.battle_view` sets from `names_visible` (the one place that decides).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.arena.reasons import TAG_NAMES

Mode = Literal["anonymous", "side_by_side", "direct"]
Winner = Literal["model_a", "model_b", "tie", "tie (bothbad)"]


class Strict(BaseModel):
    """A body whose every key is declared: an undeclared one is a validation error."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- errors


class ErrorDetail(Strict):
    """Every refusal: a message that can be shown to the visitor as it is."""

    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class InvalidRequest(Strict):
    """422: a message, or (for a body or parameter of the wrong shape) one entry per field."""

    detail: str | list[FieldError]


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each code's body is an `ErrorDetail` (422: `InvalidRequest`)."""
    descriptions = {
        400: "The request body could not be read (not UTF-8, or a broken form)",
        401: "Not logged in",
        403: "Not allowed (terms not accepted, banned, wrong role or CSRF token)",
        404: "Not found (or not yours)",
        409: "Not possible in the battle's current state",
        413: "The upload is too large",
        415: "The upload is not an image",
        422: "Invalid input",
        429: "Too many requests (see Retry-After)",
        503: "Temporarily unavailable (no models online, busy, or a service is down)",
    }
    return {
        code: {"model": InvalidRequest if code == 422 else ErrorDetail,
               "description": descriptions[code]}
        for code in codes
    }


def file_part(schema: dict[str, Any]) -> None:
    """An optional upload is a file part or nothing: not "a file or null" (a form cannot
    send null; a missing image gets its own clear 422)."""
    schema.pop("anyOf", None)
    schema.update(type="string", format="binary")


# ---------------------------------------------------------------- visitor and models


class ConsentIn(BaseModel):
    accept: bool


class ConsentPublic(Strict):
    accepted: Literal[True]
    terms_version: str


class ModelAvailability(Strict):
    """An enabled model, and whether a live worker serves it (names only, no statistics)."""

    name: str
    online: bool


# ---------------------------------------------------------------- battles


class TurnIn(BaseModel):
    prompt: str = Field(max_length=100_000)


class VoteIn(BaseModel):
    winner: Winner


ReasonTag = Literal[TAG_NAMES]  # type: ignore[valid-type]  # the one vocabulary


class ReasonsIn(BaseModel):
    """Why, after the vote: tags per side (app/arena/reasons.py) and a short comment."""

    a: list[ReasonTag] = Field(default=[], max_length=len(TAG_NAMES))
    b: list[ReasonTag] = Field(default=[], max_length=len(TAG_NAMES))
    comment: str = Field(default="", max_length=1000,
                         description="Plain text; at most 280 characters once trimmed")


class ReasonsPublic(Strict):
    a: list[ReasonTag]
    b: list[ReasonTag]
    comment: str | None


Rating = Annotated[int | None, Field(default=None, ge=1, le=10, strict=True,
                                    description="1-10, or null for no rating")]


class RatingsIn(BaseModel):
    """1-10 ratings of the latest turn's answers (optional per side, once each)."""

    turn: int = Field(ge=0, description="The latest turn's index")
    a: Rating = None
    b: Rating = None


class RefinementIn(BaseModel):
    """Feedback on the latest answers: both models refine them (a refinement turn)."""

    feedback: str = Field(max_length=100_000,
                          description="Plain text; at most 2000 characters once trimmed")
    rating_a: Rating = Field(default=None, description="Your 1-10 rating of answer A before "
                             "the refinement (optional)")
    rating_b: Rating = Field(default=None, description="The same for answer B")


class SidePublic(Strict):
    """One side's answer as anyone may see it: nothing here can name or time its model."""

    status: str = Field(description="queued | running | done | failed")
    text: str = Field(description="The answer, once it is done (empty before)")
    finish_reason: str | None
    error: str | None = Field(description="A generic message when the answer failed")
    rating: int | None = Field(default=None, description="Your 1-10 rating of this answer, "
                               "or null (a refinement turn's answers: after; the refined "
                               "turn's: before)")


class RevealedSide(SidePublic):
    """One side once names are shown: its model and how it performed."""

    model: str
    completion_tokens: int | None
    ttft_ms: float | None
    latency_ms: float | None
    tokens_per_s: float | None = Field(
        default=None, description="Decoding speed after the first token"
    )


TurnKind = Literal["question", "refinement"]


class TurnPublic(Strict):
    index: int
    prompt: str = Field(description="The question, or a refinement turn's feedback")
    kind: TurnKind = "question"
    refines: int | None = Field(default=None, description="The turn a refinement refines")
    a: SidePublic | None = None
    b: SidePublic | None = None


class RevealedTurn(Strict):
    index: int
    prompt: str
    kind: TurnKind = "question"
    refines: int | None = None
    a: RevealedSide | None = None
    b: RevealedSide | None = None


class VotePublic(Strict):
    winner: Winner
    reasons: ReasonsPublic | None = Field(default=None, description="null until given")


class ModelNames(Strict):
    a: str
    b: str | None = Field(description="null in a direct chat")


class _BattleCommon(Strict):
    id: str
    mode: Mode
    image: str | None = Field(description="sha256 of the image: GET /api/images/{sha256}")
    finished: bool = Field(description="Every answer of the latest turn is done")
    failed: bool = Field(description="An answer of the latest turn failed")
    can_vote: bool
    can_give_reasons: bool = Field(default=False, description="Voted, no reasons given yet")
    preset: str | None = Field(default=None, description="The preset the battle was started "
                               "from (random-image), or null: kept out of the ranking")
    refinement: bool = Field(default=False, description="A refinement battle: the vote "
                             "comes after a refinement turn")
    can_rate: bool = Field(default=False, description="The latest turn's answers can be "
                           "rated 1-10 now")
    vote: VotePublic | None


class BattlePublic(_BattleCommon):
    """A battle whose model names are hidden (anonymous, before the vote)."""

    names: Literal["hidden"]
    turns: list[TurnPublic]
    models: None = Field(default=None, description="Always null while names are hidden")


class RevealedBattle(_BattleCommon):
    """A battle whose model names are shown (after the vote, or a named mode)."""

    names: Literal["revealed"]
    turns: list[RevealedTurn]
    models: ModelNames


BattleOut = Annotated[BattlePublic | RevealedBattle, Field(discriminator="names")]


class BattleDeleted(Strict):
    """A battle its owner deleted (a tombstone: it leaves their list, every release and,
    by default, the leaderboard; its image is no longer served). Repeating is harmless."""

    id: str
    deleted: Literal[True] = True


# ---------------------------------------------------------------- leaderboard


class LeaderboardRow(Strict):
    rank: int
    model: str
    rating: float | None
    ci_lower: float | None
    ci_upper: float | None
    votes: int
    status: Literal["provisional", "listed", "retired"] | None = Field(
        default=None, description="Lifecycle: provisional score, settled, or retired")


class LeaderboardSnapshotInfo(Strict):
    id: str
    run_id: str
    created_at: str
    cutoff: str
    kind: str
    slice: str
    source: str
    code_version: str
    seed: int
    battles_considered: int
    battles_used: int
    ci_method: str | None = None
    ci_level: float | None = None
    style_coefficients: dict[str, float | None] | None = None
    reweighting: dict[str, Any] | None = Field(
        default=None, description="How battles were weighted in the fit (pair frequency)")
    ties: dict[str, Any] | None = Field(
        default=None, description="How ties counted (half, ignore, grounded) and, grounded, "
        "the usable-answer line's rating")
    plots: dict[str, str] = Field(description="plot name → SVG URL")


class ReasonSummary(Strict):
    battles: int = Field(description="Counted battles of this model with reasons")
    tags: dict[str, int] = Field(description="tag → how often this model's answers got it")


class LeaderboardPublic(Strict):
    """The latest stored board of one kind and slice; `snapshot` is null before any run."""

    snapshot: LeaderboardSnapshotInfo | None
    rows: list[LeaderboardRow]
    models: list[str] = []
    winrate: list[list[float | None]] = Field(
        default=[], description="winrate[i][j]: how often models[i] beat models[j]"
    )
    reasons: dict[str, ReasonSummary] | None = Field(
        default=None, description="Overall boards: per model, the vote reasons its answers got"
    )
    cleaning: dict[str, Any] | None = None
    kinds: list[str]
    slices: list[str]


# ---------------------------------------------------------------- admin JSON API


class AdminMe(Strict):
    username: str
    role: str
    expires_at: str
    csrf_token: str


class DailyActivityOut(Strict):
    days: list[str]
    battles: dict[str, list[int]]
    votes: dict[str, list[int]]
    battles_total: list[int]
    votes_total: list[int]


class SnapshotStatus(Strict):
    created_at: str
    run_id: str
    kind: str
    slice: str
    source: str
    battles_used: int
    battles_total: int


class ExportStatus(Strict):
    date: str
    status: str
    started_at: str
    finished_at: str | None
    error: str | None
    attempts: int


class LeaderboardStatus(Strict):
    snapshot: SnapshotStatus | None
    export: ExportStatus | None


class AdminOverview(Strict):
    activity: DailyActivityOut
    in_review: int
    excluded_votes: int
    disk_bytes: int
    leaderboard: LeaderboardStatus | None


class QueueAnswer(Strict):
    model: str
    status: str
    text: str


class QueueTurn(Strict):
    index: int
    prompt: str
    answers: dict[str, QueueAnswer]


class QueueItemOut(Strict):
    id: str
    created_at: str
    mode: str
    models: list[str]
    image: str | None
    review_status: str
    removed: bool
    visitor_id: str
    visitor_banned: bool
    reasons: list[str]
    scores: dict[str, float]
    moderation: dict[str, Any]
    turns: list[QueueTurn]
    ip_hash: str
    ip_banned: bool


class ModerationState(Strict):
    review_status: str
    removed: bool


class BanState(Strict):
    banned: bool


class DisagreementOut(Strict):
    visitor_id: str
    llr: float
    decision: str
    tested: int
    disagreements: int
    expected: float
    battle_ids: list[str]


class FastVoteOut(Strict):
    battle_id: str
    visitor_id: str
    seconds: float
    needed_s: float
    answer_chars: int
    excluded: bool


class BurstOut(Strict):
    ip_hash: str
    count: int
    start: str
    end: str
    battle_ids: list[str]


class IntegrityParamsOut(Strict):
    alpha: float
    beta: float
    min_pair_votes: int
    min_read_s: float
    read_chars_per_s: float
    burst_votes: int
    burst_window_s: float
    since_days: int


class IntegrityOut(Strict):
    votes_considered: int
    disagreement: list[DisagreementOut]
    fast: list[FastVoteOut]
    bursts: list[BurstOut]
    params: IntegrityParamsOut


class VotesChanged(Strict):
    changed: int


class ModelStatusOut(Strict):
    name: str
    backend: str
    enabled: bool
    weight: float
    outage: bool
    queue_depth: int
    pending_jobs: int
    live_workers: int
    in_flight: int
    tokens_per_s: float | None
    ttft_ms: float | None
    errors_last_hour: int


class ModelSwitches(Strict):
    enabled: bool
    weight: float
    outage: bool


class AuditEntryOut(Strict):
    id: str
    at: str
    actor: str
    action: str
    target: str
    before: Any
    after: Any
