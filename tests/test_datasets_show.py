"""``benchmark datasets show NAME``: counts per split, and the two PNG grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark import cli
from benchmark.data import load_split
from benchmark.cli.dataset_show import MIN_SIDE, summarise

pytestmark = pytest.mark.usefixtures("one_thread")


def test_counts_and_grids(tmp_path: Path, capsys) -> None:
    assert cli.main(["datasets", "show", "omniglot", "--split", "evaluation", "--out",
                     str(tmp_path), "--classes", "3", "--per-class", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(line.split()[:5] == ["vinyals_test", "423", "classes", "8460", "images"]
               for line in out)
    assert len([line for line in out if " classes " in line]) == 6  # every split of omniglot
    samples = Image.open(tmp_path / "omniglot_evaluation_samples.png")
    views = Image.open(tmp_path / "omniglot_evaluation_augment_views.png")
    side = 28 * -(-MIN_SIDE // 28)  # 28x28 glyphs enlarged 3x
    assert samples.size == (4 * (side + 2) + 2, 3 * (side + 2) + 2)
    assert views.size == (5 * (side + 2) + 2, 3 * (side + 2) + 2)  # the image, then 4 views
    grid = np.asarray(views.convert("L"), dtype=np.float32)
    first, second = (grid[2:2 + side, 2 + c * (side + 2):2 + c * (side + 2) + side] for c in (0, 1))
    assert first.max() > 200 and not np.array_equal(first, second)  # a view is not the image


def test_labels_sampler_grid(tmp_path: Path, capsys) -> None:
    assert cli.main(["datasets", "show", "omniglot", "--out", str(tmp_path), "--sampler",
                     "labels", "--classes", "2", "--per-class", "3"]) == 0
    assert (tmp_path / "omniglot_vinyals_trainval_labels_views.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["--split", "nope"], "has no split 'nope'"),
    (["--sampler", "nope"], "unknown sampler 'nope'"),
    (["--classes", "0"], "classes must be in 1.."),
    (["--sampler", "labels", "--per-class", "30"], "error: "),
])
def test_bad_input_writes_nothing(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    out = tmp_path / "out"
    assert cli.main(["datasets", "show", "omniglot", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_summary_counts() -> None:
    summary = summarise(load_split("omniglot", "vinyals_val"))
    assert (summary.classes, summary.images, summary.least, summary.most) == (172, 3440, 20, 20)
