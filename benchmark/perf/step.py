"""``perf step``: training steps/s of our ProtoNet and SimCLR against a learn2learn-style step.

Ours is the trainer's ``TrainStep`` (forward, finite-loss check, backward, Adam, schedule) on
an episode drawn by our sampler inside the timed step. The learn2learn-style step is written the
way learn2learn's ProtoNet example writes it: Conv-4 (``CNN4Backbone``, max-pool), labels sorted
and support/query split by index arithmetic, ``pairwise_distances_logits`` by broadcasting,
cross-entropy, Adam, on data pre-drawn into a plain tensor (no sampling in its timed step).
Every measurement is time-boxed, all in one process, so the ratios compare like with like.
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from benchmark import precision
from benchmark.data import load_split
from benchmark.data.split import Split
from benchmark.samplers import build_sampler
from benchmark.episodes.episode import Episode
from benchmark.optional import import_learn2learn
from benchmark.errors import BenchmarkError
from benchmark.methods import build_method
from benchmark.perf import PERF_SCRIPTS, require_extra
from benchmark.report.perf_page import finish, heading, machine, verdict
from benchmark.train import TrainConfig, TrainStep, build_optimizer, build_scheduler, place

BUDGET_S = 2.0
MIN_STEPS = 2
ROUNDS = 3
PROTONET_SHAPES = ((5, 1, 15), (20, 5, 15), (60, 5, 5))
SIMCLR_BATCH = 256
TARGET_RATIO = 1.2
TARGET_AUGMENT = 0.05
TARGET_BF16 = 1.5


def settings() -> tuple[int, float]:
    """Rounds and seconds per round of ``measure``: ``ROUNDS`` and ``BUDGET_S``, or the
    environment's ``BENCHMARK_PERF_ROUNDS`` and ``BENCHMARK_PERF_BUDGET_S`` where set (tiny
    values check that a perf command runs; they measure nothing)."""
    try:
        return (int(os.environ.get("BENCHMARK_PERF_ROUNDS", ROUNDS)),
                float(os.environ.get("BENCHMARK_PERF_BUDGET_S", BUDGET_S)))
    except ValueError:
        raise BenchmarkError("BENCHMARK_PERF_ROUNDS must be a whole number and "
                             "BENCHMARK_PERF_BUDGET_S a number of seconds") from None


def measure(steps: dict[str, Callable[[int], Any]], rounds: int | None = None,
            budget_s: float | None = None) -> dict[str, float]:
    """Best steps/s of each ``step(i)`` over ``rounds`` interleaved time boxes of ``budget_s``
    (at least ``MIN_STEPS`` steps each; both by default from ``settings``) after one warm-up
    step: on a shared CPU, the best round is the least disturbed one, and interleaving exposes
    every step to the same load."""
    default_rounds, default_budget = settings()
    rounds = default_rounds if rounds is None else rounds
    budget_s = default_budget if budget_s is None else budget_s
    best = dict.fromkeys(steps, 0.0)
    calls = dict.fromkeys(steps, 0)
    for step in steps.values():
        step(0)
    for _ in range(rounds):
        for name, step in steps.items():
            start, done = time.perf_counter(), 0
            while done < MIN_STEPS or time.perf_counter() - start < budget_s:
                calls[name] += 1
                step(calls[name])
                done += 1
            best[name] = max(best[name], done / (time.perf_counter() - start))
    return best


# ---- ours ---------------------------------------------------------------------------------

def our_step(method_name: str, split: Split, kind: str, ways: int, shots: int, queries: int,
             channels_last: bool, /, precision: str = "float32",
             **params: Any) -> tuple[Callable[[int], Any], dict[str, float]]:
    """Our trainer's step (sampling included) in ``precision`` (float32 or bfloat16, the
    trainer's autocast) and a dict accumulating seconds spent sampling."""
    torch.manual_seed(0)
    method = build_method(method_name, "conv4", split.image_shape, **params)
    config = TrainConfig(steps=10**6, lr=1e-3, device="cpu", channels_last=channels_last,
                         progress=False, tensorboard=False)
    device = place(method, config)
    optimizer = build_optimizer(method, config)
    stepper = TrainStep(method.train(), optimizer, build_scheduler(optimizer, config), device,
                        precision=precision)
    sampler = build_sampler(kind, split, ways, shots, queries)
    clock = {"sampling": 0.0, "total": 0.0}

    def step(i: int) -> None:
        start = time.perf_counter()
        episode = sampler.sample(i)
        sampled = time.perf_counter()
        stepper([episode])
        clock["sampling"] += sampled - start
        clock["total"] += time.perf_counter() - start

    return step, clock


