"""Every reader refuses bad input in one line: generated checkpoints, prepared-cache files,
archives, image files and Python API arguments are each accepted or refused with one
``BenchmarkError`` line; never another exception, never a traceback; and the entry points'
one-line refusals (a 3,000-character name, an output folder no file can be made in).

The generated cases (hypothesis) are derandomised: the same examples in every run
(``READER_EXAMPLES`` per reader); ``BENCHMARK_FUZZ_EXAMPLES=N`` asks for a longer, random hunt.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import resource
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import benchmark
from benchmark import cli
from benchmark.checkpoint import ModelSpec, save_checkpoint
from benchmark.cli import dataset_tools as commands
from benchmark.data import load_split
from benchmark.errors import BenchmarkError
from benchmark.evaluation import evaluate_checkpoint
from fixtures_data import FAKES, png

HUNT = int(os.environ.get("BENCHMARK_FUZZ_EXAMPLES", "0"))
READER_EXAMPLES = 60
HUNTING = settings(max_examples=HUNT or READER_EXAMPLES, deadline=None, derandomize=not HUNT,
                   suppress_health_check=list(HealthCheck))
TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from([0, -1, 1, 3, 28, 2**31, 2**63, 10**11]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "protonet", "conv4", "nope", "../x", "a" * 3000, "\x00"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)
TENSORS = st.one_of(
    st.sampled_from([torch.zeros(0), torch.zeros(3), torch.full((2, 2), math.nan),
                     torch.zeros(1, 1, 28, 28, dtype=torch.uint8), torch.ones(5, dtype=torch.int64),
                     torch.tensor([10**6, -1])]),
    VALUES)


@contextlib.contextmanager
def memory_cap(extra: int = 3 << 30):
    """Address space capped at what the process maps now plus ``extra`` bytes: an unbounded
    allocation raises MemoryError here (a finding) instead of exhausting the machine."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as handle:
        mapped = int(handle.read().split()[0]) * resource.getpagesize()
    cap = mapped + extra if hard == resource.RLIM_INFINITY else min(hard, mapped + extra)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def accepted_or_one_line(call) -> None:
    """``call()`` returns, or raises a one-line BenchmarkError; anything else fails."""
    try:
        with memory_cap():
            call()
    except BenchmarkError as err:
        assert str(err) and "\n" not in str(err) and "Traceback" not in str(err)


# ---------------------------------------------------------------- checkpoints


def good_checkpoint() -> dict[str, Any]:
    spec = ModelSpec("protonet", "conv4", (1, 28, 28))
    torch.manual_seed(0)
    return {"model_spec": spec.to_dict(), "model": spec.build().state_dict(), "step": 3}


GOOD = good_checkpoint()
CHECKPOINT_PATHS = [("model_spec",), ("model_spec", "method"), ("model_spec", "backbone"),
                    ("model_spec", "image_shape"), ("model_spec", "params"), ("model",),
                    ("step",), ("format",), ("model", next(iter(GOOD["model"])))]


def _edited(payload: dict, path: tuple, value: Any) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in payload.items()}
    node = out
    for key in path[:-1]:
        node = node[key]
    if not isinstance(node, dict):
        raise TypeError("an earlier edit replaced the path")
    if value is _DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


_DELETE = object()


def _evaluate(path: Path) -> None:
    evaluate_checkpoint(path, "omniglot", ways=2, shots=1, queries=1, episodes=2, device="cpu")


@HUNTING
@given(edits=st.lists(st.tuples(st.sampled_from(CHECKPOINT_PATHS),
                                st.one_of(TENSORS, st.just(_DELETE))), min_size=1, max_size=3))
def test_any_checkpoint_is_evaluated_or_refused_in_one_line(edits) -> None:
    payload = GOOD
    for path, value in edits:
        try:
            payload = _edited(payload, path, value)
        except (KeyError, TypeError, AttributeError):
            continue
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pt"
        buffer = io.BytesIO()
        try:
            torch.save(payload, buffer)
        except Exception:
            return  # not a file torch writes
        path.write_bytes(buffer.getvalue())
        accepted_or_one_line(lambda: _evaluate(path))


