#!/usr/bin/env bash
# Makes the Python pipeline's venv (.venv beside this script) with pinned packages. Idempotent:
# a venv whose packages match is left as it is. Needs python3 with venv and pip, and PyPI.
set -euo pipefail
cd "$(dirname "$0")"
. ../venv.sh
make_venv python-pipeline 3.9 "confluent-kafka==2.16.1 deltalake==1.6.6 pyarrow==26.0.1"
