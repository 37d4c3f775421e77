"""Categories (VisionArena's taxonomy) as configuration, and the classifier pass that labels
battles with them.

A **category set** is a YAML file: a name, the task template (``category@1``) and, per
category, its name, what the classifier sees (``prompt``, ``image``, ``image+prompt`` or the
two ``responses``, for refusal) and the yes/no question. The default set is VisionArena's
(``app/judges/categories/visionarena.yaml``); any file of the same shape works (the demo's
set for the shapes world is one).

A **labelling version** is (the set's digest, the template name and version, the judge). A
**pass** takes battles that have no labels under the current version, submits one judgment
per (battle, category) through the judge runner (batch jobs, temperature 0, strict parser)
and writes one pending label row per (battle, category). When every judgment behind a run's
labels has finished, the labels are decided (yes / no; an output that does not parse is
``unparsable`` and a failed judgment ``failed``: both are counted, neither becomes a label)
and, in one transaction, each battle's ``categories`` list switches to that version's "yes"
labels. Until then a battle keeps the labels of the version it had: re-running with a new
template version never leaves a battle half-labelled.

Which judge runs the periodic pass is registry configuration (``options.categories`` on the
judge model in models.yaml; see `categorizer_option`); workers/categorizer.py runs it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import REPO_ROOT
from app.db.category_tables import DECISIONS, CategoryLabel
from app.db.dialect import insert_for
from app.db.judge_tables import JudgeRun, Judgment
from app.db.models import Battle, Generation, ModelEntry, Turn
from app.judges.inputs import ImageInput
from app.judges.runs import JudgmentSpec, RunError, close_if_complete, judge_form, submit_run
from app.judges.templates import (
    Template,
    TemplateError,
    TemplateRegistry,
    UnknownTemplate,
    default_registry,
    judgment_inputs_hash,
    parse_ref,
)
from app.queue import JobQueue

log = logging.getLogger("arena.categories")

SET_DIR = Path(__file__).with_name("categories")
DEFAULT_SET = "visionarena"
DEFAULT_TEMPLATE = "category@1"
RUN_KIND = "categories"
# What a category may look at, as inputs of the category template (besides `criterion`).
SEES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt",),
    "image": ("image",),
    "image+prompt": ("image", "prompt"),
    "responses": ("responses",),
}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SET_KEYS = {"name", "template", "description", "categories"}
_CATEGORY_KEYS = {"name", "sees", "question", "criterion", "description"}
MAX_QUESTION_CHARS = 2000


class CategoryConfigError(ValueError):
    """A category set (or a categorizer option) that is not valid; the message says where."""


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class CategoryDef:
    name: str
    sees: str  # a key of SEES
    question: str
    description: str = ""

    @property
    def inputs(self) -> tuple[str, ...]:
        """The template inputs (besides `criterion`) the classifier is given."""
        return SEES[self.sees]


@dataclass(frozen=True)
class CategorySet:
    name: str
    template: Template
    categories: tuple[CategoryDef, ...]
    description: str = ""
    source: Path | None = field(default=None, compare=False)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    @property
    def digest(self) -> str:
        """16 hex digits of what the set asks: each category's name, inputs and question.
        The set's name and descriptions are not in it (renaming a file relabels nothing)."""
        body = json.dumps([[c.name, c.sees, c.question] for c in self.categories],
                          ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]

    def get(self, name: str) -> CategoryDef:
        for c in self.categories:
            if c.name == name:
                return c
        raise KeyError(name)

    def with_template(self, template: Template) -> CategorySet:
        _check_template(template, self.categories, f"category set {self.name!r}")
        return CategorySet(self.name, template, self.categories, self.description, self.source)


def _check_template(template: Template, categories: Iterable[CategoryDef], where: str) -> None:
    if template.kind != "category":
        raise CategoryConfigError(f"{where}: template {template.id} is a {template.kind!r} "
                                  "template, not a category one")
    declared = {s.name for s in template.inputs}
    if "criterion" not in declared:
        raise CategoryConfigError(f"{where}: template {template.id} has no `criterion` input")
    for c in categories:
        missing = set(c.inputs) - declared
        if missing:
            raise CategoryConfigError(f"{where}: category {c.name!r} sees {c.sees!r} but "
                                      f"template {template.id} has no input {sorted(missing)}")


