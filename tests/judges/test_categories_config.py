"""Category sets are configuration: the shipped sets load, any file of the same shape loads,
and a bad file or registry option fails with a message that says where and why."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.config import REPO_ROOT
from app.judges.categories import (
    DEFAULT_SET,
    SEES,
    BattleText,
    CategoryConfigError,
    LabelVersion,
    builtin_sets,
    categorizer_option,
    category_set_from_dict,
    classifier_inputs,
    default_set,
    find_set_file,
    load_category_set,
    set_search_dirs,
)
from app.judges.templates import TemplateRegistry, get_template, template_from_dict
from app.ranking.slices import CATEGORIES

DEMO_SET = REPO_ROOT / "app" / "demo" / "categories.yaml"


def _write(tmp_path: Path, doc: object, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


def _one(**category: object) -> dict:
    return {"categories": [{"name": "ocr", "sees": "image+prompt",
                            "question": "Does it need reading text?", **category}]}


def test_default_set_is_visionarenas_taxonomy_and_matches_the_leaderboard_slices() -> None:
    cset = default_set()
    assert cset.name == DEFAULT_SET and cset.template.id == "category@1"
    assert set(cset.names) == set(CATEGORIES)  # captioning … creative_writing + refusal
    sees = {c.name: c.sees for c in cset.categories}
    assert sees["refusal"] == "responses" and sees["diagram"] == "image"
    assert sees["captioning"] == "prompt" and sees["ocr"] == "image+prompt"
    assert set(sees.values()) == set(SEES)  # every kind of input is used somewhere
    assert all(c.question.endswith("?") for c in cset.categories)
    assert DEFAULT_SET in builtin_sets()


def test_any_file_of_the_same_shape_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, {"template": "category@1", "categories": [
        {"name": "counting", "sees": "prompt", "question": "Does it ask how many?"},
        {"name": "has-star", "sees": "image", "criterion": "Is there a star?"},
    ]})
    cset = load_category_set(path)
    assert cset.name == "mine" and cset.names == ["counting", "has-star"]
    assert cset.get("has-star").question == "Is there a star?"
    # relative paths resolve beside models.yaml first, then the repository
    assert load_category_set("mine.yaml", base_dirs=[tmp_path]).names == cset.names
    assert set_search_dirs(tmp_path / "models.yaml")[0] == tmp_path.resolve()


def test_the_demo_set_loads_and_has_a_category_that_needs_the_image() -> None:
    cset = load_category_set(DEMO_SET)
    assert cset.name == "demo"
    assert any("image" in c.inputs for c in cset.categories)


def test_digest_changes_with_what_is_asked_not_with_names_or_descriptions(tmp_path: Path) -> None:
    base = load_category_set(_write(tmp_path, _one()))
    renamed = load_category_set(_write(tmp_path, {"name": "other", "description": "x", **_one()},
                                       "b.yaml"))
    reworded = load_category_set(_write(tmp_path, _one(question="Is there text?"), "c.yaml"))
    sees = load_category_set(_write(tmp_path, _one(sees="prompt"), "d.yaml"))
    assert base.digest == renamed.digest
    assert len({base.digest, reworded.digest, sees.digest}) == 3
    v1 = LabelVersion.of(base, "judge")
    assert v1 != LabelVersion.of(base.with_template(get_template("category", 1)), "other")


@pytest.mark.parametrize(("doc", "message"), [
    ("categories: [", "not valid YAML"),
    ([1, 2], "must be a mapping"),
    ({"categories": []}, "non-empty list"),
    ({"categories": "ocr"}, "non-empty list"),
    ({"colour": 1, **_one()}, "unknown keys ['colour']"),
    ({"name": "Bad Name", **_one()}, "name must be lowercase"),
    ({"template": "category@9", **_one()}, "has no version 9"),
    ({"template": "nope@1", **_one()}, "unknown template 'nope'"),
    ({"template": "bench-pairwise@1", **_one()}, "not a category one"),
    (_one(sees="video"), "sees must be one of prompt, image, image+prompt, responses"),
    (_one(sees=None), "sees must be one of"),
    (_one(question=""), "needs a yes/no `question`"),
    (_one(question=None), "needs a yes/no `question`"),
    (_one(criterion="x"), "not both"),
    (_one(name="OCR!"), "categories[0]: name must be lowercase"),
    (_one(weight=2), "unknown keys ['weight']"),
    ({"categories": ["ocr"]}, "categories[0]: must be a mapping"),
    ({"categories": _one()["categories"] * 2}, "duplicate category names ['ocr']"),
    (_one(question="x" * 3000), "longer than 2000"),
])
def test_bad_sets_fail_with_a_clear_message(tmp_path: Path, doc: object, message: str) -> None:
    path = _write(tmp_path, doc)
    with pytest.raises(CategoryConfigError) as info:
        load_category_set(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)  # says which file


def test_a_missing_set_names_the_builtins_and_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(CategoryConfigError, match="not a built-in set \\(visionarena\\)") as info:
        find_set_file("nope.yaml", [tmp_path])
    assert str(tmp_path / "nope.yaml") in str(info.value)
    with pytest.raises(CategoryConfigError, match="has no version 7"):
        load_category_set(DEFAULT_SET, template="category@7")


def test_a_template_without_the_inputs_a_category_needs_is_refused() -> None:
    raw = yaml.safe_load(get_template("category", 1).source.read_text())  # type: ignore[union-attr]
    raw["version"] = 2
    raw["inputs"] = [i for i in raw["inputs"] if i["name"] != "responses"]
    raw["require_any"] = ["prompt", "image"]
    for form in raw["forms"].values():
        form["user"] = "{% if prompt is defined %}{{ prompt }}{% endif %} Q: {{ criterion }}"
    registry = TemplateRegistry([get_template("category", 1), template_from_dict(raw)])
    with pytest.raises(CategoryConfigError, match="'refusal' sees 'responses' but template "
                                                  "category@2 has no input \\['responses'\\]"):
        category_set_from_dict({**yaml.safe_load(builtin_sets()[DEFAULT_SET].read_text()),
                                "template": "category@2"}, registry=registry)


def test_registry_option() -> None:
    assert categorizer_option("j", {}) is None
    assert categorizer_option("j", {"categories": False}) is None
    on = categorizer_option("j", {"categories": True})
    assert on is not None and (on.judge, on.set, on.interval_s, on.batch) == (
        "j", DEFAULT_SET, 300.0, 200)
    named = categorizer_option("j", {"categories": "app/demo/categories.yaml"})
    assert named is not None and named.set == "app/demo/categories.yaml"
    full = categorizer_option("j", {"categories": {"set": "x.yaml", "interval_s": 30,
                                                   "batch": 5, "template": "category@2"}})
    assert full is not None and (full.interval_s, full.batch, full.template) == (
        30.0, 5, "category@2")
    for bad, message in [
        ({"every": 3}, "unknown keys \\['every'\\]"),
        ({"interval_s": 0}, "interval_s must be"),
        ({"interval_s": "often"}, "interval_s must be"),
        ({"batch": 0}, "batch must be"),
        ({"batch": True}, "batch must be"),
        ({"template": "category@two"}, "template reference .category@two.: the version must"),
        (3, "must be true, a set name"),
    ]:
        with pytest.raises(CategoryConfigError, match=f"model 'j': options.categories: {message}"):
            categorizer_option("j", {"categories": bad})


def test_classifier_inputs_follow_what_a_category_sees() -> None:
    cset = default_set()
    sha = "a" * 64
    full = BattleText(battle_id=None, prompt="Read the sign", image_sha256=sha,  # type: ignore[arg-type]
                      responses=("It says STOP.", "I can't help with that."))
    bare = BattleText(battle_id=None, prompt="Hi", image_sha256=None, responses=())  # type: ignore[arg-type]
    ocr = classifier_inputs(cset.get("ocr"), full)
    assert ocr is not None and set(ocr) == {"criterion", "prompt", "image"}
    assert ocr["image"].sha256 == sha
    assert set(classifier_inputs(cset.get("captioning"), full) or {}) == {"criterion", "prompt"}
    assert set(classifier_inputs(cset.get("diagram"), full) or {}) == {"criterion", "image"}
    refusal = classifier_inputs(cset.get("refusal"), full)
    assert refusal is not None and refusal["responses"] == list(full.responses)
    # what a battle lacks is not asked about: the label is `skipped`, never guessed
    assert classifier_inputs(cset.get("diagram"), bare) is None
    assert classifier_inputs(cset.get("ocr"), bare) is None
    assert classifier_inputs(cset.get("refusal"), bare) is None
    assert classifier_inputs(cset.get("captioning"), bare) is not None
