"""Task templates: versioned data files (``templates/<name>@<version>.yaml``), a loader and
the renderer that turns a template plus inputs into the messages a judge model receives.

A template is never edited in place once judgments have used it: a change is a new
version, so every stored judgment can say exactly which prompt produced it. Each template
has a ``full`` form (the papers' prompts, for real judges) and a ``short`` form (terse, for
the demo judge's small vocabulary and context); both share one parser.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.judges.inputs import ImageInput, inputs_hash, is_image
from app.judges.parsers import PARSERS, parse
from app.judges.results import ParseResult

TEMPLATE_DIR = Path(__file__).with_name("templates")
FORMS: tuple[str, ...] = ("full", "short")
KINDS: tuple[str, ...] = ("pairwise", "category", "ratings", "reward-pairwise", "teacher",
                          "answer")
InputType = Literal["image", "text", "texts", "turns"]
Form = Literal["full", "short"]
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                     keep_trailing_newline=False, trim_blocks=True,
                                     lstrip_blocks=True)


class TemplateError(ValueError):
    """A template file that is not a valid template."""


class UnknownTemplate(LookupError):
    """No template of that name, or no such version; the message lists what exists."""


class TemplateInputError(ValueError):
    """Inputs that do not fit the template: missing, unknown or of the wrong type."""


@dataclass(frozen=True)
class Sampling:
    """Decoding parameters, stored with every judgment."""

    temperature: float
    max_tokens: int
    top_p: float = 1.0
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise ValueError("temperature must be >= 0")
        if not (isinstance(self.max_tokens, int) and self.max_tokens > 0):
            raise ValueError("max_tokens must be a positive integer")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")

    def as_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens,
                "top_p": self.top_p, "stop": list(self.stop)}


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: InputType
    required: bool = True
    min_items: int = 1  # texts only
    max_items: int | None = None


@dataclass(frozen=True)
class PromptForm:
    system: str
    user: str
    sampling: Sampling


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class JudgePrompt:
    """What a judge model is sent: messages (text), the images for the user turn, sampling."""

    template: str
    form: Form
    messages: tuple[Message, ...]
    images: tuple[Any, ...]
    sampling: Sampling

    def chat_messages(self, image_urls: Sequence[str] = ()) -> list[dict[str, Any]]:
        """OpenAI-style chat messages; the images (as URLs, one per image, e.g. data URLs)
        go first in the first user message's content, as VLM chat templates expect."""
        if len(image_urls) != len(self.images):
            raise ValueError(f"{len(self.images)} image(s) need as many URLs, "
                             f"got {len(image_urls)}")
        out: list[dict[str, Any]] = []
        pending = bool(image_urls)
        for m in self.messages:
            if m.role == "user" and pending:
                pending = False
                parts: list[dict[str, Any]] = [
                    {"type": "image_url", "image_url": {"url": u}} for u in image_urls]
                parts.append({"type": "text", "text": m.content})
                out.append({"role": "user", "content": parts})
            else:
                out.append({"role": m.role, "content": m.content})
        return out


@dataclass(frozen=True)
class Template:
    name: str
    version: int
    kind: str
    parser: str
    description: str
    inputs: tuple[InputSpec, ...]
    forms: Mapping[str, PromptForm]
    require_any: tuple[str, ...] = ()
    source: Path | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def input(self, name: str) -> InputSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def sampling(self, form: Form = "full") -> Sampling:
        return self._form(form).sampling

    def _form(self, form: str) -> PromptForm:
        try:
            return self.forms[form]
        except KeyError:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}") from None


# ----------------------------------------------------------------------------- loading

def _sampling(raw: Any, base: Mapping[str, Any], where: str) -> Sampling:
    merged = {**base, **(raw or {})}
    unknown = set(merged) - {"temperature", "max_tokens", "top_p", "stop"}
    if unknown:
        raise TemplateError(f"{where}: unknown sampling keys {sorted(unknown)}")
    if "temperature" not in merged or "max_tokens" not in merged:
        raise TemplateError(f"{where}: sampling needs temperature and max_tokens")
    try:
        return Sampling(float(merged["temperature"]), merged["max_tokens"],
                        float(merged.get("top_p", 1.0)), tuple(merged.get("stop", ())))
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"{where}: {exc}") from exc


