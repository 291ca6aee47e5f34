"""Distributed (torchrun / DDP) training of the SimCLR family, on CPU with gloo.

- Two gloo processes, each with half the batch, give the loss and the gradients (to 1e-5) of
  one process on the concatenated batch: NT-Xent and its SimCLR → ProtoCLR variants
  (``sup_con(..., across_ranks=True)``) and ProtoCLR's prototype loss, through DDP.
- The helpers are the identity in a plain process.
- A run trained on 2 ranks (checkpoints by rank 0 only) resumes on 1 rank.
- ``torchrun --nproc_per_node=2 -m benchmark run SPEC --executor torchrun`` trains a tiny
  SimCLR spec end to end; a world size that does not divide ``ways`` is refused before work.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml
from torch.nn.parallel import DistributedDataParallel

from benchmark import distributed
from benchmark.losses import prototypical_loss, sup_con
from benchmark.store import Store

WORLD = 2
#: Images per rank (two views each), projection size, input size.
IMAGES, DIM, IN = 6, 8, 12
TOLERANCE = 1e-5
DTYPES = (torch.float64, torch.float32)
VARIANTS = {"nt_xent": {}, "one_side": {"same_side_negatives": False},
            "query_anchors": {"same_side_negatives": False, "symmetric": False}}


def _encoder() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(IN, 16), torch.nn.ReLU(), torch.nn.Linear(16, DIM))


def _batch(rank: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rank ``rank``'s views (support block then query block), instance labels and sides."""
    generator = torch.Generator().manual_seed(100 + rank)
    x = torch.randn(2 * IMAGES, IN, generator=generator, dtype=torch.float64).to(dtype)
    ids = torch.arange(IMAGES)
    return x, torch.cat([ids, ids]), torch.cat([torch.zeros(IMAGES), torch.ones(IMAGES)]).long()


def _losses(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor, sides: torch.Tensor,
            variant: str) -> torch.Tensor:
    z = model(x)
    if variant == "protoclr":
        n = len(x) // 2
        loss, _ = prototypical_loss(z[:n], labels[:n], z[n:], labels[n:], IMAGES, "cosine", 0.5,
                                    across_ranks=True)
        return loss
    loss, _ = sup_con(z, labels, 0.5, sides=sides, across_ranks=True, **VARIANTS[variant])
    return loss


def _gloo_worker(rank: int, init: str, out: str, run_dir: str) -> None:
    """Rank ``rank`` of the two spawned processes: the losses and gradients (saved by rank 0 to
    ``out``), then the 2-rank training stopped after its step-``CRASH_AT`` checkpoint, in
    ``run_dir`` (one spawn for both: each spawned interpreter imports torch)."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    _losses_and_gradients(rank, out)
    _train_until_the_crash(run_dir)
    distributed.shutdown()


def _losses_and_gradients(rank: int, out: str) -> None:
    results = {}
    for variant in [*VARIANTS, "protoclr"]:
        for dtype in DTYPES:
            model = DistributedDataParallel(_encoder().to(dtype))
            x, labels, sides = _batch(rank, dtype)
            loss = _losses(model, x, labels, sides, variant)
            loss.backward()
            results[variant, dtype] = (float(distributed.mean_over_ranks(loss.detach())),
                                       [p.grad.clone() for p in model.parameters()])
            del model, loss
    if rank == 0:
        torch.save(results, out)


def _reference(variant: str, dtype: torch.dtype) -> tuple[float, list[torch.Tensor]]:
    """One process, the ranks' batches concatenated (each rank's images distinct)."""
    model = _encoder().to(dtype)
    parts = [_batch(r, dtype) for r in range(WORLD)]
    if variant == "protoclr":  # prototypes of every rank's images: one episode of 2N classes
        n = 2 * IMAGES // 2
        x = torch.cat([p[0][:n] for p in parts] + [p[0][n:] for p in parts])
        ids = torch.arange(WORLD * IMAGES)
        z = model(x)
        loss, _ = prototypical_loss(z[:WORLD * n], ids, z[WORLD * n:], ids, WORLD * IMAGES,
                                    "cosine", 0.5)
    else:
        x = torch.cat([p[0] for p in parts])
        labels = torch.cat([p[1] + r * IMAGES for r, p in enumerate(parts)])
        sides = torch.cat([p[2] for p in parts])
        loss, _ = sup_con(model(x), labels, 0.5, sides=sides, **VARIANTS[variant])
    loss.backward()
    return float(loss.detach()), [p.grad.clone() for p in model.parameters()]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of what the two gloo ranks left: ``results.pt`` and the crashed ``run``."""
    root = tmp_path_factory.mktemp("gloo")
    mp.start_processes(_gloo_worker, args=(f"file://{root / 'rendezvous'}",
                                           str(root / "results.pt"), str(root / "run")),
                       nprocs=WORLD, start_method="spawn")
    return root


@pytest.fixture(scope="module")
def gloo_results(two_ranks: Path) -> dict:
    return torch.load(two_ranks / "results.pt")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", [*VARIANTS, "protoclr"])
def test_two_gloo_ranks_give_the_loss_and_gradients_of_one_process(gloo_results: dict,
                                                                   variant: str,
                                                                   dtype: torch.dtype) -> None:
    loss, grads = gloo_results[variant, dtype]
    want_loss, want_grads = _reference(variant, dtype)
    assert abs(loss - want_loss) <= TOLERANCE, (loss, want_loss)
    for got, want in zip(grads, want_grads, strict=True):
        assert torch.allclose(got, want, atol=TOLERANCE, rtol=0), (got - want).abs().max()
    # the gathered negatives matter: a rank alone (its own batch only) has another loss
    model = _encoder().to(dtype)
    x, labels, sides = _batch(0, dtype)
    alone = float(_losses(model, x, labels, sides, variant).detach())
    assert abs(alone - want_loss) > 1e-3


