#!/usr/bin/env bash
# The nightly chaos run (not part of `.ci/run`): every cell of the matrix, then an exploration
# of generated scenarios under the `model` property (every run must come out as its fault is
# expected to) with the seed of the day and a wall-time budget. Kept regressions in
# ci/regressions.jsonl are replayed first; a new minimal failure is appended there, to be
# committed once understood. Every failure prints the one command that replays it.
#
#   LOUDFAIL_SEED   seed of the exploration (default: today's date, 20261122)
#   LOUDFAIL_TIME   wall-time budget of the exploration (default: 45m)
set -uo pipefail
cd "$(dirname "$0")/.."
seed="${LOUDFAIL_SEED:-$(date -u +%Y%m%d)}"
time_budget="${LOUDFAIL_TIME:-45m}"
out="target/nightly/$seed-$$"
mkdir -p "$out"
cargo build --quiet || exit 2

echo "== matrix --all (seed $seed)"
./target/debug/loudfail matrix --all --seed "$seed" --dir "$out/matrix"
matrix=$?

echo "== explore --property model --seed $seed --time $time_budget"
./target/debug/loudfail explore --property model --seed "$seed" --time "$time_budget" --budget 100000 \
  --regressions ci/regressions.jsonl --dir "$out/explore"
explore=$?

echo "== artifacts: $out (junit.xml under matrix/)"
if [ "$matrix" -ne 0 ] || [ "$explore" -ne 0 ]; then
  echo "nightly: matrix exit $matrix, explore exit $explore" >&2
  exit $(( matrix > explore ? matrix : explore ))
fi
