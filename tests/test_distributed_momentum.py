"""MoCo under torchrun (two gloo ranks on CPU): every rank enqueues every rank's keys, so the
queues stay identical across ranks and hold both ranks' keys; the EMA targets' weights stay
identical (their BatchNorm statistics are per rank on CPU, where torch has no SyncBatchNorm)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from benchmark import distributed

WORLD, GLOBAL_WAYS, STEPS, QUEUE = 2, 8, 3, 64


def _worker(rank: int, init: str, out: str) -> None:
    from benchmark.data import load_split
    from benchmark.methods import build_method
    from benchmark.samplers import build_sampler
    from benchmark.train import TrainConfig, train

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    split = load_split("omniglot", "background")
    sampler = build_sampler("augment", split, distributed.shard(GLOBAL_WAYS, "ways"), 1, 1)
    torch.manual_seed(0)
    method = build_method("moco", "conv4", split.image_shape, queue_size=QUEUE, projector_dim=16)
    initial = method.queue.keys.clone()
    config = TrainConfig(steps=STEPS, checkpoint_every=STEPS, seed=0, device="cpu",
                         progress=False, tensorboard=False)
    train(method, sampler, config, Path(out) / "run")
    torch.save({"initial": initial, "state": method.state_dict()}, Path(out) / f"rank{rank}.pt")
    distributed.shutdown()  # collected, then a barrier, then destroyed: no rank aborts


def test_two_ranks_keep_one_queue_and_one_target(tmp_path: Path) -> None:
    mp.start_processes(_worker, args=(f"file://{tmp_path / 'rendezvous'}", str(tmp_path)),
                       nprocs=WORLD, start_method="spawn")
    first, second = (torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD))
    keys_per_step = GLOBAL_WAYS * 2  # both ranks' images, two views each
    assert int(first["state"]["queue.ptr"]) == STEPS * keys_per_step % QUEUE
    for name, value in first["state"].items():
        batch_norm_statistics = "running_" in name or "num_batches_tracked" in name  # per rank on CPU
        if name.startswith(("queue.", "target_")) and not batch_norm_statistics:
            assert torch.equal(value, second["state"][name]), name
    written = STEPS * keys_per_step
    fresh = first["state"]["queue.keys"][:written]
    assert not torch.isclose(fresh, first["initial"][:written]).all(1).any()  # every slot written
    rest = first["state"]["queue.keys"][written:]
    assert torch.equal(rest, first["initial"][written:])  # and no more than the steps' keys
