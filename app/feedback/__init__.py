"""VLFeedback: multi-aspect AI feedback on the arena's prompts, preference pairs (AI and
human), AI-human agreement, and the VLFeedback and DPO exports.

- ``prompts``: prompt sets (an imported file, checked whole; the arena's battles);
- ``job``: k models answer through the workers, the judge rates all k in one call;
- ``pairs``: VLFeedback's pair rule (app/judges/verdicts.py) and human pairs, with the
  chosen-is-longest and judge-rates-itself controls (pure);
- ``agreement``: AI-human agreement with Wilson intervals (pure);
- ``store``: the queries; ``vlfeedback_export`` and ``dpo_export``: the dataset folders;
- ``exports``: a ratings run (and the arena's votes) to both folders and the agreement.
"""
