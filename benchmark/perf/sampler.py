"""``perf sampler``: episodes/s of our samplers against learn2learn, easyfsl and a bare gather;
augmented SimCLR view batches/s against torchvision's per-image transforms.

Every measurement is time-boxed (``BUDGET_S`` seconds after one warm-up call), all in one
run on one machine, so the ratios compare like with like. The whole run takes about two
minutes on 2 cores.
"""

from __future__ import annotations

import platform
import random
import statistics
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision import transforms as T

from benchmark.data import load_split
from benchmark.data.split import Split, unit_float
from benchmark.samplers import AugmentSampler, LabelSampler
from benchmark.optional import import_learn2learn
from benchmark.errors import BenchmarkError
from benchmark.perf import PERF_SCRIPTS, require_extra
from benchmark.report.perf_page import finish, heading, machine, verdict

BUDGET_S = 3.0
BATCH_IMAGES = 2560  # images per sampler call (ours) and per gather (floor): 32 x 5w1s15q
SLICE_S = 0.1  # interleaved steps alternate in slices this long, so load swings hit all of them
#: outputs of a step kept alive while the next ones are made, as by a consumer holding a batch;
#: a step whose output dies at once re-uses one cache-hot buffer, which no consumer sees
HOLD = 2
SHAPES = ((5, 1, 15), (20, 5, 15))
VIEW_IMAGES = 256
TARGETS = {"l2l_raw": 10.0, "l2l_omniglot": 100.0, "easyfsl": 100.0, "gather": 0.5, "views": 20.0}


