#!/usr/bin/env bash
# Set up .venv and open a copy of notebooks/quickstart.ipynb in JupyterLab. Without XAI_API_KEY the
# notebook sends its jobs to the built-in offline emulator, so this works on any machine.
#   bash scripts/quickstart.sh             JupyterLab at http://127.0.0.1:8888/lab
#   bash scripts/quickstart.sh --execute   run the notebook headless; writes build/quickstart-executed.ipynb
#   Other arguments go to JupyterLab, e.g.  bash scripts/quickstart.sh --no-browser --port 8899
# The notebook you run is build/quickstart/quickstart.ipynb (git-ignored): running and saving it
# never touches the tracked notebook. Delete the copy to start again from a clean one.
# QUICKSTART_VENV=DIR uses an existing environment (with the package installed) and skips setup.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${QUICKSTART_VENV:-.venv}
if [ -z "${QUICKSTART_VENV:-}" ]; then
  bash scripts/setup.sh
fi
mkdir -p build
if [ "${1:-}" = "--execute" ]; then
  "$VENV/bin/jupyter" nbconvert --to notebook --execute notebooks/quickstart.ipynb \
    --output-dir build --output quickstart-executed.ipynb --ExecutePreprocessor.timeout=600
  echo "Executed notebook: build/quickstart-executed.ipynb"
  exit 0
fi
mkdir -p build/quickstart
copy=build/quickstart/quickstart.ipynb
if [ ! -e "$copy" ] || [ notebooks/quickstart.ipynb -nt "$copy" ]; then
  cp notebooks/quickstart.ipynb "$copy"
fi
# JupyterLab's defaults for this server only (the user's own settings still win): no "official
# Jupyter news?" toast over the cards and no update check. A labconfig layer on
# JUPYTER_CONFIG_PATH, so nothing in ~/.jupyter or the venv changes.
mkdir -p build/jupyter-config/labconfig
cat > build/jupyter-config/labconfig/default_setting_overrides.json <<'JSON'
{
  "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}
}
JSON
export JUPYTER_CONFIG_PATH="$PWD/build/jupyter-config${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}"
echo "Opening $copy (a copy of notebooks/quickstart.ipynb; delete it to start fresh)"
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
exec "$VENV/bin/jupyter" lab "$copy" --ServerApp.ip=127.0.0.1 --LabApp.news_url=None \
  --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate "${extra[@]}" "$@"
