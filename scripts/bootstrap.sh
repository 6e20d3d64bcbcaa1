#!/usr/bin/env bash
# Create .venv and install rlmdj into it.
#   scripts/bootstrap.sh          the package and its runtime dependencies
#   scripts/bootstrap.sh --test   + test tools, the CPU torch build, audiobox-aesthetics, the Ray
#                                 and SLURM (submitit) launcher extras, the Modal client, and a
#                                 pre-fetched Deno/Pyodide sandbox for the RLM tests
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --disable-pip-version-check -q)
"${PIP[@]}" --upgrade pip

if [ "${1:-}" = "--test" ]; then
  # torch 2.13.0 resolves to the CPU build; a bare 'torch' could pull a multi-GB CUDA build.
  "${PIP[@]}" torch==2.13.0
  # ray and slurm: the cluster launchers' extras, so their tests run instead of skipping; modal:
  # the GPU scorer app's definition is tested (nothing is deployed).
  "${PIP[@]}" -e '.[dev,audiobox,ray,slurm,modal]'
  # audiobox-aesthetics declares torchaudio, which rlmdj does not need: install it without deps.
  "${PIP[@]}" --no-deps audiobox-aesthetics
  if [ -f scripts/warm_sandbox.py ]; then
    .venv/bin/python scripts/warm_sandbox.py || echo "warning: sandbox warm-up failed; sandbox tests will retry" >&2
  fi
else
  "${PIP[@]}" -e .
fi
echo "rlmdj installed in .venv (activate with: source .venv/bin/activate)"
