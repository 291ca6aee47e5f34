#!/usr/bin/env bash
# Create or update the project's virtualenv with everything the suite, its tests and `make perf` need.
# Idempotent: re-running it only installs what is missing. Fails loudly on any error.
# Usage: scripts/setup.sh [VENV]   (default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
# What the environment was built from; when unchanged since the last full set-up, nothing to do.
stamp="$VENV/.setup-stamp"
want=$(cat setup.cfg scripts/setup.sh scripts/install_learn2learn.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$PY" -c "import benchmark, learn2learn" 2>/dev/null; then
  echo "setup: $VENV is up to date"
  exit 0
fi
# pip's exit status is kept; only the noise about this machine's absent local index folders is dropped.
source scripts/pip_quiet.sh

# torch/torchvision first, pinned: the releases this project is built and tested against.
pip_quiet "$PY" install -q "torch==2.14.1" "torchvision==0.29.1" "numpy>=2"
# timm: the optional extra that tests/test_pretrained.py covers; ray: the Ray executor's
# tests run in CI (about 270 MiB installed, ~30 s from PyPI); tensorboard: the training curves
# every run logs (README, "Watch training in TensorBoard").
pip_quiet "$PY" install -q -e ".[dev,perf,timm,ray,tensorboard]"
# learn2learn last: it is installed without its declared dependencies (gsutil, qpth, ...), so
# any pip install after it would report them as missing (pip's resolver ERROR line).
bash scripts/install_learn2learn.sh "$PY"

"$PY" - <<'PY'
import numpy, torch, torchvision, learn2learn, pandas, scipy, ray, timm, tensorboard, benchmark
assert numpy.__version__.split(".")[0] == "2", f"numpy 2 expected, got {numpy.__version__}"
assert torch.__version__.startswith("2.14.1"), torch.__version__
print(f"setup ok: torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"numpy {numpy.__version__}, learn2learn {learn2learn.__version__}, pandas {pandas.__version__}, "
      f"ray {ray.__version__}, timm {timm.__version__}")
PY
echo "$want" > "$stamp"
