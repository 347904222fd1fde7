#!/usr/bin/env bash
# Interrupts runs at random moments and counts what they leave behind.
#
#   ci/interrupt.sh [RUNS] [SEED]     (default 100 runs, seed 1)
#
# Each run is a scenario (a fault among storage-read-only, driver-oom, driver-crash,
# concurrent-append, checkpoint-corruption; a layout) interrupted after a random delay with
# SIGINT, SIGTERM or SIGKILL of the harness. Then, once the harness is gone (and, after a
# SIGKILL, its reaper has had up to 20 s), it counts: processes whose command line or
# environment names the run directory, memory cgroups of the dead harness, entries under the
# run directory still immutable, and run directories `rm -rf` cannot delete. Exit 0 when all
# four counts are 0.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-100}
RANDOM=${2:-1}
cargo build --quiet
bin=target/debug/loudfail
parent=$(mktemp -d "${TMPDIR:-/tmp}/loudfail-interrupt.XXXXXX")
faults=(storage-read-only driver-oom driver-crash concurrent-append checkpoint-corruption)
pipelines=(features-inference features-inference telemetry telemetry features-inference)
topologies=(multi-query shared-cluster cluster-per-task)
signals=(INT TERM KILL)

left_processes=0 left_cgroups=0 left_immutable=0 left_undeletable=0
memory_cgroup=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)
cgroup_dir=/sys/fs/cgroup/memory$memory_cgroup

mentioning() { # processes whose cmdline or environ names $1
  local n=0
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    if grep -qsF -- "$1" "$p/cmdline" "$p/environ" 2> /dev/null; then n=$((n + 1)); fi
  done
  echo $n
}

cgroups_of() { # memory cgroups the loudfail process $1 made
  if [ -d "$cgroup_dir" ]; then
    find "$cgroup_dir" -maxdepth 1 -name "loudfail-$1-*" | wc -l
  else
    echo 0
  fi
}

for i in $(seq 1 "$runs"); do
  k=$((RANDOM % ${#faults[@]}))
  fault=${faults[$k]} pipeline=${pipelines[$k]}
  topology=${topologies[$((RANDOM % ${#topologies[@]}))]}
  sig=${signals[$((RANDOM % ${#signals[@]}))]}
  delay_ms=$((200 + RANDOM % 2800))
  dir=$parent/run-$i
  "$bin" run --pipeline "$pipeline" --topology "$topology" --await each --fault "$fault" \
    --seed "$i" --dir "$dir" > "$parent/run-$i.out" 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -s "$sig" "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  # The harness is gone. After a SIGKILL its reaper cleans up: give it up to 20 s.
  for _ in $(seq 1 200); do
    if [ "$(mentioning "$dir")" = 0 ] && [ "$(cgroups_of "$pid")" = 0 ] \
      && ! lsattr -R -a "$dir" 2> /dev/null | grep -qE '^\S*i\S* '; then
      break
    fi
    sleep 0.1
  done
  p=$(mentioning "$dir") c=$(cgroups_of "$pid")
  m=$(lsattr -R -a "$dir" 2> /dev/null | grep -cE '^\S*i\S* ' || true)
  d=0
  rm -rf "$dir" 2> /dev/null || d=1
  [ -e "$dir" ] && d=1
  left_processes=$((left_processes + p)) left_cgroups=$((left_cgroups + c))
  left_immutable=$((left_immutable + m)) left_undeletable=$((left_undeletable + d))
  printf 'run %3d  %-24s %-17s %-16s SIG%-4s after %4d ms: %d processes, %d cgroups, %d immutable, %s\n' \
    "$i" "$fault" "$topology" "$pipeline" "$sig" "$delay_ms" "$p" "$c" "$m" \
    "$([ $d = 0 ] && echo deleted || echo 'NOT deletable')"
done

echo "$runs runs interrupted: left $left_processes processes, $left_cgroups cgroups, $left_immutable immutable entries, $left_undeletable undeletable run directories"
rm -rf "$parent"
[ $((left_processes + left_cgroups + left_immutable + left_undeletable)) = 0 ]
