"""Bring your own encoder: ``torchvision:NAME`` / ``timm:NAME`` backbones with weights the test
writes itself (no download), ``load_weights``, the ``pretrained`` method (no training) through
the runner, and ``benchmark eval --backbone``."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision
import yaml

from benchmark import cli, runner
from benchmark.backbones import BACKBONES, build_backbone, load_weights
from benchmark.checkpoint import save_checkpoint
from benchmark.errors import BenchmarkError
from benchmark.external import LIBRARIES
from benchmark.methods import build_method
from benchmark.spec.benchmark_spec import parse_spec
from benchmark.store import Store

pytestmark = pytest.mark.usefixtures("one_thread")

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def by_hand(x: torch.Tensor, size: int = 224) -> torch.Tensor:
    """The preprocessing written out: grey → RGB, antialiased bilinear resize, ImageNet norm."""
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (x - MEAN) / STD


def reference(library: str) -> torch.nn.Module:
    """A randomly initialised full model (with its classifier) of ``library``, seed 1."""
    torch.manual_seed(1)
    if library == "torchvision":
        return torchvision.models.resnet18()
    return timm.create_model("resnet18", pretrained=False)


@pytest.mark.parametrize("library", LIBRARIES.names())
@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32)])
def test_adapter_with_written_weights_gives_the_models_own_features(
        tmp_path: Path, library: str, image_shape: tuple[int, int, int]) -> None:
    full = reference(library).eval()
    path = tmp_path / "weights.pth"
    torch.save(full.state_dict(), path)  # a full model's state dict: its classifier is ignored
    backbone = build_backbone(f"{library}:resnet18", image_shape)
    load_weights(backbone, str(path))
    backbone.eval()
    x = torch.rand(3, *image_shape)
    with torch.no_grad():
        if library == "torchvision":
            full.fc = torch.nn.Identity()
            expected = full(by_hand(x))
        else:
            expected = full.forward_head(full.forward_features(by_hand(x)), pre_logits=True)
        got = backbone(x)
    assert got.shape == (3, 512) and backbone.out_dim == 512
    assert torch.allclose(got, expected, atol=1e-5)
    torch.manual_seed(2)
    fresh = build_backbone(f"{library}:resnet18", image_shape).eval()
    with torch.no_grad():
        assert not torch.allclose(fresh(x), expected, atol=1e-3)  # the weights did something


def test_input_config_comes_from_the_models_config() -> None:
    tv = build_backbone("torchvision:resnet18", (1, 28, 28)).net
    preset = torchvision.models.ResNet18_Weights.DEFAULT.transforms()
    assert tv.config.size == (preset.crop_size[0],) * 2
    assert tv.config.mean == tuple(preset.mean) and tv.config.std == tuple(preset.std)
    tm = build_backbone("timm:vit_tiny_patch16_224", (3, 32, 32)).net
    cfg = timm.create_model("vit_tiny_patch16_224", pretrained=False).pretrained_cfg
    assert tm.config.size == tuple(cfg["input_size"][1:])
    assert tm.config.mean == tuple(cfg["mean"]) and tm.config.std == tuple(cfg["std"])
    assert tm.preprocess(torch.rand(2, 3, 32, 32)).shape == (2, 3, 224, 224)


def test_wrapped_checkpoint_with_module_prefix_loads(tmp_path: Path) -> None:
    full = reference("torchvision")
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in full.state_dict().items()}},
               path)
    backbone = build_backbone("torchvision:resnet18", (3, 32, 32))
    load_weights(backbone, str(path))
    assert torch.equal(backbone.net.model.conv1.weight, full.conv1.weight)


def test_a_benchmark_checkpoint_is_weights_for_its_backbone(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trained = build_method("protonet", "conv4", (1, 28, 28))
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"model_spec": trained.model_spec.to_dict(), "model": trained.state_dict(), "step": 1})
    mine = build_method("pretrained", "conv4", (1, 28, 28), weights=str(path)).eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(mine.embed(x), trained.eval().embed(x))


def test_weights_of_another_model_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "r34.pth"
    torch.save(torchvision.models.resnet34().state_dict(), path)
    with pytest.raises(BenchmarkError, match=r"do not fit backbone 'torchvision:resnet18' \(unexpected layer"):
        build_method("pretrained", "torchvision:resnet18", (3, 32, 32), weights=str(path))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(BenchmarkError, match="cannot be read"):
        build_method("pretrained", "torchvision:resnet18", (3, 32, 32), weights=str(bad))
    with pytest.raises(BenchmarkError, match="does not exist"):
        build_method("pretrained", "conv4", (1, 28, 28), weights=str(tmp_path / "none.pth"))
    with pytest.raises(BenchmarkError, match="has no library weights"):
        build_method("pretrained", "conv4", (1, 28, 28), weights="library")


@pytest.mark.parametrize("name, message", [
    ("nolib:resnet18", "unknown encoder library 'nolib'"),
    ("torchvision:resnet1800", "unknown torchvision model 'resnet1800'"),
    ("timm:no_such_model", "unknown timm model 'no_such_model'"),
])
def test_unknown_external_names_are_refused(name: str, message: str) -> None:
    with pytest.raises(BenchmarkError, match=message):
        build_backbone(name, (3, 32, 32))


def test_a_spec_with_an_unknown_library_is_refused_when_read() -> None:
    data = yaml.safe_load(SPEC.format(backbone="nolib:x", params="{}"))
    with pytest.raises(BenchmarkError, match=r"methods\[0\]\.backbone: unknown encoder library 'nolib'"):
        parse_spec(data, "x.yaml")
    assert "torchvision:resnet18" in BACKBONES and "conv4" in BACKBONES


SPEC = """
name: byo
device: cpu
train: {{dataset: omniglot, split: background}}
methods:
  - {{label: mine, method: pretrained, backbone: {backbone}, params: {params}}}
