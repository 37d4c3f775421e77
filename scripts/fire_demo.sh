#!/usr/bin/env bash
# The FIRE demo (issue 11, README "FIRE"): the feedback-trained student and its untrained
# base with the demo teacher, with the teacher's feedback and with uninformative feedback,
# on the same held-out items; then the fixed dialogues; then the plot and the model card.
#
# Needs the deployment path running with the FIRE registry, e.g.
#   export ARENA_MODELS_FILE=models/fire-demo.yaml   (plus ARENA_DATABASE_URL, ARENA_REDIS_URL)
#   arena serve &  arena worker --model shapes-fire-student &
#   arena worker --model shapes-medium &  arena worker --model shapes-fire-teacher &
set -euo pipefail
cd "$(dirname "$0")/.."
ARENA=${ARENA:-.venv/bin/python -m arena_cli}
OUT=${OUT:-models/demo/shapes-fire-student/fire}
N=${N:-200}
TEACHER=${TEACHER:-shapes-fire-teacher}
EXPORTS=${EXPORTS:-$(mktemp -d)}  # the runs' dialogues and images (not kept in the repo)
mkdir -p "$OUT"
runs=()
for student in shapes-medium shapes-fire-student; do
  for feedback in teacher uninformative; do
    $ARENA fire run --student "$student" --teacher "$TEACHER" --items demo --count "$N" \
      --feedback "$feedback" --out "$OUT/$student-$feedback.json"
    runs+=("$(.venv/bin/python -c "import json,sys; print(json.load(open(sys.argv[1]))['run'])" \
      "$OUT/$student-$feedback.json")")
    $ARENA fire export --run "${runs[-1]}" --out "$EXPORTS/$student-$feedback"
  done
  $ARENA fire fixed --student "$student" --teacher "$TEACHER" --count 100 \
    --out "$OUT/$student-fixed.json"
done
$ARENA fire report --runs "$(IFS=,; echo "${runs[*]}")" --plot "$OUT/score-per-turn.png"
.venv/bin/python scripts/fire_demo_card.py "$OUT" "$EXPORTS"
