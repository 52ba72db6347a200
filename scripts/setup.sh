#!/usr/bin/env bash
# Create .venv with the package (editable) and its test/dev tools. Idempotent, and quiet unless
# something goes wrong: pip's errors (and any warning not listed below) still reach stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Noise that is not a problem: setuptools' "Editable installation" banner (a warning from the build
# backend, silenced by its message only), and pip's "Location ... is ignored" for package index
# entries that a machine's pip configuration lists but does not have.
export PYTHONWARNINGS="ignore:Editable installation"
NOISE="^WARNING: Location '[^']*' is ignored"
pip_quietly() {
  local log status=0
  log=$(mktemp)
  .venv/bin/python -m pip "$@" 2>"$log" || status=$?
  grep -v -E "$NOISE" "$log" >&2 || true
  rm -f "$log"
  return "$status"
}
pip_quietly install --quiet --upgrade pip
pip_quietly install --quiet -e '.[dev]'
