"""``perf maml``: tasks per second of our MAML training step against the step of learn2learn's
own ``examples/vision/maml_omniglot.py``, in the same process, on the same network.

Ours is the trainer's ``TrainStep`` on a ``maml`` method (Conv-4 + classifier, second order,
one inner step), on an episode drawn by our sampler inside the timed step: one task per
optimiser step. learn2learn's step is written as its example writes its training loop: per
task ``maml.clone()``, ``fast_adapt`` (adaptation / evaluation halves picked by index
arithmetic, ``learner.adapt``), ``backward``; after ``META_BATCH`` tasks the gradients are
averaged and Adam steps. The target compares like with like: the example's step on
learn2learn's ``CNN4Backbone`` with max-pool + a linear layer, our Conv-4's architecture. For
information, the example's own ``OmniglotFC`` (an MLP) and learn2learn's ``OmniglotCNN``
(stride-2 convolutions, no max-pool: about a quarter of the convolution work) too; all on
pre-drawn tensors (no sampling in its timed step). The example's per-iteration meta-validation task (monitoring,
no training) is left out of its step, which favours it. Rates are tasks per second.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from benchmark import provenance
from benchmark.data import load_split
from benchmark.episodes.episode import Episode
from benchmark.optional import import_learn2learn
from benchmark.errors import BenchmarkError
from benchmark.perf import PERF_SCRIPTS
from benchmark.report.perf_page import finish, heading, verdict
from benchmark.perf.step import BUDGET_S, MIN_STEPS, ROUNDS, measure, our_step
from benchmark.samplers import build_sampler

#: (ways, shots): the example's 5-way 1-shot, and 20-way 1-shot; 1 query per class, as the
#: example's ``train_samples=2*shots``.
SHAPES = ((5, 1), (20, 1))
META_BATCH = 32  # the example's meta_batch_size
FAST_LR, META_LR = 0.5, 0.003  # the example's
TARGET_RATIO = 1.0


def l2l_example_step(l2l: Any, model: nn.Module, episodes: list[Episode]) -> Callable[[int], Any]:
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
        for task in range(META_BATCH):
            error = fast_adapt(tasks[(i * META_BATCH + task) % len(tasks)], maml.clone())
            error.backward()
            error.item()
        for p in maml.parameters():
            p.grad.data.mul_(1.0 / META_BATCH)
        optimizer.step()

    return step


@PERF_SCRIPTS.register("maml", "MAML tasks/s: our trainer's maml step vs learn2learn's maml_omniglot.py step")
def run(out: Path | None = None, data_root: Path | None = None) -> int:
    """Measure, print the table and ratios, write ``out`` (Markdown) if given."""
    if out is not None and out.is_dir():
        raise BenchmarkError(f"--out {out} is a directory; give a file name")
    started = time.perf_counter()
    l2l = import_learn2learn()
    machine = provenance.machine(torch.get_num_threads())
    split = load_split("omniglot", "background", data_root)
    labels = {
        "l2l_conv4": "learn2learn maml_omniglot.py step, CNN4Backbone (max-pool) + Linear: our Conv-4, pre-drawn tensors",
        "l2l_cnn": "learn2learn maml_omniglot.py step, OmniglotCNN (stride-2 convs, no max-pool), pre-drawn tensors",
        "l2l_fc": "learn2learn maml_omniglot.py step, its OmniglotFC (an MLP), pre-drawn tensors",
        "ours": "ours: maml, Conv-4, one task per step, sampling included, channels-last (trainer default)",
        "ours_contiguous": "ours: the same, contiguous (channels_last: false)",
    }
    rates: dict[str, list[float]] = {key: [] for key in labels}
    for ways, shots in SHAPES:
        pool = build_sampler("labels", split, ways, shots, 1).sample_batch(list(range(64)))
        torch.manual_seed(0)
        conv4 = nn.Sequential(l2l.vision.models.CNN4Backbone(hidden_size=64, layers=4, channels=1,
                                                             max_pool=True), nn.Linear(64, ways))
        steps = {
            "l2l_conv4": l2l_example_step(l2l, conv4, pool),
            "l2l_cnn": l2l_example_step(l2l, l2l.vision.models.OmniglotCNN(ways), pool),
            "l2l_fc": l2l_example_step(l2l, l2l.vision.models.OmniglotFC(28 ** 2, ways), pool),
            **{key: our_step("maml", split, "labels", ways, shots, 1, channels_last, ways=ways,
                             inner_lr=FAST_LR)[0]
               for key, channels_last in (("ours", True), ("ours_contiguous", False))},
        }
        best = measure(steps)
        for key, rate in best.items():
            rates[key].append(rate * (META_BATCH if key.startswith("l2l") else 1))
        print(f"{ways}w{shots}s: " + ", ".join(f"{k} {v[-1]:.1f} tasks/s" for k, v in rates.items()),
              flush=True)
    rows = ["| step | " + " | ".join(f"{n}w{k}s1q" for n, k in SHAPES) + " |",
            "|---|" + "---:|" * len(SHAPES)]
    for key, label in labels.items():
        rows.append(f"| {label} | " + " | ".join(f"{r:.1f}" for r in rates[key]) + " |")
    ratio_lines = []
    for i, (n, k) in enumerate(SHAPES):
        for ours in ("ours", "ours_contiguous"):
            for base in ("l2l_conv4", "l2l_cnn", "l2l_fc"):
                ratio = rates[ours][i] / rates[base][i]
                target = (f"(target >= {TARGET_RATIO}x: {verdict(ratio >= TARGET_RATIO)})"
                          if base == "l2l_conv4" else "(a cheaper network: for information)")
                ratio_lines.append(f"- {n}w{k}s1q, {ours} / {base} = {ratio:.2f}x {target}")
    command = "python -m benchmark perf maml" + (f" --out {out}" if out else "")
    lines = [
        *heading("MAML training step speed", command),
        f"- machine: {machine}",
        f"- versions: {provenance.library_versions()}, learn2learn {l2l.__version__}",
        "- data: embedded Omniglot background, 28x28; CPU; second-order MAML, one inner step "
        f"(lr {FAST_LR}), 1 query per class; learn2learn's step: {META_BATCH} tasks then Adam "
        f"(lr {META_LR}); ours: one task then Adam (lr 1e-3); each number: the best of {ROUNDS} "
        f"interleaved rounds of {BUDGET_S:.0f} s (at least {MIN_STEPS} steps) after one warm-up "
        "step, in tasks per second",
        "",
        "## Tasks per second",
        "",
        *rows,
        "",
        "## Ratios (same run)",
        "",
        *ratio_lines,
        "",
        "Ours includes drawing the episode and an optimiser step per task (the trainer's real",
        "step); learn2learn's reads pre-drawn tensors and amortises Adam over its meta-batch, and",
        "its meta-validation task per iteration is not counted.",
    ]
    return finish(out, lines, ratio_lines, started)
