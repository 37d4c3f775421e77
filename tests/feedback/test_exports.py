"""The VLFeedback and DPO exports loaded back with `datasets.load_dataset` and with TRL's
own data path (DPOTrainer's vision collator and one training step on a real demo model),
and bad rows refused with nothing written."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from app.config import REPO_ROOT
from app.demo.shapes import random_scene, render_png
from app.feedback.dpo_export import DpoRow, write_dpo_dataset
from app.feedback.folders import ExportError
from app.feedback.pairs import FeedbackItem
from app.feedback.vlfeedback_export import write_vlfeedback
from app.judges import ASPECTS, AspectRating, Ratings
from app.release.manifest import verify_manifest
from tests.conftest import require_file

DEMO_MODEL = REPO_ROOT / "models" / "demo" / "shapes-small"
IMAGES = [render_png(random_scene(900 + i)) for i in range(3)]


def rows(n: int = 6) -> list[DpoRow]:
    out = []
    for i in range(n):
        ai = i % 2 == 0
        out.append(DpoRow(
            id=f"pair-{i}", prompt=f"What colour is shape {i}?",
            chosen="A red circle." if ai else "Red.", rejected="Blue.",
            images=(IMAGES[i % 3],), source="ai" if ai else "human", chosen_model="m-a",
            rejected_model="m-b", chosen_score=4.5 if ai else None,
            rejected_score=2.0 if ai else None, judge="shapes-judge" if ai else None,
            judge_rates_itself=i == 4))
    return out


def load(folder: Path):  # noqa: ANN201 - a datasets.Dataset
    import datasets

    return datasets.load_dataset(str(folder), split="train")


def no_leftovers(parent: Path) -> bool:
    return not [p for p in parent.iterdir() if p.name.startswith(".")]


def test_dpo_export_loads_back_with_datasets(tmp_path: Path) -> None:
    folder = tmp_path / "dpo"
    manifest = write_dpo_dataset(rows(), folder)
    assert manifest.rows == 6 and manifest.counts == {
        "ai": 3, "human": 3, "chosen_is_longest": 3, "judge_rates_itself": 1}
    assert "data/train-00000-of-00001.parquet" in manifest.files
    verify_manifest(folder)
    assert (folder / "README.md").read_text().startswith("---\n")
    ds = load(folder)
    assert ds.column_names == [
        "id", "images", "prompt", "chosen", "rejected", "source", "chosen_model",
        "rejected_model", "chosen_score", "rejected_score", "chosen_is_longest",
        "judge_rates_itself", "judge"]
    assert type(ds.features["images"].feature).__name__ == "Image"
    first, second = ds[0], ds[1]
    assert first["id"] == "pair-0" and first["source"] == "ai"
    assert first["prompt"] == [{"role": "user", "content": [
        {"type": "image", "text": None}, {"type": "text", "text": "What colour is shape 0?"}]}]
    assert first["chosen"] == [{"role": "assistant", "content": [
        {"type": "text", "text": "A red circle."}]}]
    assert first["rejected"][0]["content"][0]["text"] == "Blue."
    assert (first["chosen_score"], first["rejected_score"], first["judge"]) == (
        4.5, 2.0, "shapes-judge")
    assert (second["chosen_score"], second["rejected_score"], second["judge"]) == (
        None, None, None)
    assert [r["chosen_is_longest"] for r in ds] == [True, False] * 3
    assert [r["judge_rates_itself"] for r in ds] == [False] * 4 + [True, False]
    image = first["images"][0]
    assert image.tobytes() == Image.open(io.BytesIO(IMAGES[0])).tobytes()


def test_a_large_export_is_sharded_and_loads_whole(tmp_path: Path) -> None:
    folder = tmp_path / "dpo"
    manifest = write_dpo_dataset(rows(300), folder, max_shard_bytes=1)  # a shard a row group
    shards = sorted(p for p in manifest.files if p.startswith("data/"))
    assert len(shards) > 1 and shards[-1].endswith(f"-of-{len(shards):05d}.parquet")
    ds = load(folder)
    assert len(ds) == 300 and sorted(ds["id"]) == sorted(f"pair-{i}" for i in range(300))


def test_trl_dpo_trainer_takes_the_export_as_it_is(tmp_path: Path) -> None:
    """TRL's own data path: DPOTrainer detects a vision dataset, its collator applies the
    model's chat template with the image, and a training step runs on the real model."""
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration
    from trl import DPOConfig, DPOTrainer

    require_file(DEMO_MODEL / "model.safetensors", "the demo model shapes-small",
                 "train it: .venv/bin/python scripts/train_demo_models.py")
    torch.set_num_threads(1)
    write_dpo_dataset(rows(4), tmp_path / "dpo")
    ds = load(tmp_path / "dpo")
    model = LlavaForConditionalGeneration.from_pretrained(DEMO_MODEL)
    processor = AutoProcessor.from_pretrained(DEMO_MODEL)
    args = DPOConfig(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2,
                     report_to=[], use_cpu=True, save_strategy="no", logging_steps=1,
                     gradient_checkpointing=False, dataloader_num_workers=0, seed=0)
    trainer = DPOTrainer(model=model, args=args, train_dataset=ds, processing_class=processor)
    assert trainer._is_vision_dataset
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["pixel_values"].shape[0] == 4  # 2 pairs: chosen and rejected rows
    tok = processor.tokenizer
    image_id = model.config.image_token_id
    assert all(int((row == image_id).sum()) > 0 for row in batch["input_ids"])
    completions = [tok.decode(ids[mask.bool()], skip_special_tokens=True)
                   for ids, mask in zip(batch["input_ids"], batch["completion_mask"],
                                        strict=True)]
    by_id = {r["id"]: r for r in ds}
    texts = {r["chosen"][0]["content"][0]["text"] for r in by_id.values()} | {
        r["rejected"][0]["content"][0]["text"] for r in by_id.values()}
    assert all(c.strip() in texts for c in completions), completions
    prompts = [tok.decode(ids[(1 - mask).bool() & (att.bool())], skip_special_tokens=True)
               for ids, mask, att in zip(batch["input_ids"], batch["completion_mask"],
                                         batch["attention_mask"], strict=True)]
    assert all("What colour is shape" in p for p in prompts), prompts
    out = trainer.train()
    assert out.global_step == 1 and torch.isfinite(torch.tensor(out.training_loss))


