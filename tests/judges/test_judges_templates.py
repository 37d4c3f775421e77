"""Templates as data: every shipped template loads and renders in both forms, errors are
clear, and a canonical output of each form parses with the template's own parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from app.judges import (
    ASPECTS,
    FORMS,
    Answer,
    Decision,
    ImageInput,
    Ratings,
    RewardChoice,
    TeacherReply,
    TemplateError,
    TemplateInputError,
    TemplateRegistry,
    UnknownTemplate,
    Verdict,
    get_template,
    list_templates,
    load_template,
    parse_output,
    render,
)
from app.judges.templates import TEMPLATE_DIR, load_file, parse_ref, template_from_dict

SHIPPED = ["answer@1", "bench-pairwise@1", "category@1", "fire-student@1", "fire-teacher@1",
           "vlfeedback-ratings@1", "vlrewardbench-pairwise@1"]
IMAGE = ImageInput.from_bytes(b"\x89PNG fake image bytes")

INPUTS: dict[str, dict[str, Any]] = {
    "answer@1": {"image": IMAGE, "question": "How many red circles?"},
    "bench-pairwise@1": {"image": IMAGE, "question": "How many red circles?",
                         "answer_a": "There are 3.", "answer_b": "Two red circles."},
    "category@1": {"criterion": "Does the prompt ask to read text in the image?",
                   "prompt": "How many red circles?", "image": IMAGE},
    "fire-student@1": {"image": IMAGE, "question": "How many red circles?",
                       "history": ["There are 3.", "Count only the red ones."]},
    "fire-teacher@1": {"image": IMAGE, "question": "How many red circles?",
                       "ground_truth": "2", "answer": "There are 3."},
    "vlfeedback-ratings@1": {"image": IMAGE, "question": "How many red circles?",
                             "answers": ["There are 3.", "Two.", "None."]},
    "vlrewardbench-pairwise@1": {"image": IMAGE, "question": "How many red circles?",
                                 "answer_1": "There are 3.", "answer_2": "Two red circles."},
}
OUTPUTS: dict[str, tuple[str, type]] = {
    "answer@1": ("  There are two red circles.\n", Answer),
    "bench-pairwise@1": ("My answer: two.\nB is right. My final verdict: [[B>>A]]", Verdict),
    "category@1": ("<decision>no</decision>", Decision),
    "fire-student@1": ("There are two red circles.", Answer),
    "fire-teacher@1": ("Score: 3\nFeedback: Count only the red ones.", TeacherReply),
    "vlfeedback-ratings@1": ("\n".join(
        line for aspect in ASPECTS for line in
        [aspect] + [f"Text {n}\nRating: {n + 1}\nRationale: r" for n in (1, 2, 3)]), Ratings),
    "vlrewardbench-pairwise@1": ("...\nOverall Judgment: Answer 2 is better", RewardChoice),
}


def test_shipped_templates_are_listed() -> None:
    assert list_templates() == SHIPPED
    assert sorted(p.stem for p in TEMPLATE_DIR.glob("*.yaml")) == SHIPPED


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("ref", SHIPPED)
def test_every_template_renders_in_both_forms(ref: str, form: str) -> None:
    template = load_template(ref)
    prompt = render(template, INPUTS[ref], form)  # type: ignore[arg-type]
    assert prompt.template == ref and prompt.form == form
    assert prompt.messages[-1].role == "user"
    text = "\n".join(m.content for m in prompt.messages)
    assert "How many red circles?" in text
    assert "{{" not in text and "{%" not in text
    assert prompt.images == (IMAGE,)
    assert prompt.sampling == template.sampling(form)  # type: ignore[arg-type]
    assert not text.startswith("\n") and not text.endswith("\n")


# answer@1 and fire-student@1 are not judge prompts: the visitor's question itself (and the
# dialogue so far) in both forms.
@pytest.mark.parametrize("ref", [r for r in SHIPPED if r not in ("answer@1", "fire-student@1")])
def test_short_form_is_terse(ref: str) -> None:
    template = load_template(ref)
    full = render(template, INPUTS[ref], "full")
    short = render(template, INPUTS[ref], "short")
    short_text = "\n".join(m.content for m in short.messages)
    assert len(short_text) < 200, short_text  # the demo judge's context is small
    assert len(short_text) * 4 < sum(len(m.content) for m in full.messages)
    assert short.sampling.max_tokens < full.sampling.max_tokens
    assert short.sampling.temperature == full.sampling.temperature


@pytest.mark.parametrize("ref", SHIPPED)
def test_canonical_output_parses_with_the_templates_parser(ref: str) -> None:
    raw, kind = OUTPUTS[ref]
    assert isinstance(parse_output(load_template(ref), raw, INPUTS[ref]), kind)


def test_full_forms_follow_the_papers() -> None:
    def text(ref: str) -> str:
        return "\n".join(m.content for m in render(load_template(ref), INPUTS[ref]).messages)

    bench = text("bench-pairwise@1")
    assert "your own answer" in bench
    assert all(f"[[{v.value}]]" in bench for v in Verdict)
    assert "There are 3." in bench and "Two red circles." in bench
    assert all(a in text("vlfeedback-ratings@1") for a in ASPECTS)
    assert "Rating:" in text("vlfeedback-ratings@1") and "Rationale:" in text(
        "vlfeedback-ratings@1")
    assert "Overall Judgment: Answer 1 is better" in text("vlrewardbench-pairwise@1")
    fire = text("fire-teacher@1")
    assert "Never state the ground truth" in fire and "Score:" in fire and "Feedback:" in fire
    assert "<decision>yes</decision>" in text("category@1")


def test_sampling_parameters() -> None:
    assert get_template("bench-pairwise").sampling().temperature == 0.0
    assert get_template("category", 1).sampling("short").temperature == 0.0
    reward = get_template("vlrewardbench-pairwise").sampling()
    assert (reward.temperature, reward.top_p) == (0.2, 0.2)
    assert get_template("fire-teacher").sampling().as_dict() == {
        "temperature": 0.0, "max_tokens": 512, "top_p": 1.0, "stop": []}


def test_category_shows_only_the_configured_inputs() -> None:
    t = load_template("category@1")
    text_only = render(t, {"criterion": "Is it humorous?", "prompt": "tell a joke"})
    assert text_only.images == () and "tell a joke" in text_only.messages[-1].content
    assert "image is attached" not in text_only.messages[-1].content
    image_only = render(t, {"criterion": "Is it a diagram?", "image": IMAGE})
    assert image_only.images == (IMAGE,) and "<user_prompt>" not in image_only.messages[-1].content
    refusal = render(t, {"criterion": "Did either refuse?", "responses": ["No.", "Sure."]},
                     "short")
    assert refusal.messages[-1].content == "R1: No.\nR2: Sure.\nQ: Did either refuse?"
    with pytest.raises(TemplateInputError, match="at least one of"):
        render(t, {"criterion": "Is it OCR?"})
    with pytest.raises(TemplateInputError, match="1..2 items"):
        render(t, {"criterion": "x", "responses": ["a", "b", "c"]})


def test_chat_messages_put_images_first() -> None:
    prompt = render(load_template("bench-pairwise@1"), INPUTS["bench-pairwise@1"])
    msgs = prompt.chat_messages(["data:image/png;base64,AAAA"])
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[1]["content"][0] == {"type": "image_url",
                                     "image_url": {"url": "data:image/png;base64,AAAA"}}
    assert msgs[1]["content"][1]["type"] == "text"
    with pytest.raises(ValueError, match="1 image"):
        prompt.chat_messages([])


# ------------------------------------------------------------------ errors

def test_unknown_template_names_what_exists() -> None:
    with pytest.raises(UnknownTemplate, match="unknown template 'nope'.*bench-pairwise@1"):
        load_template("nope@1")
    with pytest.raises(UnknownTemplate, match="no version 9; available versions: 1"):
        load_template("bench-pairwise@9")
    with pytest.raises(UnknownTemplate, match="no version 2"):
        get_template("category", 2)
    with pytest.raises(UnknownTemplate, match="must be an integer"):
        load_template("bench-pairwise@v1")
    assert load_template("bench-pairwise").id == "bench-pairwise@1"  # latest
    assert parse_ref("a-b@12") == ("a-b", 12) and parse_ref("a") == ("a", None)


def test_input_errors_are_clear() -> None:
    t = load_template("bench-pairwise@1")
    good = INPUTS["bench-pairwise@1"]
    with pytest.raises(TemplateInputError, match=r"missing inputs \['answer_b'\]"):
        render(t, {k: v for k, v in good.items() if k != "answer_b"})
    with pytest.raises(TemplateInputError, match=r"missing inputs \['image'\]"):
        render(t, good | {"image": None})  # None is absent
    with pytest.raises(TemplateInputError, match=r"unknown inputs \['answer_c'\]"):
        render(t, good | {"answer_c": "x"})
    with pytest.raises(TemplateInputError, match="image must be an image"):
        render(t, good | {"image": "/tmp/x.png"})
    with pytest.raises(TemplateInputError, match="answer_a must be a string"):
        render(t, good | {"answer_a": 3})
    v = load_template("vlfeedback-ratings@1")
    with pytest.raises(TemplateInputError, match="list of strings"):
        render(v, INPUTS["vlfeedback-ratings@1"] | {"answers": "one string"})
    with pytest.raises(TemplateInputError, match="1..8 items"):
        render(v, INPUTS["vlfeedback-ratings@1"] | {"answers": []})
    with pytest.raises(ValueError, match="form must be one of"):
        render(t, good, "medium")  # type: ignore[arg-type]
    assert render(t, good | {"image": IMAGE.data}).images == (IMAGE.data,)  # bytes are fine


# ------------------------------------------------------------------ template files

def minimal(**over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": "t", "version": 1, "kind": "pairwise", "parser": "arena-hard-verdict",
        "inputs": [{"name": "question", "type": "text"}],
        "sampling": {"temperature": 0, "max_tokens": 8},
        "forms": {"full": {"user": "{{ question }}"}, "short": {"user": "Q: {{ question }}"}},
    }
    raw.update(over)
    return raw


@pytest.mark.parametrize(("over", "needle"), [
    ({"forms": {"full": {"user": "{{ questoin }}"}, "short": {"user": "x"}}},
     "undeclared inputs ['questoin']"),
    ({"forms": {"full": {"user": "x"}}}, "forms must be exactly"),
    ({"forms": {"full": {"user": "{% if %}"}, "short": {"user": "x"}}}, "form full"),
    ({"parser": "decision"}, "does not parse 'pairwise'"),
    ({"parser": "magic"}, "unknown parser"),
    ({"kind": "essay"}, "kind must be one of"),
    ({"version": "1"}, "version must be a positive integer"),
    ({"version": 0}, "version must be a positive integer"),
    ({"name": "Bad Name"}, "name must be"),
    ({"sampling": {"temperature": 0}}, "needs temperature and max_tokens"),
    ({"sampling": {"temperature": 0, "max_tokens": 8, "beam": 4}}, "unknown sampling keys"),
    ({"sampling": {"temperature": -1, "max_tokens": 8}}, "temperature"),
    ({"inputs": [{"name": "question", "type": "video"}]}, "input type"),
    ({"inputs": [{"name": "q", "type": "text"}, {"name": "q", "type": "text"}]}, "duplicate"),
    ({"require_any": ["ghost"]}, "require_any"),
    ({"extra": 1}, "unknown fields ['extra']"),
])
def test_invalid_templates_fail_at_load(over: dict[str, Any], needle: str) -> None:
    with pytest.raises(TemplateError) as err:
        template_from_dict(minimal(**over))
    assert needle in str(err.value)


def test_missing_fields() -> None:
    raw = minimal()
    del raw["parser"]
    with pytest.raises(TemplateError, match=r"missing fields \['parser'\]"):
        template_from_dict(raw)


def test_registry_from_directories_versions_and_file_names(tmp_path: Path) -> None:
    (tmp_path / "t@1.yaml").write_text(yaml.safe_dump(minimal()))
    (tmp_path / "t@2.yaml").write_text(yaml.safe_dump(minimal(version=2)))
    registry = TemplateRegistry.from_directories(TEMPLATE_DIR, tmp_path)
    assert registry.versions("t") == [1, 2]
    assert registry.get("t").version == 2 and registry.load("t@1").version == 1
    assert "bench-pairwise@1" in registry.ids()
    short = render(registry.get("t"), {"question": "why?"}, "short")
    assert [m.content for m in short.messages] == ["Q: why?"]  # no empty system message
    (tmp_path / "wrong.yaml").write_text(yaml.safe_dump(minimal()))
    with pytest.raises(TemplateError, match="file name must be t@1.yaml"):
        load_file(tmp_path / "wrong.yaml")
    with pytest.raises(TemplateError, match="defined twice"):
        TemplateRegistry([template_from_dict(minimal()), template_from_dict(minimal())])
    (tmp_path / "broken@1.yaml").write_text("name: [unclosed")
    with pytest.raises(TemplateError, match="not valid YAML"):
        load_file(tmp_path / "broken@1.yaml")


def test_turns_continue_the_conversation_after_the_prompt() -> None:
    """fire-student@1: the history renders as the student's answers and the replies to
    them, alternating; an odd, empty-item or non-list history is refused."""
    template = load_template("fire-student@1")
    prompt = render(template, INPUTS["fire-student@1"], "short")
    assert [(m.role, m.content) for m in prompt.messages] == [
        ("user", "How many red circles?"), ("assistant", "There are 3."),
        ("user", "Count only the red ones.")]
    chat = prompt.chat_messages(["data:image/png;base64,AA"])
    assert [isinstance(m["content"], list) for m in chat] == [True, False, False]
    assert [m.role for m in render(template, {"image": IMAGE, "question": "Q?"}).messages] \
        == ["user"]
    for bad in (["one"], ["a", ""], "ab", [1, 2]):
        with pytest.raises(TemplateInputError):
            render(template, {"image": IMAGE, "question": "Q?", "history": bad})