@dataclass
class Timing:
    """``items`` produced in ``seconds``; for interleaved steps, the rate of each slice too."""

    items: int
    seconds: float
    slice_rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Items per second: the median over slices when interleaved, else the mean."""
        return statistics.median(self.slice_rates) if self.slice_rates else self.items / self.seconds


@dataclass
class Step:
    """One call ``make(i)`` produces ``items`` items (episodes, tasks or view batches)."""

    make: Callable[[int], Any]
    items: int = 1


def measure(step: Step, budget_s: float = BUDGET_S) -> Timing:
    """Call ``step.make(i)`` after one warm-up call until ``budget_s``, keeping the last
    ``HOLD`` outputs alive as a consumer would."""
    held: deque = deque([step.make(0)], maxlen=HOLD)
    calls, start = 1, time.perf_counter()
    while True:
        held.append(step.make(calls))
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= budget_s:
            return Timing((calls - 1) * step.items, elapsed)


def measure_interleaved(steps: dict[str, Step], budget_s: float = BUDGET_S) -> dict[str, Timing]:
    """Like ``measure`` for several steps at once, alternating ``SLICE_S`` slices of each.

    Each step's rate is its median slice rate: on a shared machine whose speed swings by
    tens of percent within seconds, a swing then moves every step alike and a burst of
    load on a few slices moves none.
    """
    timings = {name: Timing(0, 0.0) for name in steps}
    held = {name: deque([step.make(0)], maxlen=HOLD) for name, step in steps.items()}
    calls = dict.fromkeys(steps, 1)
    while min(t.seconds for t in timings.values()) < budget_s:
        for name, step in steps.items():
            items, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < SLICE_S:
                held[name].append(step.make(calls[name]))
                items += step.items
                calls[name] += 1
            timing = timings[name]
            timing.items, timing.seconds = timing.items + items, timing.seconds + elapsed
            timing.slice_rates.append(items / elapsed)
    return timings


# ---- data -------------------------------------------------------------------------------

def omniglot_all(data_root: Path | None) -> Split:
    """Omniglot background + evaluation as one split: 1623 classes x 20, 28x28."""
    background = load_split("omniglot", "background", data_root)
    evaluation = load_split("omniglot", "evaluation", data_root)
    return Split(
        dataset="omniglot",
        name="background+evaluation",
        images=torch.cat([background.images, evaluation.images]),
        labels=torch.cat([background.labels, evaluation.labels + background.num_classes]),
        class_names=background.class_names + evaluation.class_names,
    )


def rgb_images(data_root: Path | None) -> tuple[Split, str]:
    """CIFAR-10 train if prepared, else random 32x32 RGB images of the same count."""
    try:
        return load_split("cifar10", "train", data_root), "cifar10/train"
    except BenchmarkError:
        g = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (50000, 3, 32, 32), dtype=torch.uint8, generator=g)
        return Split("random", "rgb", images, torch.zeros(50000, dtype=torch.int64), ("all",)), \
            "random 32x32 RGB (cifar10 not prepared)"


class PILDataset(Dataset):
    """Items ``(transform(PIL image), label)`` made per access, as image-folder datasets do.

    ``upscale`` turns the 28x28 glyph into a 105x105 PIL image (nearest), standing in for
    torchvision/learn2learn's Omniglot, which decodes a 105x105 PNG from disk per access.
    """

    def __init__(self, split: Split, transform: Callable, upscale: int | None = None) -> None:
        self.arrays = split.images[:, 0].numpy()
        self.labels = split.labels.tolist()
        self.transform, self.upscale = transform, upscale

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        image = Image.fromarray(self.arrays[i])
        if self.upscale:
            image = image.resize((self.upscale, self.upscale), Image.NEAREST)
        return self.transform(image), self.labels[i]

    def get_labels(self) -> list[int]:  # easyfsl's FewShotDataset interface
        return self.labels


# ---- labelled episodes --------------------------------------------------------------------

def episode_batch(n: int, k: int, q: int) -> int:
    """Episodes per call: about ``BATCH_IMAGES`` images."""
    return max(1, BATCH_IMAGES // (n * (k + q)))


def ours_and_floor(split: Split, n: int, k: int, q: int) -> dict[str, Timing]:
    """Our labels sampler, as a stacked ``EpisodeBatch`` and as a list of ``Episode`` records,
    and the floor (a gather of pre-drawn indices and the same conversion to float, nothing
    else), its output held like ours or dropped at once, measured in alternating slices."""
    sampler = LabelSampler(split, n, k, q)
    batch = episode_batch(n, k, q)
    g = torch.Generator().manual_seed(0)
    pool = torch.randint(0, len(split), (64, batch * n * (k + q)), generator=g)
    shape = (batch, n * (k + q), *split.images.shape[1:])

    def floor(i: int) -> torch.Tensor:
        return unit_float(split.images.index_select(0, pool[i % 64]).view(shape))

    return measure_interleaved({
        "stacked": Step(lambda i: sampler.sample_stacked(range(i * batch, (i + 1) * batch)), batch),
        "episodes": Step(lambda i: sampler.sample_batch(range(i * batch, (i + 1) * batch)), batch),
        "floor": Step(floor, batch),
        "floor_dropped": Step(lambda i: (floor(i), None)[1], batch),
    })


def _meta_dataset(l2l: Any, dataset: Dataset, split: Split) -> Any:
    return l2l.data.MetaDataset(dataset, indices_to_labels=dict(enumerate(split.labels.tolist())))


def _l2l_episodes(l2l: Any, dataset: Dataset, split: Split, n: int, k: int, q: int) -> Timing:
    """Tasks of learn2learn's Taskset with the transforms its docs use: NWays, KShots,
    LoadData, RemapLabels."""
    meta = _meta_dataset(l2l, dataset, split)
    tasks = l2l.data.Taskset(meta, [
        l2l.data.transforms.NWays(meta, n), l2l.data.transforms.KShots(meta, k + q),
        l2l.data.transforms.LoadData(meta), l2l.data.transforms.RemapLabels(meta),
    ], num_tasks=-1)
    return measure(Step(lambda i: tasks.sample()))


def l2l_raw(l2l: Any, split: Split, n: int, k: int, q: int) -> Timing:
    """learn2learn's Taskset on raw uint8 tensors: its fastest configuration."""
    return _l2l_episodes(l2l, torch.utils.data.TensorDataset(split.images, split.labels), split, n, k, q)


