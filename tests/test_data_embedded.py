"""The embedded Omniglot: complete, the default when Omniglot is not prepared."""

from __future__ import annotations

import pytest

from benchmark.cli import dataset_tools as commands
from benchmark.data import embedded, load_split
from fixtures_data import FAKES

EXPECTED = {"background": 964, "evaluation": 659, "vinyals_train": 1028, "vinyals_val": 172,
            "vinyals_test": 423, "vinyals_trainval": 1200}


def test_embedded_file_is_small_and_licensed():
    assert embedded.EMBEDDED_PATH.stat().st_size < 8 * 2**20
    licence = (embedded.EMBEDDED_PATH.parent / "LICENSE.txt").read_text()
    assert "MIT License" in licence and "Lake" in licence and "brendenlake/omniglot" in licence


@pytest.mark.parametrize("split", list(EXPECTED))
def test_embedded_splits_have_the_official_counts(split, tmp_path):
    data = load_split("omniglot", split, tmp_path / "empty-root")  # not prepared: embedded copy
    assert data.num_classes == EXPECTED[split]
    assert data.class_counts().tolist() == [20] * EXPECTED[split]
    assert data.image_shape == (1, 28, 28)


def test_embedded_background_evaluation_partition_the_vinyals_split():
    subsets = set(embedded.load_embedded("background").class_names) | set(embedded.load_embedded("evaluation").class_names)
    vinyals = [set(embedded.load_embedded(f"vinyals_{s}").class_names) for s in ("train", "val", "test")]
    assert len(subsets) == 1623 and set().union(*vinyals) == subsets
    assert sum(len(v) for v in vinyals) == 1623
    assert embedded.load_embedded("vinyals_trainval").class_names == tuple(
        c for c in embedded.load_embedded("background").class_names + embedded.load_embedded("evaluation").class_names
        if c in vinyals[0] | vinyals[1])


def test_strokes_are_bright_on_black():
    images = embedded.load_embedded("background").images.float()
    assert images.mean() < 60  # mostly black background


def test_export_round_trip(tmp_path):
    root = tmp_path / "root"
    commands.prepare("omniglot", FAKES["omniglot"](tmp_path), root)
    path, size = commands.embed(root, tmp_path / "small.npz")
    assert size == path.stat().st_size > 0
    for split in ("background", "vinyals_test", "vinyals_trainval"):
        assert embedded.load_embedded(split, path).fingerprint == load_split("omniglot", split, root).fingerprint
