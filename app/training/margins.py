"""The chosen-over-rejected log-probability margin of a model on preference pairs.

What DPO raises: log p(chosen | prompt, image) - log p(rejected | prompt, image), summed over
the answer tokens. Batches come from TRL's own vision preference collator, so the margin is
measured on exactly the tokens DPOTrainer trains on.
"""

from __future__ import annotations

from typing import Any


def preference_margins(model: Any, processor: Any, dataset: Any,
                       batch_size: int = 16) -> list[float]:
    import torch
    from trl.trainer.dpo_trainer import DataCollatorForVisionPreference

    collate = DataCollatorForVisionPreference(processor=processor)
    rows = dataset.select_columns(["images", "prompt", "chosen", "rejected"])
    out: list[float] = []
    model.eval()
    for start in range(0, len(rows), batch_size):
        batch = collate([dict(r) for r in rows.select(range(start, min(start + batch_size,
                                                                       len(rows))))])
        mask = batch.pop("completion_mask")[:, 1:].float()
        with torch.inference_mode():
            logits = model(**batch).logits[:, :-1].float()
        logp = torch.log_softmax(logits, -1).gather(
            -1, batch["input_ids"][:, 1:, None]).squeeze(-1)
        total = (logp * mask).sum(-1)
        half = total.shape[0] // 2
        out += (total[:half] - total[half:]).tolist()
    return out
