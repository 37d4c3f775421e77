"""Fine-tuning registry models on the arena's preference data (TRL DPO, and SFT as a control).

The data is the DPO export (app/feedback/dpo_export.py); the result is a model folder the
arena's transformers worker and vLLM load like any other, with a card saying what made it.
Needs the `research` extra (trl, peft, datasets).
"""