def l2l_pil(l2l: Any, split: Split, n: int, k: int, q: int) -> Timing:
    """learn2learn's Taskset over a dataset with a per-image PIL -> tensor transform."""
    return _l2l_episodes(l2l, PILDataset(split, T.ToTensor()), split, n, k, q)


def l2l_omniglot(l2l: Any, split: Split, n: int, k: int, q: int) -> Timing:
    """learn2learn's Omniglot benchmark pipeline (``omniglot_tasksets``) with class rotations."""
    transform = T.Compose([T.Resize(28, interpolation=Image.LANCZOS), T.ToTensor(), lambda x: 1.0 - x])
    dataset = _meta_dataset(l2l, PILDataset(split, transform, upscale=105), split)
    tasks = l2l.data.Taskset(dataset, [
        l2l.data.transforms.FusedNWaysKShots(dataset, n=n, k=k + q),
        l2l.data.transforms.LoadData(dataset), l2l.data.transforms.RemapLabels(dataset),
        l2l.data.transforms.ConsecutiveLabels(dataset),
        l2l.vision.transforms.RandomClassRotation(dataset, [0.0, 90.0, 180.0, 270.0]),
    ], num_tasks=-1)
    return measure(Step(lambda i: tasks.sample()))


class _SamplerInit(Sampler):
    """Shim: easyfsl 1.5.0 calls ``Sampler.__init__(data_source=None)``, which this torch refuses."""

    def __init__(self, data_source: Any = None) -> None:
        super().__init__()


def easyfsl(split: Split, n: int, k: int, q: int) -> Timing:
    """easyfsl's TaskSampler in a DataLoader (2 workers), per-image transform as in its docs."""
    from easyfsl.samplers import TaskSampler

    class CompatTaskSampler(TaskSampler, _SamplerInit):
        """TaskSampler whose ``super().__init__`` resolves to the shim."""

    dataset = PILDataset(split, T.Compose([T.Resize(28), T.ToTensor()]), upscale=105)
    sampler = CompatTaskSampler(dataset, n_way=n, n_shot=k, n_query=q, n_tasks=10**6)
    loader = iter(DataLoader(dataset, batch_sampler=sampler, num_workers=2,
                             collate_fn=sampler.episodic_collate_fn))
    return measure(Step(lambda i: next(loader)))


# ---- augmented views ----------------------------------------------------------------------

