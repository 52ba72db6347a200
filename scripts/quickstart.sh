#!/usr/bin/env bash
# Set up .venv and open notebooks/quickstart.ipynb in JupyterLab. Without XAI_API_KEY the notebook
# sends its jobs to the built-in offline emulator, so this works on any machine.
#   bash scripts/quickstart.sh             JupyterLab at http://127.0.0.1:8888/lab
#   bash scripts/quickstart.sh --execute   run the notebook headless; writes build/quickstart.ipynb
#   Other arguments go to JupyterLab, e.g.  bash scripts/quickstart.sh --no-browser --port 8899
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "--execute" ]; then
  mkdir -p build
  .venv/bin/jupyter nbconvert --to notebook --execute notebooks/quickstart.ipynb \
    --output-dir build --output quickstart.ipynb --ExecutePreprocessor.timeout=600
  echo "Executed notebook: build/quickstart.ipynb"
  exit 0
fi
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
exec .venv/bin/jupyter lab notebooks/quickstart.ipynb --ServerApp.ip=127.0.0.1 "${extra[@]}" "$@"