def _input_spec(raw: Any, where: str) -> InputSpec:
    if not isinstance(raw, Mapping) or "name" not in raw or "type" not in raw:
        raise TemplateError(f"{where}: each input needs a name and a type")
    unknown = set(raw) - {"name", "type", "required", "min_items", "max_items"}
    if unknown:
        raise TemplateError(f"{where}: unknown input keys {sorted(unknown)}")
    if raw["type"] not in ("image", "text", "texts", "turns"):
        raise TemplateError(f"{where}: input type must be image, text, texts or turns")
    return InputSpec(str(raw["name"]), cast(InputType, raw["type"]),
                     bool(raw.get("required", True)), int(raw.get("min_items", 1)),
                     None if raw.get("max_items") is None else int(raw["max_items"]))


def template_from_dict(raw: Mapping[str, Any], source: Path | None = None) -> Template:
    """Validate a parsed template file: fields, parser, forms, and that the prompts use
    only declared inputs (so a typo fails at load time, not at a judge call)."""
    where = str(source or raw.get("name", "<template>"))
    required = {"name", "version", "kind", "parser", "inputs", "sampling", "forms"}
    if not isinstance(raw, Mapping) or required - set(raw):
        missing = sorted(required - set(raw)) if isinstance(raw, Mapping) else sorted(required)
        raise TemplateError(f"{where}: missing fields {missing}")
    unknown = set(raw) - required - {"description", "require_any"}
    if unknown:
        raise TemplateError(f"{where}: unknown fields {sorted(unknown)}")
    name, version = raw["name"], raw["version"]
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise TemplateError(f"{where}: name must be lowercase letters, digits and dashes")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TemplateError(f"{where}: version must be a positive integer")
    if raw["kind"] not in KINDS:
        raise TemplateError(f"{where}: kind must be one of {KINDS}")
    if raw["parser"] not in PARSERS:
        raise TemplateError(f"{where}: unknown parser {raw['parser']!r}")
    if PARSERS[raw["parser"]][0] != raw["kind"]:
        raise TemplateError(f"{where}: parser {raw['parser']!r} does not parse "
                            f"{raw['kind']!r} templates")
    inputs = tuple(_input_spec(x, where) for x in raw["inputs"] or ())
    names = [s.name for s in inputs]
    if len(set(names)) != len(names):
        raise TemplateError(f"{where}: duplicate input names")
    if sum(s.type == "turns" for s in inputs) > 1:
        raise TemplateError(f"{where}: at most one turns input (the conversation so far)")
    require_any = tuple(raw.get("require_any") or ())
    if set(require_any) - set(names):
        raise TemplateError(f"{where}: require_any names undeclared inputs")
    if not isinstance(raw["sampling"], Mapping):
        raise TemplateError(f"{where}: sampling must be a mapping")
    if not isinstance(raw["forms"], Mapping) or set(raw["forms"]) != set(FORMS):
        raise TemplateError(f"{where}: forms must be exactly {FORMS}")
    forms: dict[str, PromptForm] = {}
    for form_name, form in raw["forms"].items():
        fw = f"{where} form {form_name}"
        if not isinstance(form, Mapping) or "user" not in form:
            raise TemplateError(f"{fw}: needs a user prompt")
        extra = set(form) - {"system", "user", "sampling"}
        if extra:
            raise TemplateError(f"{fw}: unknown keys {sorted(extra)}")
        system, user = str(form.get("system") or ""), str(form["user"])
        for part in (system, user):
            try:
                used = meta.find_undeclared_variables(_ENV.parse(part))
            except TemplateSyntaxError as exc:
                raise TemplateError(f"{fw}: {exc}") from exc
            if used - set(names):
                raise TemplateError(f"{fw}: uses undeclared inputs {sorted(used - set(names))}")
        forms[form_name] = PromptForm(system, user, _sampling(form.get("sampling"),
                                                              raw["sampling"], fw))
    return Template(name, version, raw["kind"], raw["parser"], str(raw.get("description", "")),
                    inputs, forms, require_any, source)