eval:
  datasets: [{{dataset: omniglot, split: evaluation}}]
  settings: [{{ways: 5, shots: 1}}]
  episodes: 6
  queries: 2
"""


def test_pretrained_method_runs_without_training(tmp_path: Path) -> None:
    """No training: 0 steps, no checkpoint; a conv4 without weights is the random floor
    itself (the same seed, the same initial weights), so their rows agree."""
    spec = tmp_path / "byo.yaml"
    spec.write_text(SPEC.format(backbone="conv4", params="{}"))
    runner.run_file(spec, store_path=tmp_path / "s.sqlite", runs_dir=tmp_path / "runs",
                    report_dir=tmp_path / "report")
    with Store(tmp_path / "s.sqlite") as store:
        rows = {r.method: r for r in store.results("byo")}
        run = store.get_run("byo", "mine", 0)
    assert set(rows) == {"random", "mine"}
    assert rows["mine"].steps == 0 and rows["mine"].method_name == "pretrained"
    assert rows["mine"].supervision == ""  # not trained here: matched to no published number
    assert run.status == "done" and run.steps == 0
    assert rows["mine"].episode_accuracies == rows["random"].episode_accuracies
    assert not list((tmp_path / "runs").rglob("*.pt"))


def test_pretrained_method_refuses_to_train() -> None:
    from benchmark.samplers import build_sampler
    from benchmark.data import load_split

    method = build_method("pretrained", "conv4", (1, 28, 28))
    episode = build_sampler("labels", load_split("omniglot", "background"), 5, 1, 1).sample(0)
    with pytest.raises(BenchmarkError, match="does not train"):
        method(episode)


def test_missing_weights_are_refused_before_any_work(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "byo.yaml"
    spec.write_text(SPEC.format(backbone="torchvision:resnet18",
                                params=f"{{weights: {tmp_path / 'none.pth'}}}"))
    code = cli.main(["run", str(spec), "--store", str(tmp_path / "s.sqlite"),
                     "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "none.pth does not exist" in err[0]
    assert not (tmp_path / "s.sqlite").exists() and not (tmp_path / "runs").exists()


def test_eval_backbone_weights_on_the_command_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "w.pth"
    torch.save(reference("torchvision").state_dict(), path)
    args = ["eval", "--backbone", "torchvision:resnet18", "--weights", str(path), "--dataset",
            "omniglot", "--split", "evaluation", "--ways", "5", "--shots", "1", "--queries", "1",
            "--episodes", "3", "--device", "cpu"]
    assert cli.main(args) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    import benchmark

    direct = benchmark.evaluate("torchvision:resnet18", "omniglot", 5, 1, split="evaluation",
                                weights=str(path), queries=1, episodes=3)
    assert line == direct.summary() and "(3 episodes, 5-way 1-shot" in line
    assert cli.main(["eval", "--weights", str(path), "--dataset", "omniglot"]) == 2
    assert "exactly one" in capsys.readouterr().err
