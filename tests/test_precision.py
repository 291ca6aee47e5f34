"""Training precision (``benchmark.precision``): CPU feature detection, ``auto``'s choice and
its reason, refusals, and a training step under each precision the device runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmark import precision, provenance, timing
from benchmark.errors import BenchmarkError
from benchmark.evaluation import evaluate
from benchmark.methods import build_method
from benchmark.train import TrainConfig, TrainStep, build_optimizer, build_scheduler, place
from test_train import SHAPE, BlobSampler

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("flags, found", [
    ("fpu sse avx2", []),
    ("fpu avx512f avx512_bf16", ["avx512_bf16"]),
    ("amx_bf16 amx_tile avx512_bf16", ["amx_bf16", "amx_tile", "avx512_bf16"]),
])
def test_cpu_features_are_read_from_the_flags_line(tmp_path: Path, flags: str, found: list[str]) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nflags\t\t: {flags}\nbugs\t\t: amx_bf16\n")
    assert provenance.cpu_bf16_features(info) == found
    assert provenance.cpu_bf16_features(tmp_path / "missing") == []


def test_auto_stays_float32_without_the_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_features", lambda: [])
    choice = precision.choose("auto", torch.device("cpu"))
    assert choice == precision.Choice("float32", "auto: CPU has neither AMX nor AVX512-BF16")


@pytest.mark.parametrize("speedup, chosen", [(2.0, "bfloat16"), (1.0, "float32")])
def test_auto_takes_bfloat16_only_when_the_probe_is_faster(monkeypatch: pytest.MonkeyPatch,
                                                           speedup: float, chosen: str) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_features", lambda: ["amx_bf16"])
    cost = {"float32": speedup, "bfloat16": 1.0}
    now = [0.0]

    def probe(candidate: str):
        def step() -> None:
            now[0] += cost[candidate]
        return step

    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])  # a step's cost is its time
    choice = precision.choose("auto", torch.device("cpu"), probe)
    assert choice.precision == chosen and "probe" in choice.reason


@pytest.mark.parametrize("name, message", [("float8", "precision must be one of"),
                                           ("float16", "float16 needs CUDA")])
def test_bad_precision_is_refused(name: str, message: str) -> None:
    with pytest.raises(BenchmarkError, match=message):
        precision.choose(name, torch.device("cpu"))


def test_config_takes_a_precision() -> None:
    assert TrainConfig().precision == "float32"
    assert TrainConfig(precision="bfloat16").precision == "bfloat16"
    with pytest.raises(Exception, match="expected one of"):
        TrainConfig(precision="half")


def one_step(device: str, name: str) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    method = build_method("protonet", "conv4", SHAPE)
    config = TrainConfig(steps=2, device=device, progress=False, tensorboard=False)
    where = place(method, config)
    optimizer = build_optimizer(method, config)
    step = TrainStep(method.train(), optimizer, build_scheduler(optimizer, config), where,
                     precision=precision.choose(name, where).precision)
    before = [p.detach().clone() for p in method.parameters()]
    out = step([BlobSampler().sample(0)])
    assert all(p.dtype == torch.float32 for p in method.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, method.parameters()))
    return out


@pytest.mark.parametrize("name", ["float32", "bfloat16"])
def test_a_training_step_in_each_cpu_precision(name: str) -> None:
    assert torch.isfinite(one_step("cpu", name)["loss"])


@pytest.mark.cuda
@pytest.mark.parametrize("name", ["float32", "bfloat16", "float16"])
def test_a_training_step_on_cuda(name: str) -> None:
    assert torch.isfinite(one_step("cuda", name)["loss"])


@pytest.mark.cuda
def test_evaluation_on_cuda_matches_cpu() -> None:
    torch.manual_seed(0)
    method = build_method("protonet", "conv4", SHAPE)
    episodes = BlobSampler().sample_batch([1000, 1001, 1002])
    on_cpu = evaluate(method, episodes).mean
    on_cuda = evaluate(method.to("cuda"), [e.to("cuda") for e in episodes]).mean
    assert on_cuda == pytest.approx(on_cpu, abs=1e-6)