def load_file(path: Path) -> Template:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not valid YAML ({exc})") from exc
    template = template_from_dict(raw, path)
    if path.stem != template.id:
        raise TemplateError(f"{path}: file name must be {template.id}.yaml")
    return template


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"name@3"`` -> ``("name", 3)``; ``"name"`` -> ``("name", None)`` (the latest)."""
    name, sep, version = ref.partition("@")
    if not sep:
        return name, None
    if not version.isdigit():
        raise UnknownTemplate(f"template reference {ref!r}: the version must be an integer")
    return name, int(version)


class TemplateRegistry:
    """Templates by name and version."""

    def __init__(self, templates: Iterable[Template]) -> None:
        self._by_name: dict[str, dict[int, Template]] = {}
        for t in templates:
            versions = self._by_name.setdefault(t.name, {})
            if t.version in versions:
                raise TemplateError(f"template {t.id} is defined twice")
            versions[t.version] = t

    @classmethod
    def from_directories(cls, *directories: Path) -> TemplateRegistry:
        return cls(load_file(p) for d in directories for p in sorted(Path(d).glob("*.yaml")))

    def get(self, name: str, version: int | None = None) -> Template:
        """The template ``name@version``; ``version=None`` is the latest."""
        versions = self._by_name.get(name)
        if not versions:
            raise UnknownTemplate(f"unknown template {name!r}; available: "
                                  + (", ".join(self.ids()) or "none"))
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            raise UnknownTemplate(f"template {name!r} has no version {version}; available "
                                  f"versions: {', '.join(map(str, sorted(versions)))}")
        return versions[version]

    def load(self, ref: str) -> Template:
        return self.get(*parse_ref(ref))

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def versions(self, name: str) -> list[int]:
        return sorted(self._by_name.get(name, {}))

    def ids(self) -> list[str]:
        return [f"{n}@{v}" for n in self.names() for v in self.versions(n)]

    def __iter__(self) -> Iterator[Template]:
        return (self._by_name[n][v] for n in self.names() for v in self.versions(n))


@functools.cache
def default_registry() -> TemplateRegistry:
    """The templates shipped in ``app/judges/templates/``."""
    return TemplateRegistry.from_directories(TEMPLATE_DIR)


def load_template(ref: str) -> Template:
    """A shipped template by reference, e.g. ``"bench-pairwise@1"``."""
    return default_registry().load(ref)


def load_template_of_kind(ref: str, kind: str, error: type[Exception] = ValueError) -> Template:
    """`load_template`, refusing (with `error`, the caller's own) a template of another
    kind: a run step that asks for a pairwise judge must not get a rating template."""
    template = load_template(ref)  # UnknownTemplate names what exists
    if template.kind != kind:
        raise error(f"template {template.id} is a {template.kind!r} template; "
                    f"this step needs a {kind!r} one")
    return template


def get_template(name: str, version: int | None = None) -> Template:
    return default_registry().get(name, version)


def list_templates() -> list[str]:
    """Ids (``name@version``) of all shipped templates."""
    return default_registry().ids()


# ----------------------------------------------------------------------------- rendering

def check_inputs(template: Template, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs without ``None`` values, checked against the template's declaration."""
    given = {k: v for k, v in inputs.items() if v is not None}
    declared = {s.name for s in template.inputs}
    problems = []
    unknown = sorted(set(given) - declared)
    if unknown:
        problems.append(f"unknown inputs {unknown} (declared: {sorted(declared)})")
    missing = [s.name for s in template.inputs if s.required and s.name not in given]
    if missing:
        problems.append(f"missing inputs {missing}")
    if template.require_any and not set(template.require_any) & set(given):
        problems.append(f"needs at least one of {list(template.require_any)}")
    for spec in template.inputs:
        if spec.name not in given:
            continue
        value = given[spec.name]
        if spec.type == "image" and not is_image(value):
            problems.append(f"{spec.name} must be an image (bytes or ImageInput)")
        elif spec.type == "text" and not isinstance(value, str):
            problems.append(f"{spec.name} must be a string")
        elif spec.type == "texts":
            if isinstance(value, str) or not isinstance(value, Sequence) or not all(
                    isinstance(x, str) for x in value):
                problems.append(f"{spec.name} must be a list of strings")
            elif len(value) < spec.min_items or (spec.max_items is not None
                                                 and len(value) > spec.max_items):
                hi = spec.max_items if spec.max_items is not None else "any"
                problems.append(f"{spec.name} needs {spec.min_items}..{hi} items, "
                                f"got {len(value)}")
        elif spec.type == "turns":
            if isinstance(value, str) or not isinstance(value, Sequence) or not all(
                    isinstance(x, str) and x.strip() for x in value):
                problems.append(f"{spec.name} must be a list of non-empty strings")
            elif len(value) % 2:
                problems.append(f"{spec.name} must alternate answer and reply and end with "
                                f"a reply (an even count), got {len(value)}")
    if problems:
        raise TemplateInputError(f"{template.id}: " + "; ".join(problems))
    return given


def render(template: Template, inputs: Mapping[str, Any], form: Form = "full") -> JudgePrompt:
    """Messages and sampling for one judge call. Images are not rendered into the text;
    they travel in ``JudgePrompt.images`` (declaration order) for the backend to attach.
    A ``turns`` input continues the conversation after the user prompt: its items are the
    model's earlier answers and the replies to them, alternating (assistant, user, ...), so
    the model is asked for its next answer (FIRE's student). Leading and trailing newlines
    of each message are dropped."""
    prompt_form = template._form(form)
    given = check_inputs(template, inputs)
    # An image is only ``True`` in the text context: ``{% if image is defined %}`` works,
    # the picture itself is attached by the backend.
    context = {k: True if template.input(k).type == "image" else
               (list(v) if template.input(k).type == "texts" else v) for k, v in given.items()}
    messages = []
    try:
        if prompt_form.system.strip():
            messages.append(Message("system", _ENV.from_string(prompt_form.system)
                                    .render(context).strip("\n")))
        messages.append(Message("user", _ENV.from_string(prompt_form.user).render(context)
                                .strip("\n")))
    except UndefinedError as exc:  # an optional input used without an `is defined` guard
        raise TemplateInputError(f"{template.id} ({form}): {exc}") from exc
    for spec in template.inputs:
        if spec.type == "turns":
            for i, text in enumerate(given.get(spec.name, ())):
                messages.append(Message("assistant" if i % 2 == 0 else "user", text))
    images = tuple(given[s.name] for s in template.inputs
                   if s.type == "image" and s.name in given)
    return JudgePrompt(template.id, form, tuple(messages), images, prompt_form.sampling)


def parse_output(template: Template, raw: str, inputs: Mapping[str, Any]) -> ParseResult:
    """Parse a judge's raw output with the template's parser."""
    return parse(template.parser, raw, inputs)


def judgment_inputs_hash(template: Template, inputs: Mapping[str, Any]) -> str:
    """``inputs_hash`` of checked inputs under this template's id."""
    return inputs_hash(template.id, check_inputs(template, inputs))


__all__ = [
    "FORMS", "KINDS", "TEMPLATE_DIR", "ImageInput", "InputSpec", "JudgePrompt", "Message",
    "PromptForm", "Sampling", "Template", "TemplateError", "TemplateInputError",
    "TemplateRegistry", "UnknownTemplate", "check_inputs", "default_registry",
    "get_template", "inputs_hash", "judgment_inputs_hash", "list_templates", "load_file",
    "load_template", "parse_output", "parse_ref", "render", "template_from_dict",
]
