#!/usr/bin/env bash
# The checks CI runs, in order: formatting, lints, then the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all --check

# Clippy lints our crates while they are compiled for the tests: clippy-driver is rustc plus the
# lints, so the dependencies are compiled once (a separate `cargo clippy` check build of them
# cost 13 of a 51-minute run on 2 cores). Same lints as `cargo clippy --workspace --all-targets
# -- -D warnings`, which is what to run by hand.
export RUSTC_WORKSPACE_WRAPPER=clippy-driver
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
echo "== build every target, with clippy's lints as errors"
start=$(date +%s)
cargo test --workspace --all-targets --no-run
echo "build took $(( $(date +%s) - start )) s"

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
