"""The card of a fine-tuned model: what data, what run, what it measures against its base.

Written into the model folder as MODEL_CARD.md (for people) and training.json (the same
facts for tools), so a registered model always says how it was made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD = """# {name}

Fine-tuned from `{base}` by `arena train {method}` ({method_words}). Loads with
transformers (`AutoModelForImageTextToText`, the arena's transformers worker) and vLLM
(classic llava-hf weight names).

| | |
|---|---|
| base model | `{base}` ({base_path}) |
| method | {method_words}{lora} |
| pairs | {labels} |
| data | `{data_folder}`: {rows:,} rows ({sources}); sha256 of {sha256_of} `{sha256}` |
| steps | {steps}, batch {batch_size}, lr {lr}, linear schedule, warmup {warmup_ratio:.0%}{beta}, seed {seed} |
| training time | {train_s:.0f} s on the CPU |
{accuracy}
## Register it

Add to the registry (`models.yaml` or your `ARENA_MODELS_FILE`):

```yaml
  - name: {name}
    backend: transformers
    path: {out}
```
"""  # noqa: E501

METHODS = {"dpo": "DPO, TRL `DPOTrainer`, sigmoid loss, reference = the frozen base",
           "sft": "supervised fine-tuning on the chosen answers, TRL `SFTTrainer`"}


def _accuracy_rows(evaluation: dict[str, Any] | None) -> str:
    if not evaluation:
        return "| held-out accuracy | not measured (`--eval-questions 0`) |\n"
    d = evaluation
    return (f"| **held-out accuracy** | **{d['tuned']:.1%}** vs base {d['base']:.1%} on "
            f"{d['n']} demo-world questions about unseen scenes (seeds 10,000,000+) |\n"
            f"| difference | {d['diff']:+.1%} (95% paired bootstrap {d['low']:+.1%} to "
            f"{d['high']:+.1%}; McNemar p = {d['mcnemar_p']:.2g}; right only after tuning "
            f"{d['only_tuned']}, only before {d['only_base']}) |\n")


def write_card(folder: Path, facts: dict[str, Any]) -> None:
    s = facts["settings"]
    text = CARD.format(
        name=facts["name"], base=facts["base"], base_path=facts["base_path"],
        method=facts["method"], method_words=METHODS[facts["method"]],
        lora=f", LoRA rank {s['lora_rank']} (merged)" if s["lora"] else ", full weights",
        labels=facts["labels"], data_folder=facts["data"]["folder"],
        rows=facts["data"]["rows"],
        sources=", ".join(f"{k} {v}" for k, v in facts["data"]["sources"].items()),
        sha256=facts["data"]["sha256"], sha256_of=facts["data"]["sha256_of"],
        steps=s["steps"], batch_size=s["batch_size"], lr=s["lr"],
        warmup_ratio=s["warmup_ratio"], seed=s["seed"],
        beta=(f", beta {s['beta']}" + (f", plus {s['sft_weight']} x NLL of the chosen answer"
                                       if s.get("sft_weight") else ""))
        if facts["method"] == "dpo" else "",
        train_s=facts["train_seconds"], accuracy=_accuracy_rows(facts.get("evaluation")),
        out=facts["out"])
    (folder / "MODEL_CARD.md").write_text(text)
    (folder / "training.json").write_text(json.dumps(facts, indent=2) + "\n")
