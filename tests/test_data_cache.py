"""``load_split``: the one cache of loaded splits, and the builder hooks generic data code uses."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from benchmark.cli import dataset_tools as commands
from benchmark.data import DATASETS, load_split
from benchmark.data.builder import DatasetBuilder, make_split
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError
from benchmark.registry import Entry
from fixtures_data import FAKES


def test_a_prepared_split_is_loaded_once_and_again_when_its_file_changes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    commands.prepare("mnist", FAKES["mnist"](tmp_path), root)
    first = load_split("mnist", "train", root)
    assert load_split("mnist", "train", root) is first
    assert load_split("mnist", "test", root) is not first
    path = root / "mnist" / "train.pt"
    payload = torch.load(path, weights_only=True)
    payload["images"] = 255 - payload["images"]
    torch.save(payload, path)
    meta_path = root / "mnist" / "meta.json"  # a preparation again records the new fingerprint
    meta = json.loads(meta_path.read_text())
    meta["splits"]["train"]["fingerprint"] = Split(
        "mnist", "train", payload["images"], payload["labels"],
        tuple(payload["class_names"])).fingerprint
    meta_path.write_text(json.dumps(meta))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = load_split("mnist", "train", root)
    assert again is not first and torch.equal(again.images, 255 - first.images)
    assert load_split("mnist", "train", root) is again


def test_the_embedded_omniglot_is_loaded_once(tmp_path: Path) -> None:
    first = load_split("omniglot", "background", tmp_path / "empty")
    assert load_split("omniglot", "background", tmp_path / "other") is first


class ShippedToy(DatasetBuilder):
    """A dataset with an embedded copy, read back through the generic hooks only."""

    name = "shipped_toy"
    description = "toy with an embedded copy"
    splits = ("train",)
    partition = ("train",)
    train_split = test_split = "train"
    image_shape = (1, 4, 4)
    source_hint = "anything"
    copy: ClassVar[Path]
    reads: ClassVar[list[str]] = []

    def download(self, workdir: Path) -> Path:
        raise NotImplementedError

    def read(self, source: Path) -> dict[str, Split]:
        return {"train": self.read_embedded("train")}

    def verify(self, splits: dict[str, Split]) -> tuple[str, ...]:
        return (f"{splits['train'].num_classes} classes checked",)

    def embedded_copy(self) -> Path:
        return self.copy

    def read_embedded(self, split: str) -> Split:
        self.reads.append(split)
        images = np.load(self.copy)
        return make_split(self.name, split, images, np.arange(len(images)) % 3, ["a", "b", "c"])


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch) -> type[ShippedToy]:
    monkeypatch.setitem(DATASETS._entries, ShippedToy.name,
                        Entry(ShippedToy.name, ShippedToy, ShippedToy.description))
    monkeypatch.setattr(ShippedToy, "copy", tmp_path / "toy.npy", raising=False)
    monkeypatch.setattr(ShippedToy, "reads", [])
    return ShippedToy


def test_generic_code_uses_the_builder_hooks(shipped: type[ShippedToy], tmp_path: Path) -> None:
    root = tmp_path / "root"
    rows = {r["name"]: r for r in commands.dataset_rows(root)}
    assert rows["shipped_toy"]["prepared"] == "no"  # no embedded file yet
    np.save(shipped.copy, np.zeros((6, 1, 4, 4), dtype=np.uint8))
    rows = {r["name"]: r for r in commands.dataset_rows(root)}
    assert (rows["shipped_toy"]["prepared"], rows["shipped_toy"]["images"]) == ("embedded", 6)
    split = load_split("shipped_toy", "train", root)
    assert len(split) == 6 and load_split("shipped_toy", "train", root) is split
    assert shipped.reads == ["train"]  # the list's read is the one the cache keeps
    result = commands.prepare("shipped_toy", tmp_path, root)
    assert result.notes == ("3 classes checked",)
    assert "  3 classes checked" in commands.format_prepare_report(result).splitlines()
    assert load_split("shipped_toy", "train", root) is not split  # now the prepared file


def test_a_builder_without_a_copy_must_be_prepared(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="mnist is not prepared"):
        load_split("mnist", "train", tmp_path)
