"""Bad input to the dataset layer: one clear BenchmarkError (exit 2 via the CLI), nothing half-written."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.cli import dataset_tools as commands
from benchmark.data import cache, dataset_info, load_split
from benchmark.errors import BenchmarkError
from fixtures_data import FAKES, png


def _leftovers(root: Path) -> list[Path]:
    """Files under root other than nothing: any split file, meta or temp file means half-written."""
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_unknown_dataset(tmp_path, capsys):
    with pytest.raises(BenchmarkError, match="unknown dataset 'nope'"):
        commands.prepare("nope", None, tmp_path)
    with pytest.raises(BenchmarkError, match="unknown dataset"):
        load_split("nope", "train", tmp_path)
    with pytest.raises(BenchmarkError, match="unknown dataset"):
        dataset_info("nope", tmp_path)
    assert main(["datasets", "prepare", "nope", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown dataset 'nope'")


def test_unknown_split(tmp_path):
    with pytest.raises(BenchmarkError, match="unknown split 'nope' of omniglot"):
        load_split("omniglot", "nope", tmp_path)


def test_missing_source(tmp_path, capsys):
    args = ["datasets", "prepare", "mnist", "--source", str(tmp_path / "absent"), "--data-root", str(tmp_path / "r")]
    assert main(args) == 2
    assert "does not exist" in capsys.readouterr().err
    assert _leftovers(tmp_path / "r") == []


@pytest.mark.parametrize("name", ["omniglot", "mnist", "cifar10", "cifar_fs", "mini_imagenet", "imagefolder:x"])
def test_wrong_layout(name, tmp_path):
    source = tmp_path / "wrong"
    source.mkdir()
    (source / "readme.txt").write_text("not a dataset")
    with pytest.raises(BenchmarkError, match=str(source)):
        commands.prepare(name, source, tmp_path / "root")
    assert _leftovers(tmp_path / "root") == []


def test_truncated_zip(tmp_path):
    source = FAKES["omniglot"](tmp_path)
    archive = source / "images_background.zip"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(BenchmarkError, match="corrupt or truncated zip"):
        commands.prepare("omniglot", source, tmp_path / "root")
    assert _leftovers(tmp_path / "root") == []


def test_truncated_tarball(tmp_path):
    source = FAKES["cifar10"](tmp_path)
    source.write_bytes(source.read_bytes()[:-200])
    with pytest.raises(BenchmarkError, match="corrupt or truncated"):
        commands.prepare("cifar10", source, tmp_path / "root")


def test_truncated_idx(tmp_path):
    source = FAKES["mnist"](tmp_path)
    path = source / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BenchmarkError, match="train-images-idx3-ubyte"):
        commands.prepare("mnist", source, tmp_path / "root")


def test_class_folder_with_no_images(tmp_path):
    source = FAKES["imagefolder"](tmp_path)
    (source / "train" / "empty").mkdir()
    with pytest.raises(BenchmarkError, match="class folder 'train/empty' has no images"):
        commands.prepare("imagefolder:x", source, tmp_path / "root")
    assert _leftovers(tmp_path / "root") == []


def test_undecodable_image(tmp_path):
    source = FAKES["imagefolder"](tmp_path)
    (source / "train" / "cat" / "bad.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(BenchmarkError, match="cannot decode image .*bad.png"):
        commands.prepare("imagefolder:x", source, tmp_path / "root")


def test_omniglot_wrong_drawing_count(tmp_path):
    source = tmp_path / "o"
    source.mkdir()
    for subset in ("background", "evaluation"):
        with zipfile.ZipFile(source / f"images_{subset}.zip", "w") as archive:
            archive.writestr(f"images_{subset}/A/character01/0001_01.png", png((105, 105), "1"))
    with pytest.raises(BenchmarkError, match="has 1 drawings, Omniglot has 20"):
        commands.prepare("omniglot", source, tmp_path / "root")


def test_imagefolder_mixed_sizes_need_image_size(tmp_path):
    source = FAKES["imagefolder"](tmp_path)
    (source / "train" / "cat" / "big.png").write_bytes(png((20, 20)))
    with pytest.raises(BenchmarkError, match="different sizes"):
        commands.prepare("imagefolder:x", source, tmp_path / "root")


def test_imagefolder_names(tmp_path):
    source = FAKES["imagefolder"](tmp_path)
    with pytest.raises(BenchmarkError, match="imagefolder:NAME"):
        commands.prepare("imagefolder", source, tmp_path)
    with pytest.raises(BenchmarkError, match="registered dataset"):
        commands.prepare("imagefolder:mnist", source, tmp_path)
    with pytest.raises(BenchmarkError, match="invalid dataset name"):
        commands.prepare("imagefolder:../x", source, tmp_path)
    with pytest.raises(BenchmarkError, match="imagefolder:NAME only"):
        commands.prepare("mnist", source, tmp_path, image_size=(8, 8))


def test_unwritable_data_root(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    source = FAKES["mnist"](tmp_path)
    assert main(["datasets", "prepare", "mnist", "--source", str(source), "--data-root", str(blocker / "root")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: data root") and "not writable" in err
    with pytest.raises(BenchmarkError, match="is not writable"):
        commands.prepare("mnist", source, blocker / "root")


def test_not_prepared_names_the_command(tmp_path):
    with pytest.raises(BenchmarkError, match="python -m benchmark datasets prepare mnist"):
        load_split("mnist", "train", tmp_path)


def test_download_failure_is_one_clear_error(tmp_path, monkeypatch):
    from benchmark.data.mnist import MNIST

    def offline(self, workdir):
        raise OSError("network\nis unreachable")

    monkeypatch.setattr(MNIST, "download", offline)
    with pytest.raises(BenchmarkError, match="downloading mnist failed \\(OSError: network is unreachable\\).*--source"):
        commands.prepare("mnist", None, tmp_path)
    assert _leftovers(tmp_path) == [] and not any(tmp_path.iterdir())


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    source = FAKES["mnist"](tmp_path)
    root = tmp_path / "root"

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cache.torch, "save", broken)
    with pytest.raises(BenchmarkError, match="cannot write .*train.pt"):
        commands.prepare("mnist", source, root)
    assert cache.read_meta(root, "mnist") is None
    assert [p for p in _leftovers(root) if p.name.endswith(".tmp")] == []


def test_missing_source_is_an_error_even_when_prepared(tmp_path):
    root = tmp_path / "root"
    commands.prepare("mnist", FAKES["mnist"](tmp_path), root)
    with pytest.raises(BenchmarkError, match="does not exist"):
        commands.prepare("mnist", tmp_path / "absent", root)
