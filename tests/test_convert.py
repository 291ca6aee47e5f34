"""Input conversion for cross-domain evaluation: the converted images, the spec's ``convert:``
key and ``eval --convert``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from benchmark import cli
from benchmark.checkpoint import save_checkpoint
from benchmark.methods import ModelSpec
from benchmark.data.convert import (InputConversion, convert_for, convert_images, describe,
                                    parse_conversion)
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError
from benchmark.spec.benchmark_spec import parse_spec

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"


def constant(shape: tuple[int, int, int], value: tuple[int, ...], n: int = 2) -> torch.Tensor:
    """``n`` images of ``shape`` whose channel ``c`` is ``value[c]`` everywhere."""
    return torch.tensor(value, dtype=torch.uint8).view(1, -1, 1, 1).expand(n, *shape).clone()


def split_of(images: torch.Tensor) -> Split:
    labels = torch.arange(len(images)) % 2
    return Split("toy", "test", images, labels, ("a", "b"))


# ---------------------------------------------------------------- the converted images


@pytest.mark.parametrize("colour, grey", [((255, 0, 0), round(255 * 0.299)),
                                          ((0, 255, 0), round(255 * 0.587)),
                                          ((0, 0, 255), round(255 * 0.114)),
                                          ((255, 255, 255), 255)])
def test_rgb_to_grey_uses_the_luma_weights(colour, grey) -> None:
    out = convert_images(constant((3, 32, 32), colour), (1, 32, 32))
    assert out.dtype == torch.uint8 and out.shape == (2, 1, 32, 32)
    assert torch.all(out == grey)


def test_grey_to_rgb_replicates_the_channel() -> None:
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    out = convert_images(images, (3, 28, 28))
    assert out.shape == (3, 3, 28, 28)
    assert all(torch.equal(out[:, c], images[:, 0]) for c in range(3))


@pytest.mark.parametrize("source, target", [((3, 32, 32), (1, 28, 28)), ((1, 28, 28), (3, 32, 32)),
                                            ((1, 28, 28), (1, 84, 60))])
def test_resizing_a_constant_image_keeps_it_constant(source, target) -> None:
    out = convert_images(constant(source, (200,) * source[0]), target)
    assert out.shape == (2, *target) and torch.all(out == 200)


def test_downsizing_is_antialiased() -> None:
    """A bright pixel that plain bilinear sampling steps over still shows when quartering."""
    images = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    images[0, 0, 0, 0] = 255
    plain = torch.nn.functional.interpolate(images.float(), size=(2, 2), mode="bilinear",
                                            align_corners=False)
    out = convert_images(images, (1, 2, 2))
    assert plain[0, 0, 0, 0] == 0 and out[0, 0, 0, 0] > 0 and out[0, 0, 1, 1] == 0


def test_converted_split_is_renamed_and_fingerprinted_anew() -> None:
    source = split_of(constant((3, 32, 32), (255, 0, 0), n=4))
    converted, done = convert_for(source, InputConversion(), (1, 28, 28))
    assert converted.name == "test→auto" and converted.dataset == "toy"
    assert converted.image_shape == (1, 28, 28) and torch.equal(converted.labels, source.labels)
    assert converted.class_names == source.class_names
    assert converted.fingerprint != source.fingerprint
    assert done == "RGB→grey (ITU-R 601 luma), 32x32→28x28 bilinear (antialiased)"
    again, _ = convert_for(source, InputConversion(), (1, 28, 28))
    assert torch.equal(again.images, converted.images)  # the same images every time
    explicit, _ = convert_for(source, InputConversion(channels=1, size=28), (1, 28, 28))
    assert explicit.name == "test→1x28x28" and torch.equal(explicit.images, converted.images)


def test_descriptions() -> None:
    assert describe((1, 28, 28), (3, 32, 32)) == ("grey→RGB (replicated), 28x28→32x32 bilinear "
                                                  "(antialiased)")
    assert describe((3, 32, 32), (1, 32, 32)) == "RGB→grey (ITU-R 601 luma)"
    assert describe((1, 28, 28), (1, 28, 28)) == "none (already 1x28x28)"
    with pytest.raises(BenchmarkError, match="cannot convert 4-channel images"):
        describe((4, 28, 28), (1, 28, 28))


def test_explicit_conversion_must_be_the_models_shape() -> None:
    assert InputConversion(channels=1, size=28).target((1, 28, 28)) == (1, 28, 28)
    assert InputConversion().target((3, 84, 60)) == (3, 84, 60)
    with pytest.raises(BenchmarkError, match="gives 3x32x32 images but the model takes 1x28x28"):
        InputConversion(channels=3, size=32).target((1, 28, 28))


@pytest.mark.parametrize("text, expected", [("auto", InputConversion()),
                                            ("channels=1,size=28", InputConversion(1, 28)),
                                            ("size=32, channels=3", InputConversion(3, 32))])
def test_command_line_form(text: str, expected: InputConversion) -> None:
    assert parse_conversion(text) == expected


@pytest.mark.parametrize("text, words", [
    ("channels=2,size=28", "channels: expected 1 (grey) or 3 (RGB), got 2"),
    ("channels=1", "give both channels and size"),
    ("channels=1,size=0", "size: expected an integer ≥ 1"),
    ("channels=1,size=28,mode=nearest", "mode: unknown key"),
    ("channels=one,size=28", "channels: expected an integer, got string 'one'"),
    ("grey", "expected auto or channels=C,size=S"),
])
def test_bad_command_line_forms_are_refused(text: str, words: str) -> None:
    with pytest.raises(BenchmarkError, match="^--convert: ") as err:
        parse_conversion(text)
    assert words in str(err.value)


# ---------------------------------------------------------------- the spec key


def tiny_with(entry: dict) -> dict:
    data = yaml.safe_load(TINY.read_text())
    data["eval"]["datasets"].append(entry)
    return data


@pytest.mark.parametrize("convert, expected", [
    ("auto", InputConversion()), ({"channels": 1, "size": 28}, InputConversion(1, 28))])
def test_spec_reads_convert(convert, expected) -> None:
    spec = parse_spec(tiny_with({"dataset": "omniglot", "split": "evaluation",
                                 "convert": convert}))
    plain_entry, converted = spec.eval.datasets
    assert plain_entry.convert is None and converted.convert == expected
    assert converted.split_name == f"evaluation→{expected.tag}"
    assert spec.to_dict()["eval"]["datasets"][1]["convert"] == {
        "channels": expected.channels, "size": expected.size}


def test_the_same_split_with_and_without_conversion_are_two_entries() -> None:
    spec = parse_spec(tiny_with({"dataset": "omniglot", "split": "evaluation", "convert": "auto"}))
    assert len(spec.eval.datasets) == 2
    with pytest.raises(BenchmarkError, match="lists the same entry twice"):
        data = tiny_with({"dataset": "omniglot", "split": "evaluation", "convert": "auto"})
        data["eval"]["datasets"].append({"dataset": "omniglot", "split": "evaluation",
                                         "convert": "auto"})
        parse_spec(data)


# ---------------------------------------------------------------- eval --convert


@pytest.fixture(scope="module")
def rgb_checkpoint(tmp_path_factory) -> Path:
    """An untrained protonet/conv4 for 3x32x32 images (CIFAR's shape)."""
    spec = ModelSpec("protonet", "conv4", (3, 32, 32), {})
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "rgb.pt"
    return save_checkpoint(path, {"model_spec": spec.to_dict(), "model": spec.build().state_dict(),
                                  "step": 0})


def _eval(checkpoint: Path, *extra: str) -> list[str]:
    return ["eval", "--checkpoint", str(checkpoint), "--dataset", "omniglot", "--episodes", "2",
            "--ways", "5", "--queries", "2", "--device", "cpu", *extra]


def test_cli_eval_refuses_other_images_without_convert(rgb_checkpoint: Path, capsys) -> None:
    assert cli.main(_eval(rgb_checkpoint)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--convert auto" in err[0]


@pytest.mark.usefixtures("one_thread")
def test_cli_eval_with_convert_evaluates_converted_images(rgb_checkpoint: Path, capsys) -> None:
    assert cli.main(_eval(rgb_checkpoint, "--convert", "auto")) == 0
    out = capsys.readouterr().out
    assert "2 episodes, 5-way 1-shot" in out
    assert "input: grey→RGB (replicated), 28x28→32x32 bilinear (antialiased)" in out
    assert cli.main(_eval(rgb_checkpoint, "--convert", "channels=3,size=32")) == 0
    assert cli.main(_eval(rgb_checkpoint, "--convert", "channels=1,size=28")) == 2
    assert "takes 3x32x32" in capsys.readouterr().err
