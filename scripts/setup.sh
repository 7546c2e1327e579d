#!/usr/bin/env bash
# Sets up .venv with trtbench and its test/CPU extras, offline-safe beyond the package registries.
# On a machine without an NVIDIA GPU, PyTorch's CPU build 2.13.0 is installed first (a bare `torch`
# would pull a multi-GB CUDA build); with a GPU, pip resolves trtbench's torch range to a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    python -m pip install --quiet "torch>=2.4,<3"
  else
    python -m pip install --quiet torch==2.13.0
  fi
fi
# The build backend's notices are noise here; keep them in a log, show it only if the install fails.
python -m pip install --quiet -e ".[dev]" > .venv/install.log 2>&1 || { tail -n 40 .venv/install.log; exit 1; }
