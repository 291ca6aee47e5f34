"""``perf maml``: tasks per second of our MAML training step against the step of learn2learn's
own ``examples/vision/maml_omniglot.py``, in the same process, on the same network.

Ours is a meta-batch step as the trainer's ``meta_batch`` setting runs it (the published
meta-batch: 32 tasks at 5-way, 16 at 20-way): the episodes drawn by our sampler inside the timed
step, ``forward_batch`` (the sequential learn2learn clone/adapt path, the vectorised
``torch.func`` one, the threaded one (on a CPU: the episodes over the process's torch threads,
one intra-op thread each), or ``auto``: the path its probe picks, as a run with ``inner_loop:
auto`` does), one Adam step; for MAML, first-order MAML and ANIL; and, for reference,
MAML at meta-batch 1 (one optimiser step per task). learn2learn's step is written as its example
writes its training loop: per task ``maml.clone()``, ``fast_adapt`` (adaptation / evaluation
halves picked by index arithmetic, ``learner.adapt``), ``backward``; after the meta-batch the
gradients are averaged and Adam steps; on learn2learn's ``CNN4Backbone`` with max-pool + a
linear layer (our Conv-4's architecture), on pre-drawn tensors, on the CPU. Its per-iteration
meta-validation task (monitoring, no training) is left out of its step, which favours it.
Rates are tasks per second. The device is CUDA where there is one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from benchmark.data import load_split
from benchmark.episodes.episode import Episode
from benchmark.optional import import_learn2learn
from benchmark.errors import BenchmarkError
from benchmark.perf import PERF_SCRIPTS
from benchmark.report.perf_page import finish, heading, machine, verdict
from benchmark.device import resolve_device
from benchmark.methods import build_method
from benchmark.methods.adaptation import Network
from benchmark.perf.step import MIN_STEPS, measure, settings
from benchmark.precision import autocast, hardware_bf16
from benchmark.train import TrainConfig, build_optimizer, build_scheduler, place
from benchmark.samplers import build_sampler

#: (ways, shots): the example's 5-way 1-shot, and 20-way 1-shot; 1 query per class, as the
#: example's ``train_samples=2*shots``.
SHAPES = ((5, 1), (20, 1))
META_BATCH = 32  # the example's meta_batch_size
#: The published meta-batch of each shape (Finn et al. 2017: 32 tasks at 5-way, 16 at 20-way).
PUBLISHED_META_BATCH = {5: 32, 20: 16}
#: The meta-batch rows: (method, inner_loop); ``auto`` runs the path its probe picks.
META_ROWS = tuple((name, inner) for name in ("maml", "fomaml", "anil")
                  for inner in ("sequential", "autograd", "vectorised", "threaded", "auto"))
#: The paths set against the sequential ones, and against learn2learn's step.
FAST_PATHS = ("vectorised", "threaded")
#: The rows measured again under bfloat16 autocast where the device computes it natively
#: (``precision.hardware_bf16``): MAML, and learn2learn's example step under the same autocast.
BF16_ROWS = (("maml", "sequential"), ("maml", "vectorised"), ("maml", "threaded"))
TARGET_VECTORISED_CUDA = 3.0
FAST_LR, META_LR = 0.5, 0.003  # the example's
TARGET_RATIO = 1.2  # issue 24: at the published meta-batch, >= 1.2x learn2learn's step


def l2l_example_step(l2l: Any, model: nn.Module, episodes: list[Episode],
                     meta_batch: int = META_BATCH) -> Callable[[int], Any]:
    """One iteration of the example's training loop (``META_BATCH`` tasks, then Adam) on
    pre-drawn episodes laid out as learn2learn's tasks: each class's support then query image."""
    ways, shots = episodes[0].ways, episodes[0].shots
    tasks = []
    for e in episodes:
        data = torch.stack([x for c in range(ways) for x in (e.support[c], e.query[c])])
        tasks.append((data, torch.arange(ways).repeat_interleave(2)))
    maml = l2l.algorithms.MAML(model, lr=FAST_LR, first_order=False)
    optimizer = torch.optim.Adam(maml.parameters(), META_LR)
    loss = nn.CrossEntropyLoss(reduction="mean")

    def fast_adapt(batch: tuple[torch.Tensor, torch.Tensor], learner: Any) -> torch.Tensor:
        data, labels = batch
        adaptation = np.zeros(data.size(0), dtype=bool)
        adaptation[np.arange(shots * ways) * 2] = True
        evaluation = torch.from_numpy(~adaptation)
        adaptation_t = torch.from_numpy(adaptation)
        learner.adapt(loss(learner(data[adaptation_t]), labels[adaptation_t]))
        predictions = learner(data[evaluation])
        (predictions.argmax(dim=1) == labels[evaluation]).sum().float().item()
        return loss(predictions, labels[evaluation])

    def step(i: int) -> None:
        optimizer.zero_grad()
        for task in range(meta_batch):
            error = fast_adapt(tasks[(i * meta_batch + task) % len(tasks)], maml.clone())
            error.backward()
            error.item()
        for p in maml.parameters():
            p.grad.data.mul_(1.0 / meta_batch)
        optimizer.step()

    return step


def autograd_loss(method: Any, episode: Episode) -> torch.Tensor:
    """One episode's meta-loss by a plain ``torch.autograd`` inner loop (``functional_call``,
    ``autograd.grad``, no learn2learn): what ``forward`` computes, for the ``autograd`` rows (a
    sequential path that runs where learn2learn is not installed, e.g. on the GPU machine)."""
    from torch.func import functional_call

    if method.name == "anil":
        n_support = len(episode.support)
        features = method.backbone(torch.cat([episode.support, episode.query]))
        net, inputs, queries = method.classifier, features[:n_support], features[n_support:]
    else:
        net, inputs, queries = (Network(method.backbone, method.classifier), episode.support,
                                episode.query)
    params = dict(net.named_parameters())
    fast = params
    for _ in range(method.inner_steps):
        loss = nn.functional.cross_entropy(functional_call(net, fast, (inputs, episode.ways)),
                                           episode.support_labels)
        grads = torch.autograd.grad(loss, list(fast.values()), create_graph=not method.first_order,
                                    allow_unused=True)
        fast = {k: p if g is None else p - method.inner_lr * (g.detach() if method.first_order else g)
                for (k, p), g in zip(fast.items(), grads)}
    logits = functional_call(net, fast, (queries, episode.ways))
    return nn.functional.cross_entropy(logits, episode.query_labels)


def l2l_conv4(l2l: Any, ways: int) -> nn.Module:
    """learn2learn's ``CNN4Backbone`` (max-pool: our Conv-4's architecture) + a linear layer
    of ``ways`` outputs, from torch seed 0."""
    torch.manual_seed(0)
    return nn.Sequential(l2l.vision.models.CNN4Backbone(
        hidden_size=64, layers=4, channels=1, max_pool=True), nn.Linear(64, ways))


def in_precision(step: Callable[[int], Any], precision: str,
                 device: torch.device) -> Callable[[int], Any]:
    """``step`` with its computation under ``precision``'s autocast (as the trainer's
    ``TrainStep`` runs a method's forward; the backward follows the forward's dtypes)."""
    def timed(i: int) -> Any:
        with autocast(precision, device):
            return step(i)
    return timed


def meta_batch_step(name: str, split: Any, ways: int, shots: int, meta_batch: int,
                    inner_loop: str, device: torch.device) -> tuple[Callable[[int], Any], str]:
    """A meta-batch training step as the trainer's ``meta_batch`` setting runs it: ``meta_batch``
    episodes drawn (inside the step), ``forward_batch``, the finite-loss check, backward, one
    Adam step and the schedule; and, for ``auto``, what its probe chose (``resolve_auto`` on
    the first step's episodes, in float32, as the trainer calls it), else "". ``name``: maml,
    fomaml (maml, first order) or anil; ``inner_loop``: the method's setting (sequential,
    vectorised, auto), or ``autograd`` (``autograd_loss`` per episode); one inner step (lr
    ``FAST_LR``), 1 query per class."""
    torch.manual_seed(0)
    params: dict[str, Any] = dict(ways=ways, inner_lr=FAST_LR,
                                  inner_loop="sequential" if inner_loop == "autograd" else inner_loop)
    if name == "fomaml":
        params["first_order"] = True
    method = build_method("anil" if name == "anil" else "maml", "conv4", split.image_shape, **params)
    config = TrainConfig(steps=10**6, lr=META_LR, device=str(device), progress=False,
                         tensorboard=False)
    place(method, config)
    method.train()
    optimizer = build_optimizer(method, config)
    scheduler = build_scheduler(optimizer, config)
    sampler = build_sampler("labels", split, ways, shots, 1, device=device)
    chosen = method.resolve_auto(
        lambda: [e.to(device) for e in sampler.sample_batch(list(range(meta_batch)))], "float32")

    def step(i: int) -> None:
        episodes = sampler.sample_batch(list(range(i * meta_batch, (i + 1) * meta_batch)))
        episodes = [e.to(device) for e in episodes]
        if inner_loop == "autograd":
            loss = torch.stack([autograd_loss(method, e) for e in episodes]).mean()
        else:
            loss = method.forward_batch(episodes)["loss"]
        if not bool(torch.isfinite(loss.detach())):
            raise FloatingPointError(float(loss))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step, chosen


@PERF_SCRIPTS.register("maml", "MAML tasks/s at the published meta-batch: sequential and vectorised "
                               "inner loops (MAML, FOMAML, ANIL) vs learn2learn's maml_omniglot.py step")
def run(out: Path | None = None, data_root: Path | None = None) -> int:
    """Measure, print the table and ratios, write ``out`` (Markdown) if given. The device is
    ``auto`` (CUDA where there is one); learn2learn's rows are left out, with a line saying
    so, where learn2learn is not installed."""
    if out is not None and out.is_dir():
        raise BenchmarkError(f"--out {out} is a directory; give a file name")
    started = time.perf_counter()
    rounds, budget_s = settings()
    device = resolve_device("auto")
    try:
        l2l: Any = import_learn2learn()
        missing = ""
    except BenchmarkError as exc:
        l2l, missing = None, str(exc)
    where = machine()
    if device.type == "cuda":
        where += f"; device: {torch.cuda.get_device_name(device)}"
    split = load_split("omniglot", "background", data_root)
    rows_run = [(name, inner) for name, inner in META_ROWS
                if (l2l is not None or inner not in ("sequential", "auto"))  # learn2learn's
                and (device.type == "cpu" or inner != "threaded")]
    how = {"sequential": "sequential inner loop (learn2learn clone/adapt)",
           "autograd": "sequential inner loop (plain torch.autograd)",
           "vectorised": "vectorised inner loop (torch.func)",
           "threaded": "threaded inner loop (episodes over the cores, one thread each)",
           "auto": "inner loop auto (the path its probe picks)"}
    labels = {f"{name}_{inner}": f"ours: {name}, meta-batch step, {how[inner]}, sampling "
                                 f"included, {device.type}" for name, inner in rows_run}
    bf16, bf16_why = hardware_bf16(device)
    bf16_run = [(name, inner) for name, inner in BF16_ROWS if bf16 and (name, inner) in rows_run]
    labels.update({f"{name}_{inner}_bf16": f"ours: {name}, meta-batch step, {how[inner]}, "
                                           f"sampling included, {device.type}, bfloat16 autocast"
                   for name, inner in bf16_run})
    if l2l is not None:
        labels = {"l2l_conv4": "learn2learn maml_omniglot.py step, CNN4Backbone (max-pool) + "
                               "Linear: our Conv-4, pre-drawn tensors, cpu",
                  "ours_1": "ours: maml, one task per step (meta-batch 1, the trainer today), "
                            f"{device.type}", **labels}
        if bf16_run:
            labels["l2l_conv4_bf16"] = ("learn2learn maml_omniglot.py step as above, under "
                                        "bfloat16 autocast (not in its example), cpu")
    rates: dict[str, list[float]] = {key: [] for key in labels}
    chosen: dict[str, list[str]] = {}  # per auto row, the probe's choice at each shape
    for ways, shots in SHAPES:
        meta_batch = PUBLISHED_META_BATCH[ways]
        steps: dict[str, Callable[[int], Any]] = {}
        for name, inner in rows_run:
            steps[f"{name}_{inner}"], said = meta_batch_step(name, split, ways, shots,
                                                             meta_batch, inner, device)
            if said:
                chosen.setdefault(name, []).append(said)
        steps.update({f"{name}_{inner}_bf16": in_precision(meta_batch_step(
            name, split, ways, shots, meta_batch, inner, device)[0], "bfloat16", device)
            for name, inner in bf16_run})
        per_step = dict.fromkeys(steps, meta_batch)
        if l2l is not None:
            pool = build_sampler("labels", split, ways, shots, 1).sample_batch(list(range(64)))
            steps["l2l_conv4"] = l2l_example_step(l2l, l2l_conv4(l2l, ways), pool, meta_batch)
            per_step["l2l_conv4"] = meta_batch
            if bf16_run:
                steps["l2l_conv4_bf16"] = in_precision(l2l_example_step(
                    l2l, l2l_conv4(l2l, ways), pool, meta_batch), "bfloat16", device)
                per_step["l2l_conv4_bf16"] = meta_batch
            steps["ours_1"] = meta_batch_step("maml", split, ways, shots, 1, "sequential",
                                              device)[0]
            per_step["ours_1"] = 1
        best = measure(steps)
        for key in labels:
            rates[key].append(best[key] * per_step[key])
        print(f"{ways}w{shots}s (meta-batch {meta_batch}): "
              + ", ".join(f"{k} {v[-1]:.1f} tasks/s" for k, v in rates.items()), flush=True)
    rows = ["| step | " + " | ".join(f"{n}w{k}s1q, meta-batch {PUBLISHED_META_BATCH[n]}"
                                     for n, k in SHAPES) + " |",
            "|---|" + "---:|" * len(SHAPES)]
    for key, label in labels.items():
        rows.append(f"| {label} | " + " | ".join(f"{r:.1f}" for r in rates[key]) + " |")
    ratio_lines = []
    for i, (n, k) in enumerate(SHAPES):
        for name in ("maml", "fomaml", "anil"):
            for path in FAST_PATHS:
                for inner in ("sequential", "autograd"):
                    if f"{name}_{inner}" not in rates or f"{name}_{path}" not in rates:
                        continue
                    ratio = rates[f"{name}_{path}"][i] / rates[f"{name}_{inner}"][i]
                    target = (f" (target on CUDA >= {TARGET_VECTORISED_CUDA}x: "
                              f"{verdict(ratio >= TARGET_VECTORISED_CUDA)})"
                              if device.type == "cuda" and name == "maml" else "")
                    ratio_lines.append(f"- {n}w{k}s1q, {name} {path} / {how[inner]} = "
                                       f"{ratio:.2f}x{target}")
            if f"{name}_auto" not in rates:
                continue
            paths = [p for p in ("sequential", *FAST_PATHS) if f"{name}_{p}" in rates]
            fastest = max(rates[f"{name}_{p}"][i] for p in paths)
            ratio_lines.append(f"- {n}w{k}s1q, {name} auto / the fastest of {', '.join(paths)} "
                               f"= {rates[f'{name}_auto'][i] / fastest:.2f}x; its probe said: "
                               f"{chosen[name][i]}")
        if l2l is not None:
            for inner in ("sequential", *FAST_PATHS):
                if f"maml_{inner}" not in rates:
                    continue
                ratio = rates[f"maml_{inner}"][i] / rates["l2l_conv4"][i]
                ratio_lines.append(f"- {n}w{k}s1q, maml {inner} / learn2learn = {ratio:.2f}x "
                                   f"(target >= {TARGET_RATIO}x: {verdict(ratio >= TARGET_RATIO)})")
            for name, inner in bf16_run:
                ours = rates[f"{name}_{inner}_bf16"][i]
                ratio = ours / rates["l2l_conv4"][i]
                ratio_lines.append(
                    f"- {n}w{k}s1q, {name} {inner} in bfloat16 / learn2learn as its example runs "
                    f"(float32) = {ratio:.2f}x (target >= {TARGET_RATIO}x: "
                    f"{verdict(ratio >= TARGET_RATIO)}); / learn2learn under the same autocast = "
                    f"{ours / rates['l2l_conv4_bf16'][i]:.2f}x")
    command = "python -m benchmark perf maml" + (f" --out {out}" if out else "")
    lines = [
        *heading("MAML training step speed", command, where),
        f"- data: embedded Omniglot background, 28x28; device {device}; one inner step "
        f"(lr {FAST_LR}), 1 query per class; every step: its meta-batch of tasks, then one Adam "
        f"step (lr {META_LR}); each number: the best of {rounds} interleaved rounds of "
        f"{budget_s:g} s (at least {MIN_STEPS} steps) after one warm-up step, in tasks per second",
        *([f"- learn2learn rows (its example step, and our sequential learn2learn path) left out: {missing}"] if missing else []),
        (f"- bfloat16 rows: {bf16_why}; the step's computation under bfloat16 autocast, as "
         "`trainer.precision: bfloat16` (or `auto`, where its probe finds it faster) runs it"
         if bf16_run else f"- no bfloat16 rows: {bf16_why}"),
        "",
        "## Tasks per second",
        "",
        *rows,
        "",
        "## Ratios (same run)",
        "",
        *ratio_lines,
        "",
        "Ours includes drawing the episodes and the optimiser step; learn2learn's reads pre-drawn",
        "tensors, and its meta-validation task per iteration is not counted.",
    ]
    return finish(out, lines, ratio_lines, started)
