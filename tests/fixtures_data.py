"""What several test modules share, made here (no network, no path outside the repository):
small fake sources in each official layout (the dataset and bad-input tests), a generated
split for head and evaluation tests (``blob_split``), augmentation episodes and models for the
MoCo, BYOL and PsCo tests, and synthetic result rows and run logs for the report tests."""

from __future__ import annotations

import csv
import gzip
import io
import pickle
import tarfile
import zipfile
from pathlib import Path
from functools import lru_cache
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from benchmark.data import load_split
from benchmark.data.split import Split
from benchmark.episodes.episode import Episode
from benchmark.methods import build_method
from benchmark.report import stats
from benchmark.samplers import build_sampler
from benchmark.store import ResultRow, RunRecord
from benchmark.train.metrics_log import METRIC_COLUMNS

RNG = np.random.default_rng(0)

#: CIFAR-100 superclass → its five fine classes (the official hierarchy).
CIFAR100_HIERARCHY = {
    "aquatic_mammals": ["beaver", "dolphin", "otter", "seal", "whale"],
    "fish": ["aquarium_fish", "flatfish", "ray", "shark", "trout"],
    "flowers": ["orchid", "poppy", "rose", "sunflower", "tulip"],
    "food_containers": ["bottle", "bowl", "can", "cup", "plate"],
    "fruit_and_vegetables": ["apple", "mushroom", "orange", "pear", "sweet_pepper"],
    "household_electrical_devices": ["clock", "keyboard", "lamp", "telephone", "television"],
    "household_furniture": ["bed", "chair", "couch", "table", "wardrobe"],
    "insects": ["bee", "beetle", "butterfly", "caterpillar", "cockroach"],
    "large_carnivores": ["bear", "leopard", "lion", "tiger", "wolf"],
    "large_man-made_outdoor_things": ["bridge", "castle", "house", "road", "skyscraper"],
    "large_natural_outdoor_scenes": ["cloud", "forest", "mountain", "plain", "sea"],
    "large_omnivores_and_herbivores": ["camel", "cattle", "chimpanzee", "elephant", "kangaroo"],
    "medium_mammals": ["fox", "porcupine", "possum", "raccoon", "skunk"],
    "non-insect_invertebrates": ["crab", "lobster", "snail", "spider", "worm"],
    "people": ["baby", "boy", "girl", "man", "woman"],
    "reptiles": ["crocodile", "dinosaur", "lizard", "snake", "turtle"],
    "small_mammals": ["hamster", "mouse", "rabbit", "shrew", "squirrel"],
    "trees": ["maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"],
    "vehicles_1": ["bicycle", "bus", "motorcycle", "pickup_truck", "train"],
    "vehicles_2": ["lawn_mower", "rocket", "streetcar", "tank", "tractor"],
}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def png(size: tuple[int, int], mode: str = "L") -> bytes:
    array = RNG.integers(0, 256, size=(size[1], size[0]) + ((3,) if mode == "RGB" else ()), dtype=np.uint8)
    image = Image.fromarray(array, "RGB" if mode == "RGB" else "L")
    if mode == "1":
        image = image.convert("1")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


OMNIGLOT = {"background": ["Alpha/character01", "Alpha/character02", "Beta/character01"],
            "evaluation": ["Gamma/character01", "Gamma/character02"]}
OMNIGLOT_VINYALS = {"train": ["Alpha/character01", "Gamma/character01"], "val": ["Alpha/character02"],
                    "test": ["Beta/character01", "Gamma/character02"]}


def omniglot(tmp: Path) -> Path:
    source = tmp / "omniglot"
    source.mkdir()
    drawing = png((105, 105), "1")
    for subset, characters in OMNIGLOT.items():
        with zipfile.ZipFile(source / f"images_{subset}.zip", "w") as archive:
            for c, character in enumerate(characters):
                for d in range(1, 21):
                    archive.writestr(f"images_{subset}/{character}/{c:04d}_{d:02d}.png", drawing)
    folder = source / "splits" / "vinyals"
    folder.mkdir(parents=True)
    lists = dict(OMNIGLOT_VINYALS, trainval=OMNIGLOT_VINYALS["train"] + OMNIGLOT_VINYALS["val"])
    for name, characters in lists.items():
        lines = [f"{c}/rot{r:03d}" for c in characters for r in (0, 90, 180, 270)]
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return source


def idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def mnist(tmp: Path) -> Path:
    source = tmp / "mnist"
    source.mkdir()
    for prefix, per_class in (("train", 2), ("t10k", 1)):
        labels = np.repeat(np.arange(10), per_class)
        idx(source / f"{prefix}-images-idx3-ubyte.gz", RNG.integers(0, 256, (len(labels), 28, 28)), 2051)
        idx(source / f"{prefix}-labels-idx1-ubyte.gz", labels, 2049)
    return source


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _batch(labels: np.ndarray, key: str = "labels", **extra) -> bytes:
    data = RNG.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
    return pickle.dumps({"data": data, key: labels.tolist(), **extra})


def cifar10(tmp: Path, test_per_class: int = 1) -> Path:
    members = {f"cifar-10-batches-py/data_batch_{i}": _batch(np.arange(10)) for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = _batch(np.repeat(np.arange(10), test_per_class))
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps({"label_names": CIFAR10_CLASSES})
    return _tar(tmp / "cifar-10-python.tar.gz", members)


def cifar10_imagefolder(tmp: Path) -> Path:
    members = {f"CIFAR-10-images/{split}/{cls}/{i:04d}.png": png((32, 32), "RGB")
               for split in ("train", "test") for cls in CIFAR10_CLASSES for i in range(2)}
    return _tar(tmp / "CIFAR-10-images.tar.gz", members)


def cifar100(tmp: Path) -> Path:
    fine_names = sorted(f for fines in CIFAR100_HIERARCHY.values() for f in fines)
    coarse_names = sorted(CIFAR100_HIERARCHY)
    coarse_of = {f: coarse_names.index(c) for c, fines in CIFAR100_HIERARCHY.items() for f in fines}
    members = {}
    for split, per_class in (("train", 2), ("test", 1)):
        fine = np.repeat(np.arange(100), per_class)
        coarse = [coarse_of[fine_names[f]] for f in fine]
        members[f"cifar-100-python/{split}"] = _batch(fine, key="fine_labels", coarse_labels=coarse)
    members["cifar-100-python/meta"] = pickle.dumps({"fine_label_names": fine_names,
                                                     "coarse_label_names": coarse_names})
    return _tar(tmp / "cifar-100-python.tar.gz", members)


def mini_imagenet(tmp: Path) -> Path:
    source = tmp / "mini"
    source.mkdir()
    for mode, classes in (("train", 4), ("validation", 2), ("test", 3)):
        data = RNG.integers(0, 256, (classes * 2, 84, 84, 3), dtype=np.uint8)
        class_dict = {f"n{mode[:2]}{c:06d}": [2 * c, 2 * c + 1] for c in range(classes)}
        with open(source / f"mini-imagenet-cache-{mode}.pkl", "wb") as handle:
            pickle.dump({"image_data": data, "class_dict": class_dict}, handle)
    return source


def imagefolder(tmp: Path) -> Path:
    source = tmp / "folder"
    for split, per_class in (("train", 3), ("test", 2)):
        for cls in ("cat", "dog"):
            (source / split / cls).mkdir(parents=True)
            for i in range(per_class):
                (source / split / cls / f"{i}.png").write_bytes(png((12, 10)))
    return source


#: registered dataset → (fake source builder, prepare name).
FAKES: dict[str, Callable[[Path], Path]] = {
    "omniglot": omniglot, "mnist": mnist, "fashion_mnist": mnist, "kmnist": mnist,
    "cifar10": cifar10, "cifar100": cifar100, "cifar_fs": cifar100, "fc100": cifar100,
    "mini_imagenet": mini_imagenet, "imagefolder": imagefolder,
    "moving_omniglot": omniglot, "moving_omniglot_crossing": omniglot, "moving_mnist": mnist,
}


# ------------------------------------------------------------------ generated splits


def blob_split(classes: int, per_class: int, shape: tuple[int, int, int], signal: float) -> Split:
    """``classes`` x ``per_class`` uint8 images: ``signal`` x a class template + the rest noise
    (seed 0), named ``blobs``/``test``."""
    g = torch.Generator().manual_seed(0)
    templates = torch.rand(classes, *shape, generator=g)
    labels = torch.arange(classes).repeat_interleave(per_class)
    noise = torch.rand(classes * per_class, *shape, generator=g)
    images = (signal * templates[labels] + (1 - signal) * noise) * 255
    return Split("blobs", "test", images.to(torch.uint8), labels,
                 tuple(f"c{i}" for i in range(classes)))


# ------------------------------------------------------------------ MoCo, BYOL and PsCo: augmentation episodes of embedded Omniglot

WAYS = 8
#: small queues that hold whole steps (2 x WAYS keys a step, symmetric)
PARAMS: dict[str, dict[str, Any]] = {
    "moco": {"queue_size": 64},
    "byol": {},
    "psco": {"queue_size": 64, "num_shots": 2},
}


@lru_cache(maxsize=None)
def sampler(ways: int = WAYS, queries: int = 1):
    """SimCLR's episodes: ``ways`` images, the plain image and ``queries`` augmented views."""
    return build_sampler("augment", load_split("omniglot", "background", None), ways, 1, queries,
                         augment_support=False)


def episode(seed: int = 0, ways: int = WAYS, queries: int = 1) -> Episode:
    return sampler(ways, queries).sample(seed)


def method(name: str, seed: int = 0, **params: Any) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_method(name, "conv4", (1, 28, 28), **{**PARAMS[name], **params})


# ------------------------------------------------------------------ report: synthetic rows and run logs


def row(method: str, shots: int, episodes: np.ndarray, seed: int = 0, **overrides) -> ResultRow:
    mean, ci = stats.mean_ci95(episodes)
    values = dict(
        benchmark="synth", method=method, train_dataset="omniglot", train_split="background",
        eval_dataset="omniglot", eval_split="evaluation", ways=5, shots=shots, queries=15,
        head="prototype", seed=seed, accuracy=mean, ci95=ci, episodes=len(episodes), eval_seed=0,
        steps=100, train_seconds=1.0, eval_seconds=0.1, device="cpu", commit="abc123",
        versions="{}", spec_hash=f"hash-{method}", train_fingerprint="ftrain",
        eval_fingerprint="feval", method_name=method, backbone="conv4",
        episode_accuracies=tuple(float(a) for a in episodes),
    )
    values.update(overrides)
    return ResultRow(**values)


def synthetic_rows() -> list[ResultRow]:
    """Three methods and the floor on 40 episodes at 1 and 5 shots.

    1-shot: protonet clearly best; simclr tied with it (close, overlapping CIs); floor far.
    5-shot: simclr best, protonet second.
    """
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 0.05, 40)

    def draw(p: float) -> np.ndarray:
        return p + shared + rng.normal(0, 0.01, 40)

    return [
        row("protonet", 1, draw(0.80)), row("simclr", 1, draw(0.79)),
        row("protoclr", 1, draw(0.60)), row("random", 1, draw(0.30)),
        row("protonet", 5, draw(0.85)), row("simclr", 5, draw(0.90)),
        row("protoclr", 5, draw(0.70)), row("random", 5, draw(0.40)),
    ]


def write_metrics(folder: Path, rows: list[tuple[int, float, float | None]]) -> Path:
    """A metrics.csv of (step, seconds, val_acc or None) rows."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "metrics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS)
        writer.writeheader()
        for step, seconds, val in rows:
            writer.writerow({"step": step, "seed": 7, "loss": 1.0, "acc": 0.5, "lr": 1e-3,
                             "val_acc": "" if val is None else val, "seconds": seconds})
    return folder


def record(folder: Path, method: str = "protonet", seed: int = 0, steps: int = 6,
           wall: float = 30.0, checkpoint: str = "best.pt") -> RunRecord:
    return RunRecord("synth", method, seed, "done", steps=steps, wall_seconds=wall,
                     checkpoint=str(folder / checkpoint), device="cpu",
                     spec_hash=f"hash-{method}")  # the configuration of ``row``'s rows
