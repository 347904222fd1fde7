# Sourced by the examples' setup.sh scripts, from their own directory.
#
# make_venv NAME PYTHON PACKAGES: makes .venv in the current directory with PACKAGES (pinned,
# space-separated) on python3 (PYTHON or later, named in the error when it is missing).
# Idempotent: a venv whose packages match is left as it is. Needs python3 with venv, and PyPI.
make_venv() {
  local name=$1 python=$2 want=$3
  if [ -x .venv/bin/python ] && [ "$(cat .venv/.loudfail-packages 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  if ! command -v python3 > /dev/null; then
    echo "$name: python3 is missing: install Python $python or later (apt-get install python3 python3-venv)" >&2
    return 1
  fi
  rm -rf .venv
  python3 -m venv .venv || { echo "$name: python3 cannot make a venv: apt-get install python3-venv" >&2; return 1; }
  # shellcheck disable=SC2086
  .venv/bin/pip install --quiet --disable-pip-version-check $want
  echo "$want" > .venv/.loudfail-packages
  echo "$name: venv ready ($want)"
}
