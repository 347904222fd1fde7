#!/usr/bin/env bash
# Makes the Python pipeline's venv (.venv beside this script) with pinned packages. Idempotent:
# a venv whose packages match is left as it is. Needs python3 with venv and pip, and PyPI.
set -euo pipefail
cd "$(dirname "$0")"
want="confluent-kafka==2.16.1 deltalake==1.6.6 pyarrow==26.0.1"
if [ -x .venv/bin/python ] && [ "$(cat .venv/.loudfail-packages 2>/dev/null)" = "$want" ]; then
  exit 0
fi
if ! command -v python3 > /dev/null; then
  echo "python3 is missing: install Python 3.9 or later (apt-get install python3 python3-venv)" >&2
  exit 1
fi
rm -rf .venv
python3 -m venv .venv || { echo "python3 cannot make a venv: apt-get install python3-venv" >&2; exit 1; }
# shellcheck disable=SC2086
.venv/bin/pip install --quiet --disable-pip-version-check $want
echo "$want" > .venv/.loudfail-packages
echo "python-pipeline: venv ready ($want)"