@pytest.mark.parametrize("bad, why", [
    ({"chosen": " "}, "chosen must be a non-empty string"),
    ({"source": "robot"}, "source must be 'ai' or 'human'"),
    ({"images": ()}, "no image"),
    ({"images": (b"not an image",)}, "not a readable image"),
    ({"chosen_score": float("nan")}, "finite number"),
])
def test_bad_rows_are_refused_and_nothing_is_written(tmp_path: Path, bad: dict,
                                                     why: str) -> None:
    good = rows(4)
    broken = DpoRow(**{**good[2].__dict__, **bad})
    with pytest.raises(ExportError, match=why):
        write_dpo_dataset([*good[:2], broken, good[3]], tmp_path / "dpo")
    assert not (tmp_path / "dpo").exists() and no_leftovers(tmp_path)


def test_duplicates_empty_and_existing_folders(tmp_path: Path) -> None:
    good = rows(3)
    with pytest.raises(ExportError, match="duplicate id 'pair-0'"):
        write_dpo_dataset([*good, good[0]], tmp_path / "dpo")
    with pytest.raises(ExportError, match="no pairs"):
        write_dpo_dataset([], tmp_path / "dpo")
    assert not (tmp_path / "dpo").exists() and no_leftovers(tmp_path)
    write_dpo_dataset(good, tmp_path / "dpo")
    with pytest.raises(ExportError, match="exists and is not empty"):
        write_dpo_dataset(good[:1], tmp_path / "dpo")
    assert len(load(tmp_path / "dpo")) == 3  # the first export is untouched
    write_dpo_dataset(good[:1], tmp_path / "dpo", overwrite=True)
    assert len(load(tmp_path / "dpo")) == 1 and no_leftovers(tmp_path)


def ratings(*rows: tuple[int, int, int]) -> Ratings:
    return Ratings(tuple({a: AspectRating(r[k], f"{a} {r[k]}") for k, a in enumerate(ASPECTS)}
                         for r in rows))


def test_vlfeedback_export_loads_back_with_datasets(tmp_path: Path) -> None:
    shas = [hashlib.sha256(d).hexdigest() for d in IMAGES]
    items = [
        FeedbackItem(id="q1", prompt="How many shapes?", image_sha256=shas[0],
                     models=("m-a", "m-b", "m-c"), answers=("Two.", "Three.", "One."),
                     judge="shapes-judge", ratings=ratings((5, 5, 5), (1, 1, 5), (1, 2, 5))),
        FeedbackItem(id="q2", prompt="What colour?", image_sha256=shas[1],
                     models=("m-b", "m-a"), answers=("Red.", "Blue."), judge="shapes-judge",
                     failure="vlfeedback-ratings: Helpfulness / text 1: rating missing"),
        FeedbackItem(id="q3", prompt="Where is it?", image_sha256=shas[0],
                     models=("m-c", "m-a"), answers=("Top.", "Left."), judge="shapes-judge",
                     ratings=ratings((3, 3, 5), (4, 4, 5))),
    ]
    folder = tmp_path / "vlf"
    by_sha = dict(zip(shas, IMAGES, strict=True))
    manifest = write_vlfeedback(items, by_sha.__getitem__, folder)
    assert manifest.rows == 2 and manifest.counts == {"prompts": 3, "rated": 2, "unparsed": 1,
                                                      "images": 1}
    verify_manifest(folder)
    ds = load(folder)
    assert ds.column_names == ["id", "prompt", "models", "completions", "img_path"]
    row = ds[0]
    assert row["id"] == "q1" and row["models"] == ["m-a", "m-b", "m-c"]
    assert row["completions"][1] == {
        "model": "m-b", "response": "Three.", "annotations": {
            "Helpfulness": {"Rating": 1, "Rationale": "Helpfulness 1"},
            "Visual Faithfulness": {"Rating": 1, "Rationale": "Visual Faithfulness 1"},
            "Ethical Considerations": {"Rating": 5, "Rationale": "Ethical Considerations 5"}}}
    assert ds[1]["img_path"] == row["img_path"] == f"images/{shas[0]}.png"
    assert (folder / row["img_path"]).read_bytes() == IMAGES[0]

    def missing(sha: str) -> bytes:
        raise KeyError(sha)

    with pytest.raises(KeyError):
        write_vlfeedback(items, missing, tmp_path / "vlf2")
    assert not (tmp_path / "vlf2").exists() and no_leftovers(tmp_path)
    with pytest.raises(ExportError, match="none parsed"):
        write_vlfeedback(items[1:2], by_sha.__getitem__, tmp_path / "vlf3")
