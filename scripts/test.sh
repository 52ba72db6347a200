#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (emulator, real kernels, JupyterLab in Chromium).
# Extra arguments go to pytest, e.g.  bash scripts/test.sh -k kernel
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
.venv/bin/ruff check xai_defer_magic tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest "$@"
