#!/usr/bin/env bash
# The independent-implementation checks ("oracles"): our models against torchgeo's and timm's in float64 with
# shared random weights. They need torchvision, which does not import beside the CPU build of torch that
# .venv uses, so they run in a venv of their own (about 5.5 GB: torch 2.14.1 + torchvision 0.29.1, which pip
# takes from this machine's disk where it has them). Usage: bash scripts/oracle_check.sh [VENV_DIR]
# Tests marked `oracle` skip with the reason in the main suite; here they must run (a skip is reported).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.oracle-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet torch==2.14.1 torchvision==0.29.1
  "$venv/bin/python" -m pip install --quiet torchgeo timm requests
  # TerraTorch for the Prithvi and TerraMind oracles, without its dependencies (they would move torch): the tests
  # load its prithvi_mae.py and terramind/model/ files alone, which need only torch, torchvision, numpy, einops and timm.
  "$venv/bin/python" -m pip install --quiet --no-deps terratorch==1.2.13 einops
  "$venv/bin/python" -m pip install --quiet -e ".[cpu,train]" pytest pytest-timeout > "$venv/install.log" 2>&1 \
    || { tail -n 40 "$venv/install.log"; exit 1; }
fi
"$venv/bin/python" -c "import torch, torchgeo, timm; print('torch', torch.__version__, '| torchgeo', torchgeo.__version__, '| timm', timm.__version__)"
"$venv/bin/python" -m pytest -q -m oracle -rs "${@:2}"
