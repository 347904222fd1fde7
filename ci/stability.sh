#!/usr/bin/env bash
# Runs every cell of `loudfail matrix --all` at one seed N times and says which cells' verdicts
# were not the same every time (issue: a flaky verdict is a harness bug).
#
#   ci/stability.sh [N] [SEED]     (default 20 times, seed 1; LOUDFAIL_JOBS cells at a time, default 1)
#
# A verdict is compared by its kind (SILENT, LOSS, ...; the measured window or count varies with
# timing) and, for COLLATERAL, the tasks it names. Exit 0 when every cell gave one verdict.
set -uo pipefail
cd "$(dirname "$0")/.."
times=${1:-20}
seed=${2:-1}
jobs=${LOUDFAIL_JOBS:-1}
cargo build --quiet || exit 2
out="target/stability/seed$seed-$$"
mkdir -p "$out"
# Its own copy of the binary: a build meanwhile must not change what the repetitions run.
cp target/debug/loudfail "$out/loudfail" || exit 2
start=$(date +%s)
for i in $(seq 1 "$times"); do
  echo "== repetition $i of $times (seed $seed, $jobs at a time)"
  # A cell that differs from its expectation exits 1: that is a finding, not this script's failure.
  "$out/loudfail" matrix --all --seed "$seed" --jobs "$jobs" --dir "$out/rep-$i" > "$out/rep-$i.txt"
  [ $? -ge 2 ] && echo "repetition $i: the matrix met a harness error (see $out/rep-$i.txt)"
  # cell, verdict kind (COLLATERAL keeps its tasks)
  awk 'NR > 1 && NF > 3 && $1 ~ /\// {
         v = $3; if (v !~ /^COLLATERAL/) sub(/\(.*/, "", v); print $1, v
       }' "$out/rep-$i.txt" > "$out/rep-$i.verdicts"
done
sort "$out"/rep-*.verdicts | uniq -c | awk '{print $2}' | uniq -d > "$out/unstable"
cells=$(sort -u -k1,1 "$out"/rep-*.verdicts | wc -l)
unstable=$(wc -l < "$out/unstable")
echo "$times repetitions of $cells cells ($jobs at a time) in $(( $(date +%s) - start )) s: $unstable cells gave more than one verdict"
while read -r cell; do
  echo "  $cell: $(grep -h "^$cell " "$out"/rep-*.verdicts | awk '{print $2}' | sort | uniq -c | tr '\n' ' ')"
done < "$out/unstable"
[ "$unstable" -eq 0 ]