def test_the_helpers_are_the_identity_in_one_process() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    assert distributed.rank() == 0 and distributed.world_size() == 1
    assert not distributed.is_distributed()
    assert distributed.all_gather(x) is x
    assert torch.equal(distributed.gather_no_grad(x), x.detach())
    labels = torch.tensor([0, 1, 0, 1])
    assert distributed.rank_labels(labels) == (labels, labels)
    assert distributed.shard(128, "ways") == 128
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}
    assert distributed.rank_device(torch.device("cpu")) == torch.device("cpu")


# --------------------------------------------------------------------------- resume 2 → 1

RESUME_STEPS, CRASH_AT, GLOBAL_WAYS = 6, 4, 8


class _Crash(Exception):
    """The simulated end of a 2-rank run after its step-``CRASH_AT`` checkpoint."""


def _train_args(ways: int, crash: bool):
    from benchmark.data import load_split
    from benchmark.methods import build_method
    from benchmark.samplers import build_sampler
    from benchmark.train import TrainConfig, episode_seed

    split = load_split("omniglot", "background")
    sampler = build_sampler("augment", split, ways, 1, 1)
    if crash:  # every rank stops before step CRASH_AT + 1, as a killed launch would
        stop = {episode_seed(0, CRASH_AT, r) for r in range(WORLD)}
        inner = sampler.sample

        def sample(seed: int):
            if seed in stop:
                raise _Crash(seed)
            return inner(seed)

        sampler.sample = sample
    torch.manual_seed(0)
    method = build_method("simclr", "conv4", split.image_shape, temperature=0.5,
                          projector_dim=16)
    config = TrainConfig(steps=RESUME_STEPS, checkpoint_every=2, seed=0, device="cpu",
                         progress=False, tensorboard=False)
    return method, sampler, config


def _train_until_the_crash(run_dir: str) -> None:
    """This rank's share of a 2-rank SimCLR run that ends after its step-``CRASH_AT``
    checkpoint."""
    from benchmark.train import train

    method, sampler, config = _train_args(distributed.shard(GLOBAL_WAYS, "ways"), crash=True)
    try:
        train(method, sampler, config, Path(run_dir))
    except _Crash:
        pass
    del method, sampler


def test_a_run_trained_on_two_ranks_resumes_on_one(two_ranks: Path) -> None:
    from benchmark.checkpoint import load_checkpoint
    from benchmark.train import train

    run_dir = two_ranks / "run"
    saved = load_checkpoint(run_dir / "last.pt")
    assert saved["step"] == CRASH_AT
    with (run_dir / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == list(range(1, CRASH_AT + 1))  # rank 0 alone wrote
    assert sorted(p.name for p in run_dir.iterdir()) == ["last.pt", "metrics.csv"]

    method, sampler, config = _train_args(GLOBAL_WAYS, crash=False)  # 1 rank, the whole batch
    result = train(method, sampler, config, run_dir)
    assert result.resumed_from == CRASH_AT and result.steps == RESUME_STEPS
    with (run_dir / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == list(range(1, RESUME_STEPS + 1))
    final = load_checkpoint(run_dir / "last.pt")["model"]
    assert any(not torch.equal(final[k], saved["model"][k]) for k in final)


# --------------------------------------------------------------------------- torchrun CLI


def _spec(ways: int) -> dict:
    return {
        "name": "ddp", "device": "cpu", "seeds": [0],
        "train": {"dataset": "omniglot", "split": "background"},
        "trainer": {"steps": 4, "optimizer": "adam", "lr": 0.001, "checkpoint_every": 2},
        "methods": [{"label": "simclr", "method": "simclr", "backbone": "conv4",
                     "sampler": "augment", "ways": ways, "shots": 1, "queries": 1,
                     "params": {"temperature": 0.5, "projector_dim": 16}}],
        "eval": {"datasets": [{"dataset": "omniglot", "split": "evaluation"}],
                 "settings": [{"ways": 5, "shots": 1}], "heads": ["prototype"],
                 "episodes": 4, "queries": 3, "seed": 0},
    }


def _torchrun(root: Path, spec: dict) -> subprocess.CompletedProcess:
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLCONFIGDIR": str(root / "mpl")}
    return subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", "-m", "benchmark", "run", str(path),
         "--executor", "torchrun", "--store", str(root / "store.sqlite"),
         "--runs-dir", str(root / "runs"), "--report-dir", str(root / "report")],
        env=env, cwd=root, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_torchrun_trains_a_simclr_spec_on_two_ranks(tmp_path: Path) -> None:
    done = _torchrun(tmp_path, _spec(ways=8))
    assert done.returncode == 0, done.stdout + done.stderr
    with Store(tmp_path / "store.sqlite") as store:
        (run,) = store.runs("ddp")
        rows = {r.method: r for r in store.results("ddp")}
    assert (run.status, run.steps) == ("done", 4)
    assert sorted(rows) == ["random", "simclr"]  # the floor runs on rank 0 alone
    assert 0 < rows["simclr"].accuracy <= 1 and rows["simclr"].steps == 4
    with (tmp_path / "runs" / "ddp" / "simclr" / "seed0" / "metrics.csv").open() as handle:
        assert [int(r["step"]) for r in csv.DictReader(handle)] == [1, 2, 3, 4]


def test_torchrun_refuses_ways_the_world_does_not_divide(tmp_path: Path) -> None:
    done = _torchrun(tmp_path, _spec(ways=7))
    assert done.returncode != 0
    assert "ways 7 cannot be split over 2 ranks" in done.stderr
    assert not (tmp_path / "runs").exists()
