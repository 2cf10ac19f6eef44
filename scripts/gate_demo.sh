#!/usr/bin/env bash
# Dogfood the CI chain on the demo task: score a committed hand-made predictions file, build the leaderboard,
# and gate it against the committed baseline (absolute tolerance, then the paired test).
# Regenerate the baseline (after an intended change) with:
#   monkeyeval score --task demo results/baselines/demo_handmade_predictions.jsonl --model-name handmade \
#       --results /tmp/demo-results && monkeyeval gate /tmp/demo-results --write-baseline results/baselines/demo.json
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
monkeyeval score --task demo results/baselines/demo_handmade_predictions.jsonl --model-name handmade --results "$out"
monkeyeval report "$out" --format md
monkeyeval gate "$out" --baseline results/baselines/demo.json --mode abs --tolerance 0
monkeyeval gate "$out" --baseline results/baselines/demo.json --mode paired --markdown "$out/gate.md"
echo "demo gate: passed"