# ---- learn2learn style --------------------------------------------------------------------

def pairwise_distances_logits(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """As in learn2learn's ProtoNet example: ``-||a_i - b_j||²`` by broadcasting."""
    n, m = a.shape[0], b.shape[0]
    return -((a.unsqueeze(1).expand(n, m, -1) - b.unsqueeze(0).expand(n, m, -1)) ** 2).sum(dim=2)


def l2l_step(l2l: Any, episodes: list[Episode]) -> Callable[[int], Any]:
    """learn2learn's ProtoNet ``fast_adapt`` + optimiser step on pre-drawn ``(data, labels)``."""
    ways, shots, queries = episodes[0].ways, episodes[0].shots, episodes[0].queries
    batches = []
    for e in episodes:  # l2l's layout: each class's K+Q images together, labels per image
        per_class = [torch.cat([e.support[e.support_labels == c], e.query[e.query_labels == c]])
                     for c in range(ways)]
        batches.append((torch.cat(per_class), torch.arange(ways).repeat_interleave(shots + queries)))
    torch.manual_seed(0)
    model = l2l.vision.models.CNN4Backbone(hidden_size=64, layers=4, channels=1, max_pool=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step(i: int) -> None:
        data, labels = batches[i % len(batches)]
        sort = torch.sort(labels)
        data, labels = data[sort.indices], labels[sort.indices]
        embeddings = model(data)
        support_indices = np.zeros(data.size(0), dtype=bool)
        selection = np.arange(ways) * (shots + queries)
        for offset in range(shots):
            support_indices[selection + offset] = True
        query_indices = torch.from_numpy(~support_indices)
        support = embeddings[torch.from_numpy(support_indices)].reshape(ways, shots, -1).mean(dim=1)
        logits = pairwise_distances_logits(embeddings[query_indices], support)
        loss = F.cross_entropy(logits, labels[query_indices].long())
        (logits.argmax(dim=1) == labels[query_indices]).float().mean().item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


# ---- precision ----------------------------------------------------------------------------

def precision_table(split: Split, ratio_lines: list[str]) -> tuple[list[str], list[str]]:
    """The float32 and bfloat16 rows of ProtoNet 60w5s5q and SimCLR batch 256 (channels-last),
    their ratios appended to ``ratio_lines``, and notes: the CPU's bfloat16 instructions and
    what ``trainer.precision: auto`` chooses here (``benchmark.precision.choose``)."""
    cpu = torch.device("cpu")
    has, why = precision.hardware_bf16(cpu)
    cases = {"ProtoNet 60w5s5q": ("protonet", "labels", 60, 5, 5),
             "SimCLR batch 256": ("simclr", "augment", SIMCLR_BATCH, 1, 1)}
    rows = ["| step | float32 | bfloat16 | bfloat16 / float32 |", "|---|---:|---:|---:|"]
    for label, (name, kind, n, k, q) in cases.items():
        best = measure({p: our_step(name, split, kind, n, k, q, True, precision=p)[0]
                        for p in ("float32", "bfloat16")})
        ratio = best["bfloat16"] / best["float32"]
        rows.append(f"| ours: {label}, Conv-4 | {best['float32']:.2f} | {best['bfloat16']:.2f} | "
                    f"{ratio:.2f}x |")
        target = (f"(target >= {TARGET_BF16}x where the CPU has AMX or AVX512-BF16: "
                  f"{verdict(ratio >= TARGET_BF16)})" if has else
                  "(no target: the CPU has neither AMX nor AVX512-BF16)")
        ratio_lines.append(f"- {label}: bfloat16 / float32 = {ratio:.2f}x {target}")
        print(rows[-1], flush=True)
    choice = precision.choose("auto", cpu, lambda p: partial(
        our_step("protonet", split, "labels", 60, 5, 5, True, precision=p)[0], 0))
    notes = [f"- CPU bfloat16 instructions: {why}",
             f"- `trainer.precision: auto` here (probe: a ProtoNet 60w5s5q step): "
             f"{choice.precision} ({choice.reason})"]
    return rows, notes


# ---- report -------------------------------------------------------------------------------

@PERF_SCRIPTS.register("step", "training steps/s: our ProtoNet and SimCLR vs a learn2learn-style ProtoNet step")
def run(out: Path | None = None, data_root: Path | None = None) -> int:
    """Measure, print the tables and ratios, write ``out`` (Markdown) if given."""
    require_extra()
    if out is not None and out.is_dir():
        raise BenchmarkError(f"--out {out} is a directory; give a file name")
    started = time.perf_counter()
    where = machine()
    split = load_split("omniglot", "background", data_root)
    l2l = import_learn2learn()

    rows = ["| step | " + " | ".join(f"{n}w{k}s{q}q" for n, k, q in PROTONET_SHAPES) + " |",
            "|---|" + "---:|" * len(PROTONET_SHAPES)]
    rates: dict[str, list[float]] = {"l2l": [], "ours": [], "ours_cl": []}
    for n, k, q in PROTONET_SHAPES:
        pool = build_sampler("labels", split, n, k, q).sample_batch(list(range(8)))
        best = measure({
            "l2l": l2l_step(l2l, pool),
            "ours": our_step("protonet", split, "labels", n, k, q, False)[0],
            "ours_cl": our_step("protonet", split, "labels", n, k, q, True)[0],
        })
        for key, rate in best.items():
            rates[key].append(rate)
        print(f"{n}w{k}s{q}q: " + ", ".join(f"{key} {v[-1]:.2f}/s" for key, v in rates.items()), flush=True)
    labels = {"l2l": "learn2learn-style ProtoNet step (CNN4Backbone, pre-drawn tensor)",
              "ours": "ours: ProtoNet, Conv-4, sampling included, contiguous (channels_last=False)",
              "ours_cl": "ours: ProtoNet, Conv-4, sampling included, channels-last (trainer default)"}
    for key, label in labels.items():
        rows.append(f"| {label} | " + " | ".join(f"{r:.2f}" for r in rates[key]) + " |")
    ratio_lines = []
    for i, (n, k, q) in enumerate(PROTONET_SHAPES):
        for key in ("ours", "ours_cl"):
            ratio = rates[key][i] / rates["l2l"][i]
            ratio_lines.append(f"- {n}w{k}s{q}q, {labels[key].split(': ', 1)[1]} / learn2learn-style = "
                               f"{ratio:.2f}x (target >= {TARGET_RATIO}x: {verdict(ratio >= TARGET_RATIO)})")

    simclr_rows = ["| step | steps/s | augmenting (share of the step) |", "|---|---:|---:|"]
    simclr = {cl: our_step("simclr", split, "augment", SIMCLR_BATCH, 1, 1, cl) for cl in (False, True)}
    simclr_rates = measure({str(cl): step for cl, (step, _) in simclr.items()})
    for channels_last, (_, clock) in simclr.items():
        rate = simclr_rates[str(channels_last)]
        share = clock["sampling"] / clock["total"]
        fmt = "channels-last (trainer default)" if channels_last else "contiguous"
        simclr_rows.append(f"| ours: SimCLR, Conv-4 + MLP head, batch {SIMCLR_BATCH}, {fmt} | "
                           f"{rate:.2f} | {100 * share:.1f}% |")
        ratio_lines.append(f"- SimCLR ({fmt}): augmentation {100 * share:.1f}% of the step "
                           f"(target <= {100 * TARGET_AUGMENT:.0f}%: {verdict(share <= TARGET_AUGMENT)})")
        print(simclr_rows[-1], flush=True)

    precision_rows, precision_notes = precision_table(split, ratio_lines)

    command = "python -m benchmark perf step" + (f" --out {out}" if out else "")
    lines = [
        *heading("Training step speed", command, where),
        "- data: embedded Omniglot background, 28x28; CPU; each number: the best of "
        f"{settings()[0]} interleaved rounds of {settings()[1]:g} s (at least {MIN_STEPS} steps) after one "
        "warm-up step, in steps per second; augmenting share: over all timed SimCLR steps",
        "",
        "## ProtoNet steps per second",
        "",
        *rows,
        "",
        "## SimCLR steps per second (augmented views made inside the step)",
        "",
        *simclr_rows,
        "",
        "## float32 and bfloat16 (channels-last, steps per second)",
        "",
        *precision_notes,
        "",
        *precision_rows,
        "",
        "## Ratios (same run)",
        "",
        *ratio_lines,
        "",
        "Ours includes drawing the episode (the trainer's real step); the learn2learn-style step",
        "reads a pre-drawn tensor, as learn2learn's example does once its TaskDataset has loaded.",
    ]
    return finish(out, lines, ratio_lines, started)
