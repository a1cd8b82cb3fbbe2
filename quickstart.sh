#!/usr/bin/env bash
# Set up fedcrm in .venv/ (created next to this script) and run the main job, the demo.
# Safe to run again: an existing .venv is reused and only what is missing gets installed.
# Extra arguments go to `fedcrm demo`.
set -euo pipefail
cd "$(dirname "$0")"

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin="$candidate"; break; fi
  done
fi
if [ -z "$python_bin" ] || ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "fedcrm needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $("$python_bin" --version)"
  "$python_bin" -m venv .venv
fi

# torch goes in first and pinned: an open range would pull a multi-GB CUDA build.
# FEDCRM_TORCH_INDEX=https://download.pytorch.org/whl/cpu picks PyTorch's CPU wheels.
if ! .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
  echo "==> installing torch ${FEDCRM_TORCH_VERSION:-2.13.0}"
  .venv/bin/python -m pip install --quiet ${FEDCRM_TORCH_INDEX:+--index-url "$FEDCRM_TORCH_INDEX"} \
    "torch==${FEDCRM_TORCH_VERSION:-2.13.0}"
fi
echo "==> installing fedcrm and its dependencies"
.venv/bin/python -m pip install --quiet -e ".[dev]"

echo "==> fedcrm --help"
.venv/bin/fedcrm --help
echo "==> fedcrm demo"
.venv/bin/fedcrm demo "$@"