@HUNTING
@given(cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)),
                                           max_size=4))
def test_any_damaged_checkpoint_file_is_refused_in_one_line(cut: float, flips) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = save_checkpoint(Path(folder) / "model.pt", GOOD)
        data = bytearray(path.read_bytes())
        for where, byte in flips:
            data[int(where * (len(data) - 1))] = byte
        path.write_bytes(bytes(data[: max(1, int(cut * len(data)))]))
        accepted_or_one_line(lambda: _evaluate(path))


# ---------------------------------------------------------------- the prepared cache


@HUNTING
@given(payload=st.dictionaries(st.sampled_from(["images", "labels", "class_names", "x"]),
                               TENSORS, max_size=4),
       meta=st.one_of(st.none(), VALUES))
def test_any_cache_file_is_loaded_or_refused_in_one_line(payload, meta) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "root"
        commands.prepare("mnist", FAKES["mnist"](Path(folder)), root)
        try:
            torch.save(payload, root / "mnist" / "train.pt")
        except Exception:
            return
        if meta is not None:
            (root / "mnist" / "meta.json").write_text(json.dumps(meta))
        accepted_or_one_line(lambda: load_split("mnist", "train", root))


# ---------------------------------------------------------------- archives and images


NAMES = st.one_of(st.sampled_from(["a/b/0.png", "../evil.png", "/abs.png", "x", "a/", "",
                                   "train/c0/0.png", "test/c1/1.png", "a" * 300 + ".png"]),
                  st.text(max_size=20))
CONTENT = st.one_of(st.binary(max_size=64), st.sampled_from([png((4, 4)), png((3, 3), "RGB"),
                                                            png((6, 6))[:20], b""]))


def _archive(folder: Path, kind: str, members: list[tuple[str, bytes]]) -> Path:
    if kind == "zip":
        path = folder / "src.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members:
                archive.writestr(name or "_", data)
    elif kind == "tar":
        path = folder / "src.tar.gz"
        with tarfile.open(path, "w:gz") as archive:
            for name, data in members:
                info = tarfile.TarInfo(name or "_")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    else:
        path = folder / "src.zip"
        path.write_bytes(b"".join(data for _, data in members))
    return path


@HUNTING
@given(kind=st.sampled_from(["zip", "tar", "raw"]),
       dataset=st.sampled_from(["mnist", "omniglot", "cifar10", "imagefolder:x"]),
       members=st.lists(st.tuples(NAMES, CONTENT), max_size=6))
def test_any_archive_is_prepared_or_refused_in_one_line(kind, dataset, members) -> None:
    with tempfile.TemporaryDirectory() as folder:
        try:
            source = _archive(Path(folder), kind, members)
        except (ValueError, OSError, UnicodeEncodeError):
            return  # not an archive Python can write
        accepted_or_one_line(lambda: commands.prepare(dataset, source, Path(folder) / "root"))


HEADERS = st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b""])


@HUNTING
@given(images=st.lists(st.tuples(HEADERS, CONTENT, st.sampled_from(["png", "jpg", "gif", "bmp"])),
                       min_size=1, max_size=4))
def test_any_image_file_is_prepared_or_refused_in_one_line(images) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "shapes"
        for split in ("train", "test"):
            for cls in ("c0", "c1"):
                (source / split / cls).mkdir(parents=True)
                for i in range(2):
                    (source / split / cls / f"{i}.png").write_bytes(png((8, 8)))
        for i, (header, body, suffix) in enumerate(images):
            (source / "train" / "c0" / f"bad{i}.{suffix}").write_bytes(header + body)
        accepted_or_one_line(
            lambda: commands.prepare("imagefolder:shapes", source, Path(folder) / "root"))


