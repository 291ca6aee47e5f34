"""Timing probes for ``benchmark run --plan``: a few training steps of a method, one embedding
of a batch of evaluation images; in memory only (no run folder, no store)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from benchmark.backbones import place_model
from benchmark.data import load_split
from benchmark.data.split import unit_float
from benchmark.device import resolve_device
from benchmark.evaluation import random_floor
from benchmark.heads import embed_fn
from benchmark.runner.job import build_model, build_train_sampler
from benchmark.spec.benchmark_spec import BenchmarkSpec
from benchmark.precision import choose, step_probe
from benchmark.train.loop import TrainStep, draw_step, place, step_seeds
from benchmark.train.optim import build_optimizer, build_scheduler

#: Images embedded by the evaluation probe.
PROBE_IMAGES = 128


def step_seconds(spec: BenchmarkSpec, label: str, data_root: Path | None, device: str,
                 steps: int = 3) -> float:
    """Seconds per training step of method ``label``: the mean of ``steps`` steps after one
    warm-up step, on a fresh model (seed 0) on ``device``, as the trainer runs them (its
    meta-batch of episodes a step, in the precision and, for MAML and ANIL, on the inner loop
    path the trainer would choose)."""
    method = spec.method(label)
    split = load_split(spec.train.dataset, spec.train_split_of(label), data_root)
    model = build_model(method, split.image_shape, seed=0)
    config = method.train_config(0, device)
    where = place(model, config)
    sampler = build_train_sampler(method, split, str(where))
    optimizer = build_optimizer(model, config)
    precision = choose(config.precision, where, step_probe(model, sampler, where)).precision
    model.resolve_auto(lambda: [e.to(where) for e in draw_step(sampler, step_seeds(
        0, 0, config.meta_batch))], precision)
    step = TrainStep(model, optimizer, build_scheduler(optimizer, config), where, config.amp,
                     precision)
    model.train()
    step(draw_step(sampler, step_seeds(0, 0, config.meta_batch)))
    started = time.perf_counter()
    for i in range(1, steps + 1):
        step(draw_step(sampler, step_seeds(0, i, config.meta_batch)))
    return (time.perf_counter() - started) / steps


def embed_seconds(spec: BenchmarkSpec, label: str, data_root: Path | None, device: str) -> float:
    """Seconds per image of ``label``'s model embedding ``PROBE_IMAGES`` images of its train
    split (the floor's backbone for a floor), in eval mode, after a warm-up batch."""
    split = load_split(spec.train.dataset, spec.train_split_of(label), data_root)
    if label in spec.floors:
        model = random_floor(spec.floors[label], split.image_shape)
    else:
        model = build_model(spec.method(label), split.image_shape, seed=0)
    where = resolve_device(device)
    place_model(model, where).eval()
    images = unit_float(split.images[:PROBE_IMAGES]).to(where)
    embed = embed_fn(model)
    with torch.no_grad():
        embed(images[:8])
        started = time.perf_counter()
        embed(images)
    return (time.perf_counter() - started) / len(images)
