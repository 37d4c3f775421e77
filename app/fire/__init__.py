"""FIRE (feedback refinement): teacher-student dialogues, their metrics and exports (issue 11).

The core (items, dialogue rules, metrics, exports) is pure; `app.fire.runs` stores and
drives dialogues through the workers like every judge run.
"""
