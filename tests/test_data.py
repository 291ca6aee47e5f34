"""Dataset registry, prepare and load, on fake sources in each official layout (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmark.cli import dataset_tools as commands
from benchmark.data import DATASETS, dataset_info, load_split, resolve_data_root
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError
from fixtures_data import FAKES, OMNIGLOT, OMNIGLOT_VINYALS, cifar10_imagefolder

PREPARE_NAME = {"imagefolder": "imagefolder:myset"}
LOAD_NAME = {"imagefolder": "myset"}


def test_every_registered_dataset_has_a_description_and_consistent_info():
    for name in DATASETS:
        info = dataset_info(name)
        assert info.description
        if name != "imagefolder":
            assert info.train_split in info.splits and info.test_split in info.splits
            assert len(info.image_shape) == 3 and info.image_shape[0] in (1, 3)


@pytest.mark.parametrize("name", DATASETS.names())
def test_prepare_and_load_every_registered_dataset(name, tmp_path):
    root = tmp_path / "root"
    if name not in FAKES:
        with pytest.raises(BenchmarkError, match="not prepared.*--source"):
            load_split(name, dataset_info(name).train_split, root)
        with pytest.raises(BenchmarkError, match="lacks|does not exist"):
            commands.prepare(name, tmp_path, root)
        return
    source = FAKES[name](tmp_path)
    result = commands.prepare(PREPARE_NAME.get(name, name), source, root)
    assert not result.skipped
    report = commands.format_prepare_report(result)
    loaded = LOAD_NAME.get(name, name)
    info = dataset_info(loaded, root)
    assert {s.name for s in result.splits} == set(info.splits)
    for split in info.splits:
        data = load_split(loaded, split, root)
        assert isinstance(data, Split) and data.images.dtype == torch.uint8
        assert data.image_shape == info.image_shape
        assert (data.class_counts() > 0).all() and data.labels.max() == data.num_classes - 1
        assert split in report
    meta = (root / loaded / "meta.json").read_text()
    assert "fingerprint" in meta and str(source.resolve()) in meta
    again = commands.prepare(PREPARE_NAME.get(name, name), source, root)
    assert again.skipped and "already prepared" in commands.format_prepare_report(again)
    rows = {r["name"]: r for r in commands.dataset_rows(root)}
    assert rows[loaded]["prepared"] == "yes"


def test_omniglot_splits_and_vinyals(tmp_path):
    root = tmp_path / "root"
    commands.prepare("omniglot", FAKES["omniglot"](tmp_path), root)
    background = load_split("omniglot", "background", root)
    assert background.class_names == tuple(OMNIGLOT["background"])
    assert background.images.shape == (60, 1, 28, 28)
    for split, characters in OMNIGLOT_VINYALS.items():
        assert load_split("omniglot", f"vinyals_{split}", root).class_names == tuple(characters)
    trainval = load_split("omniglot", "vinyals_trainval", root)
    assert trainval.num_classes == 3 and len(trainval) == 60


def test_cifar10_fewshot_split_and_imagefolder_source(tmp_path):
    root = tmp_path / "root"
    commands.prepare("cifar10", cifar10_imagefolder(tmp_path), root)
    train = load_split("cifar10", "fewshot_train", root)
    test = load_split("cifar10", "fewshot_test", root)
    assert train.class_names == ("airplane", "automobile", "bird", "cat", "deer", "dog")
    assert test.class_names == ("frog", "horse", "ship", "truck")
    assert len(test) == 4 * 2 and train.image_shape == (3, 32, 32)


def test_cifar_fs_and_fc100_class_splits(tmp_path):
    source = FAKES["cifar_fs"](tmp_path)
    root = tmp_path / "root"
    for name, sizes in (("cifar_fs", (64, 16, 20)), ("fc100", (60, 20, 20))):
        commands.prepare(name, source, root)
        splits = [load_split(name, s, root) for s in ("train", "val", "test")]
        assert tuple(s.num_classes for s in splits) == sizes
        assert all(s.class_counts().tolist() == [3] * s.num_classes for s in splits)
        names = [set(s.class_names) for s in splits]
        assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert "people" not in load_split("fc100", "test", root).class_names  # fine names, not superclasses
    assert {"baby", "man", "woman"} <= set(load_split("fc100", "test", root).class_names)


def test_force_prepares_again(tmp_path):
    root = tmp_path / "root"
    source = FAKES["mnist"](tmp_path)
    commands.prepare("mnist", source, root)
    assert not commands.prepare("mnist", source, root, force=True).skipped


def test_imagefolder_resize_option(tmp_path):
    source = FAKES["imagefolder"](tmp_path)
    commands.prepare("imagefolder:small", source, tmp_path / "root", image_size=(8, 8))
    assert load_split("small", "train", tmp_path / "root").image_shape == (1, 8, 8)
    assert dataset_info("small", tmp_path / "root").test_split == "test"
    # a spec may name it as it was prepared, too
    assert load_split("imagefolder:small", "train", tmp_path / "root").image_shape == (1, 8, 8)


def test_resolve_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCHMARK_DATA", str(tmp_path))
    assert resolve_data_root(None) == tmp_path
    assert resolve_data_root(Path("/x")) == Path("/x")
    monkeypatch.delenv("BENCHMARK_DATA")
    assert resolve_data_root(None) == Path("~/.cache/benchmark").expanduser()


def test_list_table_has_every_dataset(tmp_path):
    rows = commands.dataset_rows(tmp_path)
    table = commands.format_table(rows)
    for name in DATASETS.names():
        assert name in table
    header = table.splitlines()[0]
    for column in ("name", "prepared", "classes", "images", "image size", "splits", "from"):
        assert column in header