def _default_name(source: Path | None) -> str:
    if source is None:
        return "categories"
    # app/demo/categories.yaml -> "demo"; visionarena.yaml -> "visionarena"
    stem = source.stem if source.stem != "categories" else source.parent.name
    name = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-")
    return name[:64] or "categories"


def category_set_from_dict(
    raw: Any, source: Path | None = None, registry: TemplateRegistry | None = None
) -> CategorySet:
    """Validate a parsed category set file."""
    where = str(source or "category set")
    if not isinstance(raw, Mapping):
        raise CategoryConfigError(f"{where}: must be a mapping with a `categories` list")
    unknown = set(raw) - _SET_KEYS
    if unknown:
        raise CategoryConfigError(f"{where}: unknown keys {sorted(unknown)} "
                                  f"(allowed: {sorted(_SET_KEYS)})")
    name = raw.get("name", _default_name(source))
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise CategoryConfigError(f"{where}: name must be lowercase letters, digits, '-' "
                                  f"or '_' (at most 64), got {name!r}")
    registry = registry or default_registry()
    ref = raw.get("template", DEFAULT_TEMPLATE)
    if not isinstance(ref, str):
        raise CategoryConfigError(f"{where}: template must be a reference like 'category@1'")
    try:
        template = registry.load(ref)
    except UnknownTemplate as exc:
        raise CategoryConfigError(f"{where}: {exc}") from exc
    items = raw.get("categories")
    if not isinstance(items, list) or not items:
        raise CategoryConfigError(f"{where}: `categories` must be a non-empty list")
    categories: list[CategoryDef] = []
    for i, item in enumerate(items):
        at = f"{where}: categories[{i}]"
        if not isinstance(item, Mapping):
            raise CategoryConfigError(f"{at}: must be a mapping with name, sees and question")
        unknown = set(item) - _CATEGORY_KEYS
        if unknown:
            raise CategoryConfigError(f"{at}: unknown keys {sorted(unknown)} "
                                      "(allowed: name, sees, question, description)")
        cname = item.get("name")
        if not isinstance(cname, str) or not _NAME_RE.match(cname):
            raise CategoryConfigError(f"{at}: name must be lowercase letters, digits, '-' or "
                                      f"'_' (at most 64), got {cname!r}")
        at = f"{where}: category {cname!r}"
        sees = item.get("sees")
        if sees not in SEES:
            raise CategoryConfigError(f"{at}: sees must be one of {', '.join(SEES)}, "
                                      f"got {sees!r}")
        if "question" in item and "criterion" in item:
            raise CategoryConfigError(f"{at}: give `question` or `criterion`, not both")
        question = item.get("question", item.get("criterion"))
        if not isinstance(question, str) or not question.strip():
            raise CategoryConfigError(f"{at}: needs a yes/no `question`")
        if len(question) > MAX_QUESTION_CHARS:
            raise CategoryConfigError(f"{at}: the question is longer than "
                                      f"{MAX_QUESTION_CHARS} characters")
        description = item.get("description", "")
        if not isinstance(description, str):
            raise CategoryConfigError(f"{at}: description must be text")
        categories.append(CategoryDef(cname, str(sees), " ".join(question.split()),
                                      description))
    names = [c.name for c in categories]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CategoryConfigError(f"{where}: duplicate category names {dupes}")
    _check_template(template, categories, where)
    description = raw.get("description", "")
    return CategorySet(name, template, tuple(categories),
                       description if isinstance(description, str) else "", source)


def builtin_sets() -> dict[str, Path]:
    """The sets shipped in app/judges/categories/, by name (file stem)."""
    return {p.stem: p for p in sorted(SET_DIR.glob("*.yaml"))}


