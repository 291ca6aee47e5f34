#!/usr/bin/env bash
# The GPU path, checked in at most 8 minutes on a machine with one NVIDIA GPU (issue 24, point 4).
#
# Usage (from the repository root):   bash scripts/gpu_check.sh OUT_DIR
#         a dry run here, on the CPU:  GPU_CHECK_DRY_RUN=1 bash scripts/gpu_check.sh OUT_DIR
#
# Needs python3 with torch (CUDA) and the suite's base dependencies installed; installs nothing
# and reaches no network. learn2learn, ray and timm may be missing: what needs them is skipped,
# with a line saying so. Everything it writes goes under OUT_DIR: log.txt (a copy of its log),
# summary.json and summary.md (device name, versions, every stage's status and seconds), the
# result tables and the CUDA test log. The store and the run folders of its trainings live in
# OUT_DIR/work (deleted at the end), never in results/.
#
# Stages, the cheap important ones first; a stage whose time estimate exceeds what is left of
# the budget is skipped with a message, and every stage runs under `timeout`:
#   1. environment (device name, versions, which optional packages exist)
#   2. the CUDA tests (pytest -m cuda): a training step in float32/bfloat16/float16, the
#      vectorised-vs-sequential MAML meta-gradient agreement, evaluation on cuda
#   3. perf maml on cuda (vectorised vs sequential inner loops; target vectorised >= 3x)
#   4. the quick table (tasks/quick.yaml) on cuda in float32, then in bfloat16
#   5. torchrun with NCCL on one GPU: one short SimCLR training
#   6. the omniglot_transfer table at its full spec budget, if the time left allows
#
# GPU_CHECK_DRY_RUN=1 makes every stage tiny and runs it on the CPU (gloo instead of NCCL), so
# that the script's logic is exercised where there is no GPU; its numbers mean nothing.
set -u -o pipefail

