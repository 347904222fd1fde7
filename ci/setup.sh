#!/usr/bin/env bash
# Installs what the build needs beyond a fresh machine of this kind (Rust toolchain, gcc, make).
# rdkafka builds librdkafka with its own configure script and links the system zlib.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
command -v make >/dev/null || need+=(make)
command -v gcc >/dev/null || need+=(gcc)
command -v perl >/dev/null || need+=(perl)
# The pipelines under test: Python in venvs, Spark on Java 17 or later.
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy
cargo --version

# The Python pipeline under test (examples/python-pipeline) runs in a venv of its own; the tests
# make it too when it is missing, so `cargo test --workspace` alone works on a fresh machine.
examples/python-pipeline/setup.sh

# The Spark pipelines (examples/spark: PySpark 4.3.0 in local mode, Spark Connect's jars
# included) run in a venv of their own, and need Java 17 or later; the Spark tests make it too.
examples/spark/setup.sh
