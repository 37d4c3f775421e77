"""The release's dataset card: what was collected and how, the filters and what each
removed, the PII recogniser's measured recall, the terms users accepted, how to load it
and how to replay its prompts against a vLLM server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.release.card import ConfigCard, DatasetCard, markdown_table
from app.release.exports import CATALOG, OURS, REPLAY_COMMAND, REPLAY_SCHEMA
from app.release.features import hf_features
from app.release.filters.base import FilterReport
from app.release.rows import BATTLE_SCHEMA, CHAT_SCHEMA, IMAGE_COLUMNS
from app.release.writer import ShardSet

if TYPE_CHECKING:
    from app.release.build import ReleaseParams

_SCHEMAS = {"chat": CHAT_SCHEMA, "battle": BATTLE_SCHEMA, "replay": REPLAY_SCHEMA}
_ABOUT = {
    "chat": "every released conversation with one model: direct chats, each side of a "
            "side-by-side comparison, each side of an anonymous battle",
    "battle": "every voted anonymous battle that did not start from a preset (presets are "
              "in chat only), with the vote",
    "replay": "the first prompt and image of each chat conversation with an image: a trace "
              "for vLLM's serving benchmark",
}


def _filters_table(reports: list[FilterReport]) -> str:
    rows = []
    for r in reports:
        details = ", ".join(f"{k} {v}" for k, v in sorted(r.details.items()))
        changed = f"{r.changed} ({details})" if details else f"{r.changed}"
        rows.append((r.name, r.version, r.description, r.chat_removed, r.battle_removed,
                     changed))
    return markdown_table(("filter", "version", "what it removes", "chat rows removed",
                           "battle rows removed", "changed (details)"), rows)


def _recall_table(recall: dict[str, Any]) -> str:
    rows = [(k, v["planted"], v["found"], f"{v['recall']:.1%}")
            for k, v in recall["per_kind"].items()]
    rows.append(("all", recall["planted"], round(recall["overall"] * recall["planted"]),
                 f"{recall['overall']:.1%}"))
    return markdown_table(("type", "planted", "found", "recall"), rows)


def release_card(params: ReleaseParams, total: int, shards: dict[str, ShardSet],
                 reports: list[FilterReport], recall: dict[str, Any],
                 leaderboard: dict[str, Any]) -> DatasetCard:
    configs = [ConfigCard(name, hf_features(_SCHEMAS[name], IMAGE_COLUMNS),
                          f"data/{name}/train-*.parquet", s.rows, s.bytes,
                          default=name == "chat")
               for name, s in shards.items()]
    considered_chat = shards["chat"].rows + sum(r.chat_removed for r in reports)
    considered_battle = shards["battle"].rows + sum(r.battle_removed for r in reports)
    rng = f"{params.start.isoformat()} to {params.end.isoformat()} (end excluded)"
    counts = markdown_table(("configuration", "rows", "bytes", "files", "what"), [
        (n, s.rows, s.bytes, len(s.files), _ABOUT[n]) for n, s in shards.items()])
    sections = [
        ("Contents", counts),
        ("How it was collected",
         "People used a self-hosted vlm-arena: they uploaded an image (or drew one from a "
         "preset), asked a question, and got answers from two anonymous models side by "
         "side (a *battle*, voted on before the names were shown), from two models they "
         "chose (*side-by-side*), or from one (*direct chat*). Rows are the conversations "
         f"created from {rng}: {total} conversations were considered, giving "
         f"{considered_chat} chat rows (one per model conversation) and {considered_battle} "
         "battle rows (voted anonymous battles not started from a preset) before the "
         "filters. `user_id` (chat) and `judge` (battle) are the same salted pseudonym of "
         "a browser; no IP address, cookie or account is released."),
        ("Filters",
         "Applied in this order; each saw only what the previous ones kept, so the removed "
         "counts add up: chat rows before filters = released + removed "
         f"({considered_chat} = {shards['chat'].rows} + "
         f"{considered_chat - shards['chat'].rows}), battle rows likewise "
         f"({considered_battle} = {shards['battle'].rows} + "
         f"{considered_battle - shards['battle'].rows}). A filter that could not run "
         "stops the release: nothing is published unfiltered.\n\n" + _filters_table(reports)
         + f"\n\nImage PII action: **{params.image_pii_action}**. Text PII is replaced "
         "by typed placeholders (`[NAME]`, `[EMAIL]`, `[PHONE]`, `[ADDRESS]`, `[ID]`, "
         "`[CARD]`, `[IBAN]`, `[IP]`, `[CRYPTO]`), never dropped. Filter versions and "
         "parameters are in `manifest.json`."),
        ("Text PII recogniser: measured recall",
         "On the planted evaluation set (`app/release/pii_eval.py`: sentences with a known "
         "name, e-mail, phone number, street address or ID, faker seed "
         f"{recall['seed']}; names outside the gazetteer included), recogniser version "
         f"{recall['recogniser_version']}:\n\n" + _recall_table(recall)
         + "\n\nMissed: " + (", ".join(f"`{m}`" for m in recall["missed"]) or "none")
         + ". Names that are not in the gazetteer and are not introduced (\"my name is\", "
         "a title) are not found: treat scrubbing as a strong filter, not a guarantee."),
        ("Terms the users accepted",
         f"Terms versions in force: {', '.join(params.terms_versions)}. Only conversations "
         "of visitors who accepted them are released.\n\n" + (params.terms_text.strip()
                                                               or "(terms text not given)")),
        ("Loading",
         "```python\nimport datasets\nchat = datasets.load_dataset(\"<this folder or repo>\", "
         "\"chat\", split=\"train\")\nbattle = datasets.load_dataset(\"<this folder or repo>\","
         " \"battle\", split=\"train\")\n```\n\nImages decode as PIL images (the `Image` "
         "feature: bytes and path)."),
        ("Replaying the prompts against a vLLM server",
         "The `replay` configuration has VisionArena-Chat's shape, so vLLM's serving "
         "benchmark reads it as it reads `lmarena-ai/VisionArena-Chat`:\n\n```sh\n"
         + REPLAY_COMMAND.format(folder="<this folder>", n=shards["replay"].rows) + "\n```"),
        ("Leaderboard",
         (f"`{CATALOG}` (lmarena's catalog shape: category → model → rating, rating_lower, "
          f"rating_upper, vote_count, rank) and `{OURS}` (this arena's boards), from the "
          f"leaderboard snapshot with cutoff {leaderboard['cutoff']}.")
         if leaderboard else "No leaderboard snapshot existed when this was released."),
        ("Reproducibility",
         "`manifest.json` lists the sha256 of every file, the filter versions and "
         "parameters and the library versions; releasing the same range again with the "
         "same versions gives the same bytes."),
    ]
    return DatasetCard(
        pretty_name=params.pretty_name, license=params.license, configs=configs,
        summary=f"Conversations with vision-language models and human votes between them, "
                f"with their images, from {rng}.",
        sections=sections, task_categories=("visual-question-answering", "image-to-text"),
        tags=("arena", "human-feedback", "preference", "vision-language"),
    )