def find_set_file(ref: str | Path, base_dirs: Sequence[Path] = ()) -> Path:
    """A built-in set's file (by name), or a file path (absolute, or relative to one of
    `base_dirs` and then the current directory)."""
    text = str(ref)
    builtins = builtin_sets()
    if text in builtins:
        return builtins[text]
    path = Path(text).expanduser()
    candidates = [path] if path.is_absolute() else [*(Path(d) / path for d in base_dirs), path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    looked = ", ".join(str(c) for c in candidates)
    raise CategoryConfigError(
        f"category set {text!r} not found: not a built-in set "
        f"({', '.join(builtins) or 'none'}) and no such file (looked at {looked})")


def load_category_set(
    ref: str | Path = DEFAULT_SET, *, base_dirs: Sequence[Path] = (),
    template: str | None = None, registry: TemplateRegistry | None = None,
) -> CategorySet:
    """Load and validate a set by built-in name or path; `template` (``category@2``)
    overrides the set's own template reference."""
    path = find_set_file(ref, base_dirs)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CategoryConfigError(f"{path}: cannot read ({exc})") from exc
    except yaml.YAMLError as exc:
        raise CategoryConfigError(f"{path}: not valid YAML ({exc})") from exc
    cset = category_set_from_dict(raw, path, registry)
    if template is not None:
        try:
            cset = cset.with_template((registry or default_registry()).load(template))
        except (UnknownTemplate, TemplateError) as exc:
            raise CategoryConfigError(f"{path}: {exc}") from exc
    return cset


def set_search_dirs(models_file: Path | None) -> list[Path]:
    """Where a relative set path from the registry is looked up: beside models.yaml, then
    the repository."""
    dirs = [Path(models_file).resolve().parent] if models_file else []
    return dirs + [REPO_ROOT] if REPO_ROOT not in dirs else dirs


@functools.cache
def default_set() -> CategorySet:
    return load_category_set(DEFAULT_SET)


# ----------------------------------------------------------------------------- registry option

@dataclass(frozen=True)
class CategorizerConfig:
    """The periodic pass of one judge: from `options.categories` of its registry entry.

    In models.yaml::

        - name: shapes-judge
          role: judge
          options:
            judge_form: short
            categories: {set: app/demo/categories.yaml, interval_s: 60, batch: 200}

    ``categories: true`` takes the defaults (VisionArena's set, every 300 s, 200 battles
    per pass); ``categories: <set>`` names a set only. ``template`` overrides the set's
    template version (``category@2``): the next passes label every battle again under it.
    """

    judge: str
    set: str = DEFAULT_SET
    interval_s: float = 300.0
    batch: int = 200
    template: str | None = None

    def load_set(self, base_dirs: Sequence[Path] = ()) -> CategorySet:
        return load_category_set(self.set, base_dirs=base_dirs, template=self.template)


_OPTION_KEYS = {"set", "interval_s", "batch", "template"}


def categorizer_option(name: str, options: Mapping[str, Any] | None) -> CategorizerConfig | None:
    """The categorizer configuration in a model's registry options, or None."""
    raw = (options or {}).get("categories")
    where = f"model {name!r}: options.categories"
    if raw is None or raw is False:
        return None
    if raw is True:
        raw = {}
    elif isinstance(raw, str):
        raw = {"set": raw}
    if not isinstance(raw, Mapping):
        raise CategoryConfigError(f"{where}: must be true, a set name or path, or a mapping "
                                  f"with {sorted(_OPTION_KEYS)}")
    unknown = set(raw) - _OPTION_KEYS
    if unknown:
        raise CategoryConfigError(f"{where}: unknown keys {sorted(unknown)} "
                                  f"(allowed: {sorted(_OPTION_KEYS)})")
    interval = raw.get("interval_s", 300.0)
    batch = raw.get("batch", 200)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 1:
        raise CategoryConfigError(f"{where}: interval_s must be a number of seconds >= 1")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 10_000:
        raise CategoryConfigError(f"{where}: batch must be an integer from 1 to 10000")
    set_ref = raw.get("set", DEFAULT_SET)
    template = raw.get("template")
    if not isinstance(set_ref, str) or not set_ref:
        raise CategoryConfigError(f"{where}: set must be a built-in set name or a path")
    if template is not None:
        if not isinstance(template, str):
            raise CategoryConfigError(f"{where}: template must look like 'category@2'")
        try:
            parse_ref(template)
        except UnknownTemplate as exc:
            raise CategoryConfigError(f"{where}: {exc}") from exc
    return CategorizerConfig(name, set_ref, float(interval), batch, template)


async def configured_categorizer(session: AsyncSession) -> CategorizerConfig | None:
    """The enabled registry model whose options configure the categorizer (the first by
    name if several do); None when no judge is configured (the pass is then off)."""
    entries = (await session.scalars(
        select(ModelEntry).where(ModelEntry.enabled.is_(True)).order_by(ModelEntry.name)
    )).all()
    await session.commit()
    found = [c for c in (categorizer_option(e.name, e.options) for e in entries) if c]
    if len(found) > 1:
        log.warning("several models configure the categorizer (%s); %s runs it",
                    ", ".join(c.judge for c in found), found[0].judge)
    return found[0] if found else None


# ----------------------------------------------------------------------------- labelling versions

@dataclass(frozen=True)
class LabelVersion:
    """The key of one labelling of the battles."""

    category_set: str
    set_digest: str
    task: str
    template_version: int
    judge: str

    @classmethod
    def of(cls, cset: CategorySet, judge: str) -> LabelVersion:
        return cls(cset.name, cset.digest, cset.template.name, cset.template.version, judge)

    @property
    def label(self) -> str:
        return (f"{self.category_set} ({self.set_digest[:8]}) · {self.task}@"
                f"{self.template_version} · {self.judge}")

    def matches(self) -> Any:
        """SQL condition: a label row of this version."""
        return and_(CategoryLabel.set_digest == self.set_digest,
                    CategoryLabel.task == self.task,
                    CategoryLabel.template_version == self.template_version,
                    CategoryLabel.judge_model == self.judge)

    @classmethod
    def of_label(cls, row: CategoryLabel) -> LabelVersion:
        return cls(row.category_set, row.set_digest, row.task, row.template_version,
                   row.judge_model)


# ----------------------------------------------------------------------------- the pass

@dataclass(frozen=True)
class BattleText:
    """What a classifier may see of a battle: its first turn."""

    battle_id: uuid.UUID
    prompt: str | None
    image_sha256: str | None
    responses: tuple[str, ...]


@dataclass(frozen=True)
class PassStarted:
    version: LabelVersion
    run_id: uuid.UUID | None  # None when nothing needed a judge (no battles, all skipped)
    battles: int
    judgments: int  # distinct judgments submitted (battles with equal inputs share one)
    labels: int  # label rows written, skipped ones included
    skipped: int


@dataclass(frozen=True)
class AppliedRun:
    run_id: uuid.UUID
    version: LabelVersion
    decisions: dict[str, int]  # decision -> labels decided now
    switched: int  # battles whose categories now come from this run
    kept: int  # battles that already show a newer labelling and keep it


def classifier_inputs(category: CategoryDef, battle: BattleText) -> dict[str, Any] | None:
    """The template inputs for one (category, battle), or None when the battle lacks what
    the category looks at (then the label is `skipped`)."""
    inputs: dict[str, Any] = {"criterion": category.question}
    for name in category.inputs:
        if name == "image":
            if not battle.image_sha256:
                return None
            inputs["image"] = ImageInput(sha256=battle.image_sha256)
        elif name == "prompt":
            if not battle.prompt:
                return None
            inputs["prompt"] = battle.prompt
        elif name == "responses":
            if not battle.responses:
                return None
            inputs["responses"] = list(battle.responses)
    return inputs


def _unfinished_first_turn() -> Any:
    """SQL condition on Battle: an answer of its first turn is still queued or running."""
    return exists().where(
        Turn.battle_id == Battle.id, Turn.index == 0, Generation.turn_id == Turn.id,
        Generation.status.in_(("queued", "running")),
    )


def _unlabelled(version: LabelVersion) -> Any:
    return ~exists().where(CategoryLabel.battle_id == Battle.id, version.matches())


def _eligible() -> list[Any]:
    """Battles a pass labels: not removed, with a first turn whose answers have finished."""
    return [Battle.removed.is_(False), Battle.review_status != "removed",
            exists().where(Turn.battle_id == Battle.id, Turn.index == 0),
            ~_unfinished_first_turn()]


async def backlog(session: AsyncSession, version: LabelVersion) -> int:
    """Battles a pass under `version` would still take."""
    n = await session.scalar(select(func.count()).select_from(Battle)
                             .where(*_eligible(), _unlabelled(version)))
    await session.commit()
    return int(n or 0)


async def _battles_to_label(
    session: AsyncSession, version: LabelVersion, limit: int,
    battle_ids: Sequence[uuid.UUID] | None,
) -> list[BattleText]:
    query = (select(Battle.id, Battle.image_sha256).where(*_eligible(), _unlabelled(version))
             .order_by(Battle.created_at, Battle.id).limit(limit))
    if battle_ids is not None:
        query = query.where(Battle.id.in_(list(battle_ids)))
    rows = (await session.execute(query)).all()
    if not rows:
        return []
    ids = [r[0] for r in rows]
    turns = dict((await session.execute(
        select(Turn.battle_id, Turn.prompt).where(Turn.battle_id.in_(ids), Turn.index == 0)
    )).all())
    answers: dict[uuid.UUID, list[tuple[str, str]]] = defaultdict(list)
    for battle_id, side, text in (await session.execute(
        select(Turn.battle_id, Generation.side, Generation.text)
        .join(Generation, Generation.turn_id == Turn.id)
        .where(Turn.battle_id.in_(ids), Turn.index == 0, Generation.status == "done")
    )).all():
        if text:
            answers[battle_id].append((side, text))
    return [BattleText(bid, turns.get(bid) or None, sha,
                       tuple(t for _, t in sorted(answers[bid])))
            for bid, sha in rows]


async def start_pass(
    session: AsyncSession, queue: JobQueue, cset: CategorySet, judge: str, *,
    limit: int = 200, created_by: str = "categorizer",
    battle_ids: Sequence[uuid.UUID] | None = None,
) -> PassStarted:
    """Submit the judgments for up to `limit` battles without labels under (cset, judge)
    and write their pending labels. Raises RunError (nothing written) when the judge is
    unknown or has no live worker."""
    if limit < 1:
        raise RunError("limit must be at least 1")
    version = LabelVersion.of(cset, judge)
    entry = await session.get(ModelEntry, judge)
    if entry is None:
        raise RunError(f"unknown model {judge!r}: add it to the registry first")
    form = judge_form(entry)
    battles = await _battles_to_label(session, version, limit, battle_ids)
    await session.commit()
    if not battles:
        return PassStarted(version, None, 0, 0, 0, 0)
    specs: dict[str, JudgmentSpec] = {}
    pending: list[tuple[BattleText, CategoryDef, str]] = []
    skipped: list[tuple[BattleText, CategoryDef]] = []
    for battle in battles:
        for category in cset.categories:
            inputs = classifier_inputs(category, battle)
            if inputs is None:
                skipped.append((battle, category))
                continue
            key = judgment_inputs_hash(cset.template, inputs)
            specs.setdefault(key, JudgmentSpec(
                cset.template, judge, inputs, form=form,
                meta={"category": category.name, "category_set": cset.name}))
            pending.append((battle, category, key))
    run_id: uuid.UUID | None = None
    judgment_ids: dict[str, uuid.UUID] = {}
    if specs:
        run = await submit_run(
            session, queue, kind=RUN_KIND, label=f"categories: {version.label}",
            specs=list(specs.values()), created_by=created_by,
            params={"category_set": cset.name, "set_digest": cset.digest,
                    "template": cset.template.id, "judge": judge, "battles": len(battles),
                    "categories": cset.names},
        )
        run_id = run.id
        judgment_ids = dict((await session.execute(
            select(Judgment.inputs_hash, Judgment.id).where(Judgment.run_id == run_id)
        )).all())
    now = datetime.now(UTC)

    def row(battle: BattleText, category: CategoryDef, **values: Any) -> dict[str, Any]:
        return dict(id=uuid.uuid4(), battle_id=battle.battle_id, category=category.name,
                    category_set=cset.name, set_digest=version.set_digest, task=version.task,
                    template_version=version.template_version, judge_model=judge,
                    active=False, created_at=now, **values)

    # Every row has every column: a multi-row INSERT takes one set of keys.
    rows = [row(b, c, decision=None, decided_at=None, judgment_id=judgment_ids.get(k),
                run_id=run_id) for b, c, k in pending]
    rows += [row(b, c, decision="skipped", decided_at=now, judgment_id=None, run_id=run_id)
             for b, c in skipped]
    insert = insert_for(session)
    for start in range(0, len(rows), 500):
        # A pass racing this one may have labelled the same battles: theirs stay.
        await session.execute(insert(CategoryLabel).values(rows[start:start + 500])
                              .on_conflict_do_nothing())
    await session.commit()
    if run_id is None:  # nothing to wait for: every category was skipped
        await _switch(session, {b.battle_id for b in battles}, version, now)
        await session.commit()
    log.info("category pass %s: %d battles, %d judgments, %d skipped labels", version.label,
             len(battles), len(specs), len(skipped))
    return PassStarted(version, run_id, len(battles), len(specs), len(rows), len(skipped))


def decision_of(status: str | None, parsed: Mapping[str, Any] | None,
                parse_error: str | None) -> str | None:
    """A label's decision from its judgment; None while the judgment has not finished."""
    if status in ("queued", "running"):
        return None
    if status != "done":  # failed, or the judgment row is gone
        return "failed"
    if parse_error or not parsed:
        return "unparsable"
    answer = parsed.get("answer")
    return answer if answer in ("yes", "no") else "unparsable"


async def _switch(session: AsyncSession, battle_ids: set[uuid.UUID], version: LabelVersion,
                  since: datetime) -> tuple[int, int]:
    """Point each battle's categories at `version`'s labels, unless the battle already shows
    a labelling made after `since` (a later pass won). Within the caller's transaction."""
    if not battle_ids:
        return 0, 0
    ids = list(battle_ids)
    newer: set[uuid.UUID] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        newer |= set((await session.scalars(
            select(CategoryLabel.battle_id).where(
                CategoryLabel.battle_id.in_(chunk), CategoryLabel.active.is_(True),
                ~version.matches(), CategoryLabel.created_at > since)
        )).all())
    targets = [b for b in ids if b not in newer]
    yes: dict[uuid.UUID, list[str]] = {b: [] for b in targets}
    for start in range(0, len(targets), 500):
        chunk = targets[start:start + 500]
        await session.execute(update(CategoryLabel).where(
            CategoryLabel.battle_id.in_(chunk), CategoryLabel.active.is_(True),
            ~version.matches()).values(active=False))
        await session.execute(update(CategoryLabel).where(
            CategoryLabel.battle_id.in_(chunk), version.matches()).values(active=True))
        for battle_id, category in (await session.execute(
            select(CategoryLabel.battle_id, CategoryLabel.category).where(
                CategoryLabel.battle_id.in_(chunk), version.matches(),
                CategoryLabel.decision == "yes")
        )).all():
            yes[battle_id].append(category)
    groups: dict[tuple[str, ...], list[uuid.UUID]] = defaultdict(list)
    for battle_id, names in yes.items():
        groups[tuple(sorted(set(names)))].append(battle_id)
    for names, group in groups.items():
        for start in range(0, len(group), 500):
            await session.execute(update(Battle).where(Battle.id.in_(group[start:start + 500]))
                                  .values(categories=list(names)))
    return len(targets), len(newer)


async def apply_run(session: AsyncSession, run_id: uuid.UUID) -> AppliedRun | None:
    """Decide the run's labels and switch its battles, once every judgment behind them has
    finished; None while some still run (or when there is nothing left to decide). One
    transaction: a battle never shows part of a labelling. Idempotent."""
    # On PostgreSQL the run's row lock keeps two finalizers from interleaving.
    locked = await session.scalar(select(JudgeRun.id).where(JudgeRun.id == run_id)
                                  .with_for_update())
    rows = (await session.execute(
        select(CategoryLabel, Judgment.status, Judgment.parsed, Judgment.parse_error)
        .outerjoin(Judgment, Judgment.id == CategoryLabel.judgment_id)
        .where(CategoryLabel.run_id == run_id, CategoryLabel.decision.is_(None))
    )).all()
    if locked is None or not rows:
        await session.commit()
        return None
    decided: dict[str, list[uuid.UUID]] = defaultdict(list)
    for label, status, parsed, parse_error in rows:
        decision = decision_of(status, parsed, parse_error)
        if decision is None:
            await session.commit()
            return None
        decided[decision].append(label.id)
    now = datetime.now(UTC)
    for decision, label_ids in decided.items():
        for start in range(0, len(label_ids), 500):
            await session.execute(update(CategoryLabel).where(
                CategoryLabel.id.in_(label_ids[start:start + 500]),
                CategoryLabel.decision.is_(None)).values(decision=decision, decided_at=now))
    version = LabelVersion.of_label(rows[0][0])
    since = min(r[0].created_at for r in rows)
    battles = set((await session.scalars(  # skipped-only battles of the run included
        select(CategoryLabel.battle_id).where(CategoryLabel.run_id == run_id).distinct()
    )).all())
    switched, kept = await _switch(session, battles, version,
                                   since if since.tzinfo else since.replace(tzinfo=UTC))
    await session.commit()
    progress = await close_if_complete(session, run_id)
    if progress.queued + progress.running == 0:
        # Every label is decided: the run is done even when a later run adopted (and so
        # took over) some of its judgments, which leaves it with fewer than it submitted.
        await session.execute(update(JudgeRun).where(
            JudgeRun.id == run_id, JudgeRun.status == "running")
            .values(status="done", finished_at=datetime.now(UTC)))
        await session.commit()
    counts = {d: len(v) for d, v in decided.items()}
    log.info("category run %s applied: %s; %d battles switched, %d kept a newer labelling",
             run_id, counts, switched, kept)
    return AppliedRun(run_id, version, counts, switched, kept)


async def apply_finished(
    session: AsyncSession, run_ids: Iterable[uuid.UUID] | None = None
) -> list[AppliedRun]:
    """`apply_run` for every run with undecided labels (or for `run_ids`)."""
    query = select(CategoryLabel.run_id).where(CategoryLabel.decision.is_(None),
                                               CategoryLabel.run_id.is_not(None)).distinct()
    if run_ids is not None:
        query = query.where(CategoryLabel.run_id.in_(list(run_ids)))
    pending = [r for r in (await session.scalars(query)).all() if r is not None]
    await session.commit()
    out = []
    for run_id in pending:
        applied = await apply_run(session, run_id)
        if applied is not None:
            out.append(applied)
    return out


# ----------------------------------------------------------------------------- status

@dataclass(frozen=True)
class VersionStatus:
    version: LabelVersion
    decisions: dict[str, int]  # yes | no | unparsable | failed | skipped | pending -> labels
    battles_labelled: int  # battles with (possibly pending) labels under the version
    battles_active: int  # battles whose categories show this version
    backlog: int  # battles a pass would still take
    yes_by_category: dict[str, int]

    @property
    def pending(self) -> int:
        return self.decisions.get("pending", 0)


async def version_status(session: AsyncSession, version: LabelVersion) -> VersionStatus:
    counts = {d: 0 for d in (*DECISIONS, "pending")}
    for decision, n in (await session.execute(
        select(CategoryLabel.decision, func.count()).where(version.matches())
        .group_by(CategoryLabel.decision)
    )).all():
        counts[decision or "pending"] = int(n)
    labelled = await session.scalar(select(func.count(func.distinct(CategoryLabel.battle_id)))
                                    .where(version.matches()))
    active = await session.scalar(select(func.count(func.distinct(CategoryLabel.battle_id)))
                                  .where(version.matches(), CategoryLabel.active.is_(True)))
    yes = dict((await session.execute(
        select(CategoryLabel.category, func.count()).where(
            version.matches(), CategoryLabel.decision == "yes")
        .group_by(CategoryLabel.category)
    )).all())
    await session.commit()
    return VersionStatus(version, counts, int(labelled or 0), int(active or 0),
                         await backlog(session, version), {k: int(v) for k, v in yes.items()})


async def battle_labels(session: AsyncSession, battle_id: uuid.UUID) -> list[CategoryLabel]:
    """Every label of one battle, newest labelling first."""
    rows = (await session.scalars(
        select(CategoryLabel).where(CategoryLabel.battle_id == battle_id)
        .order_by(CategoryLabel.created_at.desc(), CategoryLabel.category))).all()
    await session.commit()
    return list(rows)


__all__ = [
    "DEFAULT_SET", "RUN_KIND", "SEES", "SET_DIR", "AppliedRun", "BattleText",
    "CategorizerConfig", "CategoryConfigError", "CategoryDef", "CategorySet", "LabelVersion",
    "PassStarted", "VersionStatus", "apply_finished", "apply_run", "backlog", "battle_labels",
    "builtin_sets", "categorizer_option", "category_set_from_dict", "classifier_inputs",
    "configured_categorizer", "decision_of", "default_set", "find_set_file",
    "load_category_set", "set_search_dirs", "start_pass", "version_status",
]