if [ $# -ne 1 ]; then
    echo "error: usage: bash scripts/gpu_check.sh OUT_DIR" >&2
    exit 2
fi
OUT=$(mkdir -p "$1" && cd "$1" && pwd) || { echo "error: cannot create $1" >&2; exit 2; }
ROOT=$(pwd)
if [ ! -f "$ROOT/benchmark/__init__.py" ]; then
    echo "error: run from the repository root" >&2
    exit 2
fi
PY=${PYTHON:-python3}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
DRY=${GPU_CHECK_DRY_RUN:-0}
BUDGET=${GPU_CHECK_BUDGET_S:-450}   # seconds; 8 minutes less a margin for the summary
WORK="$OUT/work"
mkdir -p "$WORK"
# GPU_CHECK_HIDE="learn2learn ray": make those packages unimportable (a dry run's imitation of
# the GPU machine, where they are missing).
if [ -n "${GPU_CHECK_HIDE:-}" ]; then
    mkdir -p "$WORK/hidden"
    echo "import sys; sys.modules.update(dict.fromkeys('${GPU_CHECK_HIDE}'.split()))" \
        > "$WORK/hidden/sitecustomize.py"
fi
[ -n "${GPU_CHECK_HIDE:-}" ] && export PYTHONPATH="$WORK/hidden:$PYTHONPATH"
LOG="$OUT/log.txt"
: > "$LOG"
STAGES="$OUT/stages.tsv"
: > "$STAGES"
START=$(date +%s)

say() { echo "[gpu_check $(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }
left() { echo $(( BUDGET - ($(date +%s) - START) )); }

# stage NAME ESTIMATE_S TIMEOUT_S COMMAND...: run COMMAND under timeout when ESTIMATE_S fits in
# the time left; record its status and seconds in stages.tsv.
stage() {
    local name=$1 estimate=$2 limit=$3
    shift 3
    local remaining
    remaining=$(left)
    if [ "$estimate" -gt "$remaining" ]; then
        say "SKIP $name: needs about ${estimate}s, ${remaining}s left of the ${BUDGET}s budget"
        printf '%s\tskipped (time)\t0\n' "$name" >> "$STAGES"
        return 0
    fi
    [ "$limit" -gt "$remaining" ] && limit=$remaining
    say "START $name (estimate ${estimate}s, limit ${limit}s): $*"
    local t0 rc
    t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" >> "$LOG" 2>&1
    rc=$?
    local took=$(( $(date +%s) - t0 ))
    local status="ok"
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status="timed out after ${limit}s"
    elif [ $rc -ne 0 ]; then status="failed (exit $rc)"; fi
    say "END $name: $status in ${took}s"
    printf '%s\t%s\t%s\n' "$name" "$status" "$took" >> "$STAGES"
}

skip() {  # skip NAME REASON
    say "SKIP $1: $2"
    printf '%s\tskipped (%s)\t0\n' "$1" "$2" >> "$STAGES"
}

# ---- 1. environment -------------------------------------------------------------------------
if ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "error: $PY cannot import torch" | tee -a "$LOG" >&2
    exit 2
fi
if [ "$DRY" = "1" ]; then
    DEVICE=cpu
    say "DRY RUN: every stage tiny and on the CPU; no number here is a GPU number"
else
    if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
        echo "error: torch sees no CUDA device (GPU_CHECK_DRY_RUN=1 for a dry run on the CPU)" \
            | tee -a "$LOG" >&2
        exit 2
    fi
    DEVICE=cuda
fi
"$PY" - "$OUT/environment.json" "$DEVICE" <<'EOF' 2>&1 | tee -a "$LOG"
import json, platform, sys
import torch
import torch.distributed


def importable(name):
    try:
        __import__(name)
        return True
    except Exception:
        return False

out, device = sys.argv[1], sys.argv[2]
env = {
    "device": device,
    "device_name": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
    "bf16_supported": bool(torch.cuda.is_bf16_supported()) if device == "cuda" else None,
    "torch": torch.__version__, "cuda": torch.version.cuda,
    "nccl": str(torch.cuda.nccl.version()) if device == "cuda" and torch.distributed.is_nccl_available() else None,
    "python": platform.python_version(),
    "optional packages": {m: importable(m)
                          for m in ("learn2learn", "ray", "timm", "easyfsl", "tensorboard")},
}
json.dump(env, open(out, "w"), indent=1)
print(json.dumps(env))
EOF
has() { "$PY" -c "import $1" 2>/dev/null; }

if [ "$DRY" = "1" ]; then
    QUICK_SET=(--set "methods[0].trainer.steps=2" --set "methods[1].trainer.steps=2"
               --set "methods[2].trainer.steps=2" --set "eval.episodes=4")
    TRANSFER_SET=(--set "trainer.steps=2" --set "eval.head_episodes.finetune=2" --set "methods[0].trainer.steps=2"
                  --set "methods[1].trainer.steps=2" --set "methods[2].trainer.steps=2"
                  --set "eval.episodes=4" --set "trainer.val_episodes=4")
    export BENCHMARK_PERF_ROUNDS=1 BENCHMARK_PERF_BUDGET_S=0.05
    DIST_STEPS=2
    E_TESTS=20; E_PERF=20; E_QUICK=30; E_DIST=30; E_TRANSFER=30
else
    QUICK_SET=()
    TRANSFER_SET=()
    export BENCHMARK_PERF_ROUNDS=2 BENCHMARK_PERF_BUDGET_S=1.5   # perf maml: 17 rows x 2 shapes
    DIST_STEPS=30
    E_TESTS=60; E_PERF=120; E_QUICK=75; E_DIST=45; E_TRANSFER=150
fi

# ---- 2. CUDA tests --------------------------------------------------------------------------
stage cuda_tests "$E_TESTS" 150 "$PY" -m pytest -m cuda -q -p no:cacheprovider -o addopts="" \
    -rA tests/test_functional_adapt.py tests/test_precision.py \
    --junitxml="$OUT/cuda_tests.xml"

# ---- 3. perf maml ---------------------------------------------------------------------------
stage perf_maml "$E_PERF" 200 "$PY" -m benchmark perf maml --out "$OUT/perf_maml_$DEVICE.md"

# ---- 4. the quick table in float32 and bfloat16 ---------------------------------------------
for precision in float32 bfloat16; do
    stage "quick_$precision" "$E_QUICK" 150 "$PY" -m benchmark run tasks/quick.yaml \
        --device "$DEVICE" --set "trainer.precision=$precision" "${QUICK_SET[@]}" \
        --store "$WORK/quick_$precision.sqlite" --runs-dir "$WORK/runs_quick_$precision" \
        --report-dir "$OUT/quick_$precision"
done

# ---- 5. torchrun with NCCL on one GPU -------------------------------------------------------
if [ "$DRY" = "1" ]; then BACKEND="gloo (dry run)"; else BACKEND=nccl; fi
say "torchrun: backend $BACKEND"
stage torchrun_nccl "$E_DIST" 120 "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 \
    -m benchmark run tasks/quick.yaml --executor torchrun --device "$DEVICE" --only simclr \
    --set "methods[1].trainer.steps=$DIST_STEPS" --set "eval.episodes=20" \
    --store "$WORK/torchrun.sqlite" --runs-dir "$WORK/runs_torchrun" \
    --report-dir "$OUT/torchrun_simclr"

# ---- 6. omniglot_transfer at its full spec budget -------------------------------------------
if ! has timm && grep -q 'timm:' tasks/omniglot_transfer.yaml; then
    skip omniglot_transfer "timm is not installed and the spec names a timm encoder"
else
    stage omniglot_transfer "$E_TRANSFER" 600 "$PY" -m benchmark run tasks/omniglot_transfer.yaml \
        --device "$DEVICE" "${TRANSFER_SET[@]}" --store "$WORK/transfer.sqlite" \
        --runs-dir "$WORK/runs_transfer" --report-dir "$OUT/omniglot_transfer"
fi

# ---- summary --------------------------------------------------------------------------------
"$PY" - "$OUT" "$DRY" "$(( $(date +%s) - START ))" <<'EOF' 2>&1 | tee -a "$LOG"
import json, sys
from pathlib import Path
out, dry, seconds = Path(sys.argv[1]), sys.argv[2] == "1", int(sys.argv[3])
env = json.loads((out / "environment.json").read_text())
stages = [dict(zip(("stage", "status", "seconds"), line.split("\t")))
          for line in (out / "stages.tsv").read_text().splitlines() if line]
summary = {"dry_run": dry, "total_seconds": seconds, **env, "stages": stages}
(out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
lines = ["# GPU check" + (" (DRY RUN on the CPU: no GPU number)" if dry else ""), "",
         f"- device: {env['device']}: {env['device_name']}",
         f"- torch {env['torch']}, CUDA {env['cuda']}, NCCL {env['nccl']}, Python {env['python']}",
         f"- optional packages: {env['optional packages']}",
         f"- total: {seconds} s", "", "| stage | status | seconds |", "|---|---|---:|",
         *[f"| {s['stage']} | {s['status']} | {s['seconds']} |" for s in stages], ""]
(out / "summary.md").write_text("\n".join(lines))
print("\n".join(lines))
EOF
rm -rf "$WORK"
say "done in $(( $(date +%s) - START ))s; results in $OUT"