def _huge_png() -> bytes:
    """A PNG whose header says 40000 x 40000 pixels (a decompression bomb)."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = (40000).to_bytes(4, "big") * 2  # the IHDR width and height (CRC now wrong)
    return bytes(data)


@pytest.mark.parametrize("data", [_huge_png(), b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b""])
def test_an_image_pythons_readers_cannot_decode_is_refused(tmp_path: Path, data: bytes) -> None:
    source = tmp_path / "shapes"
    for split in ("train", "test"):
        for cls in ("c0", "c1"):
            (source / split / cls).mkdir(parents=True)
            (source / split / cls / "0.png").write_bytes(png((8, 8)))
    (source / "train" / "c0" / "1.png").write_bytes(data)
    with pytest.raises(BenchmarkError, match="cannot decode image .*1.png"):
        commands.prepare("imagefolder:shapes", source, tmp_path / "root")
    assert not (tmp_path / "root" / "shapes").exists()


# ---------------------------------------------------------------- the Python API


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1)


API_VALUES = st.one_of(SCALARS, st.sampled_from([[5], (5,), 5.0, 2.5, "5", True, b"5", {}]))


@HUNTING
@given(argument=st.sampled_from(["ways", "shots", "queries", "episodes", "seed", "model",
                                 "dataset", "head", "split", "convert"]),
       value=API_VALUES)
def test_any_evaluate_argument_is_used_or_refused_in_one_line(argument, value) -> None:
    kwargs: dict[str, Any] = dict(model=_flat, dataset="omniglot", ways=2, shots=1, queries=1,
                                  episodes=2)
    kwargs[argument] = value
    accepted_or_one_line(lambda: benchmark.evaluate(**kwargs))


@pytest.mark.parametrize("call, message", [
    (lambda: benchmark.evaluate(_flat, "omniglot", ways=5.0), "ways must be an integer"),
    (lambda: benchmark.evaluate(_flat, "omniglot", episodes=True), "episodes must be an integer"),
    (lambda: benchmark.evaluate(_flat, "omniglot", shots="1"), "shots must be an integer"),
    (lambda: benchmark.evaluate(_flat, "omniglot", rotations=1), "rotations must be True or False"),
    (lambda: benchmark.evaluate(object(), "omniglot"), "model must be a callable"),
    (lambda: benchmark.evaluate(_flat, ["omniglot"]), "dataset must be a dataset name"),
    (lambda: benchmark.run(["tasks/quick.yaml"]), "spec must be a path"),
    (lambda: benchmark.run({"name": "x"}, store=["a.sqlite"]), "store must be a path"),
    (lambda: benchmark.results(["results/results.sqlite"]), "store must be a path"),
    (lambda: benchmark.results("x.sqlite", spec=3), "spec must be a name or a list"),
])
def test_api_arguments_of_the_wrong_kind_are_refused_in_one_line(call, message) -> None:
    with pytest.raises(BenchmarkError, match=message) as caught:
        call()
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------- entry points


def test_a_3000_character_benchmark_name_is_refused_before_anything_is_written(
        tmp_path: Path, capsys) -> None:
    data = yaml.safe_load(TINY.read_text())
    data["name"] = "n" * 3000
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    code = cli.main(["run", str(spec), "--store", str(out / "s.sqlite"), "--runs-dir",
                     str(out / "runs"), "--report-dir", str(out / "report"), "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "3000 characters is too long" in err[0]
    assert not out.exists()


@pytest.mark.skipif(not os.access("/proc", os.W_OK), reason="os.access says no: nothing to show")
def test_an_output_folder_no_file_can_be_made_in_is_refused_before_training(
        tmp_path: Path, capsys) -> None:
    code = cli.main(["run", str(TINY), "--store", str(tmp_path / "s.sqlite"), "--runs-dir",
                     "/proc/benchmark-runs", "--report-dir", str(tmp_path / "r"),
                     "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--runs-dir /proc/benchmark-runs is not writable" in err[0]
    assert not (tmp_path / "s.sqlite").exists()