def torchvision_recipe(size: int, channels: int) -> Callable:
    """SimCLR's recipe with torchvision per-image transforms on PIL images."""
    jitter = T.ColorJitter(0.8, 0.8, 0.8, 0.2) if channels == 3 else T.ColorJitter(0.8, 0.8)
    steps = [T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.RandomApply([jitter], p=0.8)]
    if channels == 3:
        steps.append(T.RandomGrayscale(0.2))
    kernel = max(3, int(0.1 * size) // 2 * 2 + 1)
    steps += [T.RandomApply([T.GaussianBlur(kernel, (0.1, 2.0))], p=0.5), T.ToTensor()]
    return T.Compose(steps)


class TwoViews(Dataset):
    """Item ``i``: two independently augmented views of image ``i``."""

    def __init__(self, images: torch.Tensor, transform: Callable) -> None:
        self.arrays = images.permute(0, 2, 3, 1).squeeze(-1).numpy() if images.shape[1] == 1 \
            else images.permute(0, 2, 3, 1).numpy()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = Image.fromarray(self.arrays[i])
        return self.transform(image), self.transform(image)


def views_ours_and_torchvision(split: Split) -> dict[str, Timing]:
    """Our batched views and torchvision's per-image transforms in one process, alternating."""
    sampler = AugmentSampler(split, ways=VIEW_IMAGES, shots=1, queries=1)
    data = TwoViews(split.images, torchvision_recipe(split.image_shape[1], split.image_shape[0]))
    rng = np.random.default_rng(0)

    def per_image(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        batch = [data[int(j)] for j in rng.integers(0, len(data), VIEW_IMAGES)]
        return torch.stack([a for a, _ in batch]), torch.stack([b for _, b in batch])

    return measure_interleaved({"ours": Step(sampler.sample), "per_image": Step(per_image)})


def views_torchvision_loader(split: Split) -> Timing:
    data = TwoViews(split.images, torchvision_recipe(split.image_shape[1], split.image_shape[0]))
    loader = iter(DataLoader(data, batch_size=VIEW_IMAGES, shuffle=True, num_workers=2,
                             generator=torch.Generator().manual_seed(0)))
    return measure(Step(lambda i: next(loader)))


# ---- report -------------------------------------------------------------------------------

def _versions(l2l: Any) -> str:
    import easyfsl as easyfsl_pkg
    import PIL
    import torchvision

    return (f"python {platform.python_version()}, torch {torch.__version__}, torchvision "
            f"{torchvision.__version__}, learn2learn {l2l.__version__}, easyfsl "
            f"{getattr(easyfsl_pkg, '__version__', '1.5.0')}, numpy {np.__version__}, pillow {PIL.__version__}")


def _ratio_verdict(ratio: float, target: float, at_most: bool = False) -> str:
    met = ratio <= 1 / target if at_most else ratio >= target
    goal = f"<= {1 / target:.0f}x" if at_most else f">= {target:.0f}x"
    return f"{ratio:,.1f}x (target {goal}: {verdict(met)})"


@PERF_SCRIPTS.register("sampler", "episodes/s and view batches/s: ours vs learn2learn, easyfsl, torchvision")
def run(out: Path | None = None, data_root: Path | None = None) -> int:
    """Run every measurement, print the tables and ratios, write ``out`` (Markdown) if given.

    Runs with one torch thread (restored after), like the per-image baselines and the
    DataLoader workers, so a busy machine does not penalise the batched code's thread pool.
    """
    require_extra()
    if out is not None and out.exists() and out.is_dir():
        raise BenchmarkError(f"--out {out} is a directory; give a file name")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(out, data_root)
    finally:
        torch.set_num_threads(threads)


def _run(out: Path | None, data_root: Path | None) -> int:
    started = time.perf_counter()
    where = machine()
    omniglot = omniglot_all(data_root)
    rgb, rgb_name = rgb_images(data_root)
    l2l = import_learn2learn()
    random.seed(0)
    torch.manual_seed(0)

    rows = ["| pipeline | " + " | ".join(f"{n}w{k}s{q}q" for n, k, q in SHAPES) + " |",
            "|---|" + "---:|" * len(SHAPES)]
    paired = [ours_and_floor(omniglot, *shape) for shape in SHAPES]
    pipelines = {  # key: (row label, timing of shape i)
        "episodes": ("ours, list of Episode records (sample_batch)", lambda i: paired[i]["episodes"]),
        "stacked": ("ours, one EpisodeBatch (sample_stacked)", lambda i: paired[i]["stacked"]),
        "floor": ("bare gather of pre-drawn indices, output held like ours (floor)", lambda i: paired[i]["floor"]),
        "floor_dropped": ("bare gather of pre-drawn indices, output dropped at once",
                          lambda i: paired[i]["floor_dropped"]),
        "l2l_raw": ("learn2learn Taskset, raw uint8 tensors", lambda i: l2l_raw(l2l, omniglot, *SHAPES[i])),
        "l2l_pil": ("learn2learn Taskset, per-image PIL transform", lambda i: l2l_pil(l2l, omniglot, *SHAPES[i])),
        "l2l_omniglot": ("learn2learn Omniglot benchmark pipeline (rotations)",
                         lambda i: l2l_omniglot(l2l, omniglot, *SHAPES[i])),
        "easyfsl": ("easyfsl TaskSampler + DataLoader (2 workers)", lambda i: easyfsl(omniglot, *SHAPES[i])),
    }
    rates: dict[str, list[float]] = {}
    for key, (label, timing) in pipelines.items():
        rates[key] = [timing(i).rate for i in range(len(SHAPES))]
        rows.append(f"| {label} | " + " | ".join(f"{r:,.0f}" for r in rates[key]) + " |")
        print(rows[-1], flush=True)
    ratio_lines = []
    for i, (n, k, q) in enumerate(SHAPES):
        mine, shape = rates["episodes"][i], f"{n}w{k}s{q}q"
        ratio_lines += [
            f"- {shape}: ours / learn2learn raw tensors = {_ratio_verdict(mine / rates['l2l_raw'][i], TARGETS['l2l_raw'])}",
            f"- {shape}: ours / learn2learn per-image PIL = {mine / rates['l2l_pil'][i]:,.1f}x",
            f"- {shape}: ours / learn2learn Omniglot pipeline = "
            f"{_ratio_verdict(mine / rates['l2l_omniglot'][i], TARGETS['l2l_omniglot'])}",
            f"- {shape}: ours / easyfsl = {_ratio_verdict(mine / rates['easyfsl'][i], TARGETS['easyfsl'])}",
            f"- {shape}: bare gather / ours (Episode records) = "
            f"{_ratio_verdict(rates['floor'][i] / mine, TARGETS['gather'], at_most=True)}",
            f"- {shape}: bare gather / ours (EpisodeBatch) = "
            f"{_ratio_verdict(rates['floor'][i] / rates['stacked'][i], TARGETS['gather'], at_most=True)}",
        ]

    view_rows = ["| images | ours (ViewAugment, batched) | torchvision per-image | "
                 "torchvision per-image, DataLoader 2 workers | ours / per-image | ours / DataLoader |",
                 "|---|---:|---:|---:|---:|---:|"]
    for label, split in (("omniglot 28x28 gray", omniglot), (f"{rgb_name} 32x32 RGB", rgb)):
        both = views_ours_and_torchvision(split)
        a, b, c = both["ours"].rate, both["per_image"].rate, views_torchvision_loader(split).rate
        view_rows.append(f"| {label} | {a:,.2f} | {b:,.2f} | {c:,.2f} | {a / b:,.1f}x | {a / c:,.1f}x |")
        print(view_rows[-1], flush=True)
        ratio_lines.append(f"- views {label}: ours / torchvision per-image = {_ratio_verdict(a / b, TARGETS['views'])}")

    command = "python -m benchmark " + " ".join(sys.argv[1:]) if sys.argv[0].endswith(("benchmark", "__main__.py")) \
        else "python -m benchmark perf sampler" + (f" --out {out}" if out else "")
    lines = [
        *heading("Sampler speed", command, where, _versions(l2l)),
        f"- data: Omniglot background+evaluation, {omniglot.num_classes} classes x 20, 28x28 "
        f"(`load_split`); views: Omniglot and {rgb_name}",
        f"- each number: items per second over {BUDGET_S:.0f} s after one warm-up call, on CPU, "
        f"1 torch thread; ours alternates with the floor (and with torchvision in-process) in "
        f"{SLICE_S} s slices and those rates are medians over slices; every pipeline's last {HOLD} "
        "outputs are kept alive while it makes the next; "
        "\"ours\" in the ratios to other libraries is the list of Episode records; labelled batches of "
        + ", ".join(f"{episode_batch(*shape)} episodes ({n}w{k}s{q}q)" for shape in SHAPES for n, k, q in [shape]),
        "",
        "## Labelled episodes per second",
        "",
        *rows,
        "",
        "## SimCLR view batches per second (256 images x 2 views)",
        "",
        *view_rows,
        "",
        "## Ratios (same run)",
        "",
        *ratio_lines,
        "",
        "Notes: learn2learn's Omniglot pipeline and easyfsl read 105x105 PIL images made per access",
        "from the 28x28 cache (nearest upscale), standing in for the PNG decode from disk that",
        "torchvision's Omniglot does per access (which would make them slower still). easyfsl 1.5.0",
        "needs a two-line shim (its TaskSampler passes `data_source=None` to `Sampler.__init__`).",
        "Our view colour jitter is one matrix per view, clamped once; torchvision clamps per step.",
        "The floor is timed with its output held like every other pipeline's: dropped at once, its",
        "8-bit-to-float buffer is the same cache-hot block each call, an advantage no consumer of",
        "episodes has (its row above shows the size of that effect).",
    ]
    return finish(out, lines, ratio_lines, started)
