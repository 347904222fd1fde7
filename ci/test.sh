#!/usr/bin/env bash
# The checks CI runs, in order: formatting, lints, then the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== the README's test command"
start=$(date +%s)
cargo test --workspace
echo "tests took $(( $(date +%s) - start )) s"

echo "== no loudfail process left behind"
# Cluster and task processes of loudfail or of any binary built on it (the examples).
if pgrep -af '__(cluster|task) --run-dir' ; then
  echo "a test left loudfail processes running" >&2
  exit 1
fi

echo "== no directory left read-only"
# storage-read-only sets the immutable attribute; every way out of a run must clear it.
if command -v lsattr > /dev/null && [ -d target/tmp/loudfail-tests ]; then
  if lsattr -R -a target/tmp/loudfail-tests 2> /dev/null | grep -E '^\S*i\S* ' ; then
    echo "a test left directories immutable (chattr -i them to delete)" >&2
    exit 1
  fi
fi
