"""Print the gloo equivalence figures of results/perf_ray.md: 2 gloo ranks (half the batch
each, negatives gathered) against 1 process on the concatenated batch, float64 and float32, per loss.

Usage: OMP_NUM_THREADS=1 python scripts/gloo_equivalence.py   (from the repository root)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_distributed as t  # noqa: E402  (the test's workers and reference, one definition)


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        out = Path(root) / "results.pt"
        mp.start_processes(t._gloo_worker, args=(f"file://{root}/rendezvous", str(out)),
                           nprocs=t.WORLD, start_method="spawn")
        results = torch.load(out)
    print(f"| loss | dtype | 2 ranks x {t.IMAGES} images | 1 process, {t.WORLD * t.IMAGES} "
          "images | abs loss difference | max abs gradient difference |")
    print("|---|---|---|---|---|---|")
    for (variant, dtype), (loss, grads) in results.items():
        want_loss, want_grads = t._reference(variant, dtype)
        grad_gap = max(float((g - w).abs().max()) for g, w in zip(grads, want_grads))
        print(f"| {variant} | {str(dtype).removeprefix('torch.')} | {loss:.12f} "
              f"| {want_loss:.12f} | {abs(loss - want_loss):.1e} | {grad_gap:.1e} |")


if __name__ == "__main__":
    main()
