#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (emulator, real kernels, JupyterLab in Chromium).
# Extra arguments go to pytest, e.g.  bash scripts/test.sh -k panel
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "The browser tests need Debian's chromium: sudo apt-get install --no-install-recommends chromium" >&2
    exit 1
  fi
fi
bash scripts/setup.sh
# Bytecode caches on: with PYTHONDONTWRITEBYTECODE set, every pytest worker and every kernel
# compiles IPython, pandas and the rest from source again (about 4 s of CPU each).
unset PYTHONDONTWRITEBYTECODE
.venv/bin/ruff check xai_defer_magic tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
# Three tiers, one after another (extra arguments go to each): a tier whose tests the arguments
# deselect all (pytest's exit status 5) is not a failure. Browser tests run in one process: they
# and real kernels would otherwise fight for the 2 cores their timeouts were measured on.
tier() {
  local status=0
  .venv/bin/python -m pytest "$@" || status=$?
  if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then exit "$status"; fi
}
# Warm the bytecode caches once (the package, and pytest's rewritten test modules): on a fresh
# clone every worker of the first tier would otherwise compile them all at the same time.
.venv/bin/python -m pytest --collect-only -q -n 0 "$@" >/dev/null || true
tier -m "not kernel and not browser" "$@"             # fast: emulator, IPython's test shell
tier -m kernel -n 3 "$@"                                # real ipykernel kernels, end to end
tier -m browser -n 0 "$@"                               # JupyterLab and Notebook in headless Chromium
