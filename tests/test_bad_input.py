"""Bad input to every CLI command, systematically: exit 2, one line naming the problem, no
traceback, nothing written.

Each case runs ``python -m benchmark ...`` as its own process. Starting a fresh interpreter
(torch included) costs 10-30 s on the shared 2-core machine, so one driver interpreter imports
the package once, loads the embedded Omniglot splits once into the package's per-process cache
of loaded splits (as a ``benchmark run`` does before its first check that needs them), and
*forks* a child per case: the child gets its own argv, environment,
working directory and stdout/stderr files and runs ``benchmark/__main__.py`` as ``__main__``,
exactly as ``python -m benchmark`` does; its exit status is the process's. The driver
fingerprints every file under the case tree before and after each case, so "nothing written"
is checked per case, byte for byte. ``test_driver_matches_a_fresh_interpreter`` runs two cases
through a plain ``subprocess.run([sys.executable, "-m", "benchmark", ...])`` to keep the driver
honest.

Bad input must be refused before any work, so no case trains.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import yaml

from fixtures_data import omniglot, png

REPO = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------ the case tree

#: A tiny valid spec; every spec case is one edit of it.
BASE_SPEC: dict[str, Any] = {
    "name": "badinput",
    "device": "cpu",
    "seeds": [0],
    "train": {"dataset": "omniglot", "split": "background"},
    "trainer": {"steps": 2, "checkpoint_every": 1},
    "methods": [{"label": "protonet", "method": "protonet", "backbone": "conv4",
                 "sampler": "labels", "ways": 5, "shots": 1, "queries": 2}],
    "eval": {"datasets": [{"dataset": "omniglot", "split": "evaluation"}],
             "settings": [{"ways": 5, "shots": 1}], "heads": ["prototype"],
             "episodes": 2, "queries": 3, "seed": 0},
}

#: imagefolder:tiny, prepared in the fixture: 3 classes x 5 grey 28x28 images (split ``all``).
TINY_CLASSES, TINY_IMAGES = 3, 5


@dataclass(frozen=True)
class Case:
    """One bad input: CLI arguments (``{B}`` is the case tree) and words the error must name."""

    id: str
    argv: tuple[str, ...]
    words: tuple[str, ...]
    usage: bool = False  # an argparse error: usage synopsis lines, then one error line
    env: dict[str, str] = field(default_factory=dict)


def _spec(tree: Path, name: str, edit: Callable[[dict], Any] | None = None,
          text: str | None = None) -> Path:
    path = tree / "specs" / f"{name}.yaml"
    if text is None:
        data = json.loads(json.dumps(BASE_SPEC))
        edit(data)
        text = yaml.safe_dump(data, sort_keys=False)
    path.write_text(text)
    return path


def _run(spec: str) -> tuple[str, ...]:
    return ("run", f"{{B}}/specs/{spec}.yaml", "--store", "{B}/job/store.sqlite",
            "--runs-dir", "{B}/job/runs", "--report-dir", "{B}/job/report")


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """An edit that sets ``a.b[0].c`` in the spec dict."""
    def edit(data: dict) -> None:
        keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "")
                .split(".")]
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return edit


def _drop(path: str) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        head, _, key = path.rpartition(".")
        target = data
        for part in filter(None, head.split(".")):
            target = target[part]
        del target[key]
    return edit


def _augment(options: dict) -> Callable[[dict], None]:
    """Make methods[0] a ProtoCLR on augment episodes with these sampler options."""
    def edit(data: dict) -> None:
        data["methods"][0].update(method="protoclr", sampler="augment", sampler_options=options)
    return edit


def _meta(method: str, **params: Any) -> Callable[[dict], None]:
    """The good spec's method as ``method`` (a meta-learner) with ``params``, native head."""

    def edit(data: dict) -> None:
        data["methods"][0].update(method=method, params=params, heads=["native"])
    return edit


def _momentum(method: str, **params: Any):
    """methods[0] becomes ``method`` on 8-image augmentation episodes (2 x 8 = 16 keys a step)."""
    def edit(data: dict) -> None:
        data["methods"][0].update(label=method, method=method, sampler="augment", ways=8,
                                  shots=1, queries=1, params=params)
    return edit


#: (case id, spec edit or raw text, words the error line must contain)
SPEC_CASES: list[tuple[str, Any, tuple[str, ...]]] = [
    ("yaml-malformed", "name: x\nmethods: [\n", ()),
    ("yaml-not-mapping", "- just\n- a list\n", ()),
    ("yaml-empty", "", ()),
    ("unknown-top-key", _set("colour", "red"), ("colour",)),
    ("unknown-method-key", _set("methods.0.lerning_rate", 0.1), ("lerning_rate",)),
    ("unknown-trainer-key", _set("trainer.stpes", 3), ("stpes",)),
    ("unknown-eval-key", _set("eval.episode", 3), ("episode",)),
    ("missing-key", _drop("train.dataset"), ("dataset",)),
    ("type-steps-string", _set("trainer.steps", "many"), ("steps",)),
    ("type-seeds-scalar", _set("seeds", 0), ("seeds",)),
    ("type-lr-string", _set("trainer.lr", "fast"), ("lr",)),
    ("type-methods-mapping", _set("methods", {"label": "x"}), ("methods",)),
    ("type-ways-float", _set("eval.settings.0.ways", 5.5), ("ways",)),
    ("type-heads-string", _set("eval.heads", "prototype"), ("heads",)),
    ("unknown-method", _set("methods.0.method", "protonett"), ("protonett",)),
    ("unknown-backbone", _set("methods.0.backbone", "conv5"), ("conv5",)),
    ("unknown-head", _set("eval.heads", ["nearest_neighbour"]), ("nearest_neighbour",)),
    ("unknown-sampler", _set("methods.0.sampler", "telepathy"), ("telepathy",)),
    ("renamed-source", lambda d: d["methods"][0].update(source=d["methods"][0].pop("sampler")),
     ("methods[0].source", "renamed to 'sampler'")),
    ("sampler-options-as-sampler", _set("methods.0.sampler", {"rotations": True}),
     ("methods[0].sampler", "sampler options go under 'sampler_options'")),
    ("nesterov-without-momentum", _set("trainer", {"optimizer": "sgd", "nesterov": True,
                                                   "momentum": 0.0}), ("trainer.nesterov",)),
    ("unknown-optimizer", _set("trainer.optimizer", "adamax"), ("adamax",)),
    ("steps-from-not-a-reference", _set("trainer.steps_from", "stage1"), ("steps_from",)),
    ("steps-from-no-stage-1", _set("trainer.steps_from", "stage1/protonet"),
     ("steps_from", "stage-1 spec")),
    ("unknown-train-dataset", _set("train.dataset", "omnigot"), ("omnigot",)),
    ("unknown-eval-dataset", _set("eval.datasets.0.dataset", "mnsit"), ("mnsit",)),
    ("unknown-split", _set("eval.datasets.0.split", "testing"), ("testing",)),
    ("unprepared-dataset", _set("eval.datasets.0.dataset", "mnist"), ("mnist", "prepare")),
    ("ways-over-classes", lambda d: d["eval"].update(
        datasets=[{"dataset": "tiny", "split": "all"}],
        settings=[{"ways": 20, "shots": 1}]), ("20-way", "tiny")),
    ("shots-queries-over-class-size", lambda d: d["eval"].update(
        datasets=[{"dataset": "tiny", "split": "all"}],
        settings=[{"ways": 3, "shots": 3}]), ("3-shot", "tiny")),
    ("ways-over-omniglot", _set("eval.settings.0.ways", 700), ("700-way",)),
    ("shots-over-omniglot", _set("eval.settings.0.shots", 19), ("19-shot",)),
    ("zero-ways", _set("eval.settings.0.ways", 0), ("ways",)),
    ("one-way", _set("eval.settings.0.ways", 1), ("ways",)),
    ("zero-shots", _set("eval.settings.0.shots", 0), ("shots",)),
    ("negative-queries", _set("eval.queries", -1), ("queries",)),
    ("zero-episodes", _set("eval.episodes", 0), ("episodes",)),
    ("zero-steps", _set("trainer.steps", 0), ("steps",)),
    ("negative-lr", _set("trainer.lr", -0.1), ("lr",)),
    ("train-ways-over-classes", _set("methods.0.ways", 5000), ("methods[0]",)),
    ("train-shots-over-class-size", _set("methods.0.shots", 20), ("methods[0]",)),
    ("unknown-method-param", _set("methods.0.params", {"bogus": 1}), ("bogus",)),
    ("unknown-sampler-option", _set("methods.0.sampler_options", {"colour": True}), ("colour",)),
    ("unknown-method-train-split", _set("methods.0.train_split", "everything"),
     ("methods[0].train_split", "everything")),
    ("unknown-augment-preset", _augment({"preset": "imagenet"}), ("methods[0]", "imagenet")),
    ("augment-support-not-bool", _augment({"augment_support": "no"}), ("augment_support",)),
    ("unknown-augment-knob", _augment({"augment": {"vflip_p": 0.5}}), ("vflip_p",)),
    ("duplicate-label", lambda d: d["methods"].append(dict(d["methods"][0])), ("protonet",)),
    ("eval-shape-mismatch", lambda d: d["eval"].update(
        datasets=[{"dataset": "rgb", "split": "all"}]), ("rgb", "shape", "convert: auto")),
    ("convert-bad-channels", _set("eval.datasets.0.convert", {"channels": 2, "size": 28}),
     ("eval.datasets[0].convert.channels", "1 (grey) or 3 (RGB)")),
    ("convert-zero-size", _set("eval.datasets.0.convert", {"channels": 1, "size": 0}),
     ("eval.datasets[0].convert.size", "≥ 1")),
    ("convert-huge-size", _set("eval.datasets.0.convert", {"channels": 1, "size": 10**6}),
     ("eval.datasets[0].convert.size", "≤")),
    ("convert-unknown-key", _set("eval.datasets.0.convert", {"channels": 1, "size": 28,
                                                             "mode": "nearest"}),
     ("eval.datasets[0].convert.mode", "unknown key")),
    ("convert-unknown-word", _set("eval.datasets.0.convert", "grey"),
     ("eval.datasets[0].convert", "auto", "'grey'")),
    ("convert-channels-only", _set("eval.datasets.0.convert", {"channels": 1}),
     ("eval.datasets[0].convert", "both")),
    ("convert-to-another-shape", lambda d: d["eval"].update(
        datasets=[{"dataset": "rgb", "split": "all", "convert": {"channels": 3, "size": 32}}],
        settings=[{"ways": 3, "shots": 1}]), ("eval.datasets[0].convert", "3x32x32", "1x28x28")),
    # meta-learners: inner-loop settings and the native head (a method's own adaptation)
    ("maml-zero-inner-steps", _meta("maml", inner_steps=0), ("methods[0].params", "inner_steps")),
    ("maml-negative-inner-steps", _meta("maml", inner_steps=-2), ("inner_steps", "-2")),
    ("maml-zero-inner-lr", _meta("maml", inner_lr=0.0), ("methods[0].params", "inner_lr")),
    ("anil-negative-inner-lr", _meta("anil", inner_lr=-0.1), ("inner_lr", "-0.1")),
    ("maml-ways-over-classifier", lambda d: (_meta("maml", ways=5)(d), d["methods"][0].update(
        ways=10)), ("methods[0]", "10-way", "5-way classifier")),
    ("native-head-on-protonet", _set("methods.0.heads", ["native"]),
     ("methods[0].heads", "native", "protonet")),
    ("native-head-on-every-label", _set("eval.heads", ["prototype", "native"]),
     ("eval.heads", "native", "protonet")),
    ("native-head-on-the-floor", lambda d: (_meta("maml")(d), d["eval"].update(
        heads=["prototype", "native"])), ("eval.heads", "random", "native")),
    ("native-eval-ways-over-classifier", lambda d: (_meta("maml")(d), d["eval"].update(
        settings=[{"ways": 20, "shots": 1}])), ("methods[0].heads", "20-way")),
    ("head-episodes-of-no-head", _set("eval.head_episodes", {"native": 2}),
     ("eval.head_episodes", "native")),
    # a spec that says a thing twice, and counts that would exhaust memory or overflow
    ("duplicate-top-key", "name: a\ndevice: cpu\nname: b\n", ("'name'", "lines 1 and 3")),
    ("duplicate-trainer-key", yaml.safe_dump(BASE_SPEC, sort_keys=False).replace(
        "  steps: 2\n", "  steps: 2\n  steps: 3\n"), ("'steps'", "twice")),
    ("huge-eval-episodes", _set("eval.episodes", 100_000_000_000), ("eval.episodes", "≤")),
    ("huge-eval-ways", _set("eval.settings.0.ways", 10**12), ("ways", "≤")),
    ("huge-eval-shots", _set("eval.settings.0.shots", 2**63), ("shots", "≤")),
    ("huge-eval-queries", _set("eval.queries", 10**30), ("queries", "≤")),
    ("huge-train-ways", _set("methods.0.ways", 10**9), ("methods[0].ways", "≤")),
    ("huge-train-queries", _set("methods.0.queries", 10**9), ("methods[0].queries", "≤")),
    ("huge-steps", _set("trainer.steps", 10**18), ("trainer.steps", "≤")),
    ("huge-val-episodes", _set("trainer.val_episodes", 10**12), ("val_episodes", "≤")),
    ("huge-seed", _set("seeds", [10**30]), ("seeds", "≤")),
    ("huge-eval-seed", _set("eval.seed", 2**64), ("eval.seed", "≤")),
    ("huge-projector", lambda d: d["methods"][0].update(sampler="augment", method="simclr",
                                                        params={"projector_dim": 10**9}),
     ("methods[0].params", "parameters")),
    ("huge-episode-bytes", lambda d: d["methods"][0].update(sampler="augment", method="protoclr",
                                                            ways=900, queries=9000),
     ("GiB",)),
    # ablation files (base: the good spec beside them)
    ("ablation-unknown-path", "base: good.yaml\nsweep:\n  methods[0].paramz.x: [1, 2]\n",
     ("sweep", "paramz")),
    ("ablation-index-out-of-range", "base: good.yaml\nsweep:\n  methods[4].ways: [5]\n",
     ("methods[4].ways", "no [4]")),
    ("ablation-wrong-type", "base: good.yaml\nsweep:\n  methods[0].ways: [5, many]\n",
     ("point ways-many", "expected an integer")),
    ("ablation-empty-list", "base: good.yaml\nsweep:\n  methods[0].ways: []\n",
     ("non-empty list",)),
    ("ablation-duplicate-variant", "base: good.yaml\nvariants:\n  - {name: a, set: {}}\n"
     "  - {name: a, set: {}}\n", ("variants[1].name", "twice")),
    ("ablation-sweep-and-variants", "base: good.yaml\nsweep:\n  seeds: [[0]]\nvariants:\n"
     "  - {name: a, set: {}}\n", ("either 'sweep' or 'variants'",)),
    ("ablation-too-large", "base: good.yaml\nsweep:\n  eval.seed: [" + ", ".join(
        map(str, range(65))) + "]\n", ("65 grid points", "--yes")),
    # MoCo, BYOL and PsCo hyper-parameters (methods[0] on 8-image augmentation episodes)
    ("moco-queue-not-whole-steps", _momentum("moco", queue_size=100),
     ("methods[0].params", "queue_size 100", "multiple of the 16 keys")),
    ("psco-queue-not-whole-steps", _momentum("psco", queue_size=1000),
     ("methods[0].params", "queue_size 1000", "multiple of the 16 keys")),
    ("moco-asymmetric-queue", _momentum("moco", queue_size=100, symmetric=False),
     ("queue_size 100", "multiple of the 8 keys")),
    ("moco-momentum-one", _momentum("moco", momentum=1.0),
     ("methods[0].params", "momentum must be in [0, 1)", "1.0")),
    ("byol-momentum-negative", _momentum("byol", momentum=-0.1),
     ("methods[0].params", "momentum must be in [0, 1)", "-0.1")),
    ("psco-momentum-above-one", _momentum("psco", momentum=1.5), ("momentum must be in [0, 1)",)),
    ("moco-projector-dim-zero", _momentum("moco", projector_dim=0),
     ("methods[0].params", "projector_dim must be > 0")),
    ("byol-projector-dim-zero", _momentum("byol", projector_dim=0), ("projector_dim must be > 0",)),
    ("psco-projector-dim-zero", _momentum("psco", projector_dim=0), ("projector_dim must be > 0",)),
    ("byol-no-predictor", _momentum("byol", predictor_hidden=0), ("predictor_hidden must be > 0",)),
    ("moco-unknown-schedule", _momentum("moco", momentum_schedule="linear"),
     ("momentum schedule 'linear'", "constant", "cosine")),
    ("psco-more-shots-than-queue", _momentum("psco", queue_size=32, num_shots=64),
     ("num_shots 64", "queue_size 32")),
    ("moco-labelled-episodes", lambda d: d["methods"][0].update(method="moco"),
     ("methods[0]", "moco", "augment")),
]
#: Raw-text specs (an empty word tuple) must name their file, whatever the parser says.


def _cases() -> list[Case]:
    cases = []
    for name, edit, words in SPEC_CASES:
        if isinstance(edit, str):
            words = (f"{name}.yaml", *words)
        cases.append(Case(f"run:{name}", _run(name), words))
    run = "run", "{B}/specs/good.yaml"
    cases += [
        Case("run:missing-spec", _run("nosuch"), ("nosuch.yaml",)),
        Case("run:spec-is-directory", ("run", "{B}/specs", "--store", "{B}/job/store.sqlite",
                                       "--runs-dir", "{B}/job/runs"), ("specs",)),
        Case("run:store-not-sqlite", (*run, "--store", "{B}/stores/text.sqlite",
                                      "--runs-dir", "{B}/job/runs", "--report-dir",
                                      "{B}/job/report"), ("text.sqlite", "SQLite")),
        Case("run:store-is-directory", (*run, "--store", "{B}/stores", "--runs-dir",
                                        "{B}/job/runs", "--report-dir", "{B}/job/report"),
             ("stores",)),
        Case("run:store-under-a-file", (*run, "--store", "{B}/stores/text.sqlite/x.sqlite",
                                        "--runs-dir", "{B}/job/runs", "--report-dir",
                                        "{B}/job/report"), ("x.sqlite",)),
        Case("run:runs-dir-under-a-file", (*run, "--store", "{B}/job/store.sqlite",
                                           "--runs-dir", "{B}/stores/text.sqlite/runs",
                                           "--report-dir", "{B}/job/report"), ("runs",)),
        Case("run:unknown-device", (*_run("good"), "--device", "tpu"), ("tpu",)),
        Case("run:unknown-executor", (*_run("good"), "--executor", "slurm"),
             ("unknown executor", "slurm", "local", "ray", "torchrun")),
        Case("run:ray-no-workers", (*_run("good"), "--executor", "ray", "--workers", "0"),
             ("workers must be >= 1",)),
        Case("run:ray-negative-cpus", (*_run("good"), "--executor", "ray", "--job-cpus", "-1"),
             ("cpus must be >= 0",)),
        Case("run:local-with-an-address", (*_run("good"), "--address", "auto"),
             ("executor 'local' takes no option address",)),
        Case("run:torchrun-without-torchrun", (*_run("good"), "--executor", "torchrun"),
             ("torchrun --nproc_per_node",)),
        Case("run:report-dir-under-a-file", (*run, "--store", "{B}/job/store.sqlite",
                                             "--runs-dir", "{B}/job/runs", "--report-dir",
                                             "{B}/stores/text.sqlite/report"), ("report",)),
        Case("run:data-root-under-a-file", (*_run("good-tiny"), "--data-root",
                                            "{B}/stores/text.sqlite/data"), ("tiny",)),
        Case("run:data-root-env-under-a-file", _run("good-tiny"), ("tiny",),
             env={"BENCHMARK_DATA": "{B}/stores/text.sqlite/data"}),
        # datasets
        Case("datasets:prepare-unknown", ("datasets", "prepare", "omnigot", "--source",
                                          "{B}/src/empty"), ("omnigot",)),
        Case("datasets:prepare-missing-source", ("datasets", "prepare", "mnist", "--source",
                                                 "{B}/src/nothing-here"), ("nothing-here",)),
        Case("datasets:prepare-truncated-zip", ("datasets", "prepare", "omniglot", "--source",
                                                "{B}/src/omniglot-truncated"),
             ("images_background.zip",)),
        Case("datasets:prepare-corrupt-gz", ("datasets", "prepare", "mnist", "--source",
                                             "{B}/src/mnist-corrupt"), ("mnist-corrupt",)),
        Case("datasets:prepare-empty-source", ("datasets", "prepare", "mnist", "--source",
                                               "{B}/src/empty"), ("empty",)),
        Case("datasets:prepare-unwritable-root", ("datasets", "prepare", "imagefolder:again",
                                                  "--source", "{B}/src/imagefolder",
                                                  "--data-root", "{B}/stores/text.sqlite/d"),
             ("not writable",)),
        Case("datasets:prepare-bad-image-size", ("datasets", "prepare", "mnist", "--source",
                                                 "{B}/src/mnist-corrupt", "--image-size", "8", "8"),
             ("image-size",)),
        Case("datasets:embed-unprepared", ("datasets", "embed", "--out", "{B}/job/o.npz",
                                           "--data-root", "{B}/empty-root"), ("omniglot",)),
        Case("datasets:unknown-subcommand", ("datasets", "lst"), ("lst",), usage=True),
        Case("datasets:prepare-no-name", ("datasets", "prepare"), ("name",), usage=True),
        # list / perf: argparse and registry refusals
        Case("list:unknown-registry", ("list", "gadgets"), ("gadgets",), usage=True),
        Case("perf:unknown", ("perf", "nosuch", "--out", "{B}/job/perf.md"), ("nosuch",)),
        Case("cli:unknown-command", ("frobnicate",), ("frobnicate",), usage=True),
        Case("eval:ways-not-int", ("eval", "--checkpoint", "{B}/ckpt/good.pt", "--dataset",
                                   "omniglot", "--ways", "five"), ("five",), usage=True),
        # report
        Case("report:store-missing", ("report", "--store", "{B}/job/none.sqlite", "--out",
                                      "{B}/job/out"), ("none.sqlite",)),
        Case("report:store-not-sqlite", ("report", "--store", "{B}/stores/text.sqlite",
                                         "--out", "{B}/job/out"), ("text.sqlite", "SQLite")),
        Case("report:store-truncated", ("report", "--store", "{B}/stores/truncated.sqlite",
                                        "--out", "{B}/job/out"), ("truncated.sqlite",)),
        Case("report:store-empty", ("report", "--store", "{B}/stores/empty.sqlite", "--out",
                                    "{B}/job/out"), ("empty.sqlite",)),
        Case("report:unknown-benchmark", ("report", "--store", "{B}/stores/empty.sqlite",
                                          "--name", "nosuchbench", "--out", "{B}/job/out"),
             ("nosuchbench",)),
        # eval
        Case("eval:checkpoint-missing", _eval("{B}/ckpt/none.pt"), ("none.pt",)),
        Case("eval:checkpoint-truncated", _eval("{B}/ckpt/truncated.pt"), ("truncated.pt",)),
        Case("eval:checkpoint-empty", _eval("{B}/ckpt/empty.pt"), ("empty.pt",)),
        Case("eval:checkpoint-not-a-checkpoint", _eval("{B}/ckpt/text.pt"), ("text.pt",)),
        Case("eval:checkpoint-plain-state-dict", _eval("{B}/ckpt/state_dict.pt"),
             ("state_dict.pt",)),
        Case("eval:checkpoint-other-shape", _eval("{B}/ckpt/rgb32.pt"),
             ("rgb32.pt", "32", "--convert auto")),
        Case("eval:convert-to-another-shape", _eval("{B}/ckpt/good.pt", "--convert",
                                                    "channels=3,size=32"),
             ("3x32x32", "1x28x28")),
        Case("eval:convert-bad-channels", _eval("{B}/ckpt/good.pt", "--convert",
                                                "channels=2,size=28"),
             ("--convert", "channels", "1 (grey) or 3 (RGB)")),
        Case("eval:convert-malformed", _eval("{B}/ckpt/good.pt", "--convert", "grey"),
             ("--convert", "grey")),
        Case("eval:convert-unknown-key", _eval("{B}/ckpt/good.pt", "--convert",
                                               "channels=1,size=28,mode=nearest"),
             ("--convert", "mode")),
        Case("eval:checkpoint-other-backbone", _eval("{B}/ckpt/other_backbone.pt"),
             ("other_backbone.pt", "resnet12")),
        Case("eval:unknown-dataset", _eval("{B}/ckpt/good.pt", dataset="omnigot"), ("omnigot",)),
        Case("eval:unknown-split", _eval("{B}/ckpt/good.pt", "--split", "testing"),
             ("testing",)),
        Case("eval:unknown-head", _eval("{B}/ckpt/good.pt", "--head", "knn"), ("knn",)),
        Case("eval:native-head-on-protonet", _eval("{B}/ckpt/good.pt", "--head", "native"),
             ("native", "protonet")),
        Case("eval:zero-ways", _eval("{B}/ckpt/good.pt", "--ways", "0"), ("way",)),
        Case("eval:ways-over-classes", _eval("{B}/ckpt/good.pt", "--ways", "20", "--split",
                                             "all", dataset="tiny"), ("20",)),
        Case("eval:shots-queries-over-class-size",
             _eval("{B}/ckpt/good.pt", "--shots", "3", "--ways", "3", "--split", "all",
                   dataset="tiny"), ("3",)),
        Case("eval:zero-episodes", _eval("{B}/ckpt/good.pt", "--episodes", "0"), ("episode",)),
        Case("eval:negative-queries", _eval("{B}/ckpt/good.pt", "--queries", "-2"), ("quer",)),
        Case("eval:data-root-under-a-file", _eval("{B}/ckpt/good.pt", "--split", "all",
                                                  "--data-root", "{B}/stores/text.sqlite/d",
                                                  dataset="tiny"), ("tiny",)),
        Case("eval:unknown-device", _eval("{B}/ckpt/good.pt", "--device", "tpu"), ("tpu",)),
        Case("eval:huge-episodes", _eval("{B}/ckpt/good.pt", "--episodes", "100000000000"),
             ("episodes", "at most")),
        Case("eval:huge-ways", _eval("{B}/ckpt/good.pt", "--ways", str(10**12)), ("ways",)),
        Case("eval:huge-queries", _eval("{B}/ckpt/good.pt", "--queries", str(2**63)),
             ("queries",)),
        Case("eval:huge-seed", _eval("{B}/ckpt/good.pt", "--seed", str(10**30)), ("seed",)),
        Case("datasets:prepare-huge-image-size", ("datasets", "prepare", "imagefolder:huge",
                                                  "--source", "{B}/src/imagefolder",
                                                  "--image-size", "1000000", "1000000",
                                                  "--data-root", "{B}/job/data"),
             ("image-size", "4096")),
        Case("run:lease-timeout-zero", (*_run("good"), "--lease-timeout", "0"),
             ("lease-timeout",)),
    ]
    return cases


def _eval(checkpoint: str, *extra: str, dataset: str = "omniglot") -> tuple[str, ...]:
    return ("eval", "--checkpoint", checkpoint, "--dataset", dataset, "--episodes", "2", *extra)


#: Known library bugs (see the reason); strict, so a fix turns them into failures to remove.

CASES = _cases()


def _checkpoints(tree: Path) -> None:
    """good.pt (protonet/conv4 on 1x28x28) and its broken relatives."""
    from benchmark.checkpoint import save_checkpoint
    from benchmark.methods import ModelSpec
    from benchmark.methods import build_method

    folder = tree / "ckpt"
    folder.mkdir()

    def save(name: str, spec: ModelSpec, state: dict) -> Path:
        return save_checkpoint(folder / name, {"model_spec": spec.to_dict(), "model": state,
                                               "step": 0})

    grey = ModelSpec("protonet", "conv4", (1, 28, 28), {})
    torch.manual_seed(0)
    good = save("good.pt", grey, build_method("protonet", "conv4", (1, 28, 28)).state_dict())
    data = good.read_bytes()
    (folder / "truncated.pt").write_bytes(data[: len(data) // 2])
    (folder / "empty.pt").write_bytes(b"")
    (folder / "text.pt").write_text("these are not the weights you are looking for\n")
    torch.save(build_method("protonet", "conv4", (1, 28, 28)).state_dict(),
               folder / "state_dict.pt")
    save("rgb32.pt", ModelSpec("protonet", "conv4", (3, 32, 32), {}),
         build_method("protonet", "conv4", (3, 32, 32)).state_dict())
    save("other_backbone.pt", ModelSpec("protonet", "resnet12", (1, 28, 28), {}),
         torch.load(good, weights_only=True)["model"])


def _sources(tree: Path) -> None:
    """Archives and trees for ``datasets prepare``: truncated, corrupt, empty, valid."""
    src = tree / "src"
    (src / "empty").mkdir(parents=True)
    truncated = src / "omniglot-truncated"
    truncated.mkdir()
    whole = omniglot(src)  # a fake in the official layout: two zips of PNG drawings
    for name in ("images_background.zip", "images_evaluation.zip"):
        data = (whole / name).read_bytes()
        (truncated / name).write_bytes(data[: len(data) // 2])
    corrupt = src / "mnist-corrupt"
    corrupt.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (corrupt / name).write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    for name, mode in (("imagefolder", "L"), ("imagefolder-rgb", "RGB")):
        for c in range(TINY_CLASSES):
            folder = src / name / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(TINY_IMAGES):
                (folder / f"{i}.png").write_bytes(png((28, 28) if mode == "L" else (32, 32),
                                                      mode))


def _stores(tree: Path) -> None:
    from benchmark.store import Store

    stores = tree / "stores"
    stores.mkdir()
    (stores / "text.sqlite").write_text("not a database\n")
    with Store(stores / "empty.sqlite"):
        pass
    data = (stores / "empty.sqlite").read_bytes()
    (stores / "truncated.sqlite").write_bytes(data[:200])


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, dict]:
    """Build the case tree, run every case through the forking driver, return its outcomes."""
    from benchmark.cli import dataset_tools as commands

    tree = tmp_path_factory.mktemp("bad_input_tree")
    logs = tmp_path_factory.mktemp("bad_input_logs")
    data_root = tree / "data"
    (tree / "specs").mkdir()
    (tree / "job").mkdir()
    (tree / "empty-root").mkdir()
    _sources(tree)
    commands.prepare("imagefolder:tiny", tree / "src" / "imagefolder", data_root)
    commands.prepare("imagefolder:rgb", tree / "src" / "imagefolder-rgb", data_root)
    _checkpoints(tree)
    _stores(tree)
    _spec(tree, "good", lambda d: None)
    _spec(tree, "good-tiny", lambda d: d["eval"].update(
        datasets=[{"dataset": "tiny", "split": "all"}], settings=[{"ways": 3, "shots": 1}]))
    for name, edit, _ in SPEC_CASES:
        if isinstance(edit, str):
            _spec(tree, name, text=edit)
        else:
            _spec(tree, name, edit)
    plan = {"root": str(tree), "logs": str(logs), "data": str(data_root), "cases": [
        {"id": c.id,
         "argv": [a.replace("{B}", str(tree)) for a in c.argv],
         "env": {"BENCHMARK_DATA": str(data_root), "HOME": str(tree / "job"),
                 "MPLCONFIGDIR": str(logs / "mpl"),
                 **{k: v.replace("{B}", str(tree)) for k, v in c.env.items()}},
         "cwd": str(tree / "job")} for c in CASES]}
    done = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(plan), text=True,
                          capture_output=True, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return {o["id"]: o for o in json.loads(done.stdout.splitlines()[-1])}


# ------------------------------------------------------------------ the checks


def _check(case: Case, rc: int, out: str, err: str, changed: list[str]) -> None:
    shown = f"rc={rc}\nstdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in out + err, shown
    assert rc == 2, shown
    lines = err.strip().splitlines()
    if case.usage:  # argparse: "usage: ..." synopsis (possibly wrapped), then one error line
        assert lines[0].startswith("usage: benchmark"), shown
        errors = [line for line in lines if ": error: " in line]
        assert len(errors) == 1 and errors[0] == lines[-1], shown
        line = errors[0]
    else:
        assert len(lines) == 1 and lines[0].startswith("error: "), shown
        line = lines[0]
    for word in case.words:
        assert word.lower() in line.lower(), f"{word!r} not named in: {line}"
    assert changed == [], f"files written or changed: {changed}\n{shown}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused(case: Case, outcomes: dict[str, dict]) -> None:
    o = outcomes[case.id]
    _check(case, o["rc"], o["stdout"], o["stderr"], o["changed"])


def test_every_case_has_its_own_outcome() -> None:
    """Case ids are distinct, so no case's outcome hides another's."""
    assert len(CASES) == len({c.id for c in CASES})


@pytest.mark.slow
@pytest.mark.parametrize("case_id", ["run:unknown-top-key", "eval:checkpoint-truncated"])
def test_driver_matches_a_fresh_interpreter(case_id: str, outcomes: dict[str, dict],
                                            tmp_path_factory) -> None:
    """The forked child and a genuine ``python -m benchmark`` give the same result."""
    case = next(c for c in CASES if c.id == case_id)
    o = outcomes[case_id]
    fresh = subprocess.run([sys.executable, "-m", "benchmark", *o["argv"]], env={**os.environ,
                           **o["env"]}, cwd=o["cwd"], capture_output=True, text=True,
                           timeout=300)
    _check(case, fresh.returncode, fresh.stdout, fresh.stderr, [])
    assert (fresh.returncode, fresh.stderr) == (o["rc"], o["stderr"])


# ------------------------------------------------------------------ the driver

DRIVER = r'''
import hashlib, json, os, runpy, signal, sys, traceback
import torch
torch.set_num_threads(1)
import benchmark.cli, benchmark.runner, benchmark.evaluation, benchmark.listing, benchmark.perf
import benchmark.report.render, benchmark.cli.dataset_tools, benchmark.methods, benchmark.samplers

plan = json.load(sys.stdin)
from pathlib import Path
from benchmark.data import load_split
from benchmark.data.embedded import embedded_splits
for split in embedded_splits():  # every child finds them loaded, as a second look would
    load_split("omniglot", split, Path(plan["data"]))

def fingerprint(root):
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    found[path] = hashlib.sha256(handle.read()).hexdigest()
            else:
                found[path] = "dir"
    return found

def child(case, out, err):
    code = 1
    try:
        os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
        os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
        os.environ.update(case["env"])
        os.chdir(case["cwd"])
        sys.argv = ["benchmark", *case["argv"]]
        signal.alarm(120)
        try:
            runpy.run_module("benchmark", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (stop.code is not None)
            if isinstance(stop.code, str):
                print(stop.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

results = []
for i, case in enumerate(plan["cases"]):
    out = os.path.join(plan["logs"], f"{i}.out")
    err = os.path.join(plan["logs"], f"{i}.err")
    before = fingerprint(plan["root"])
    pid = os.fork()
    if pid == 0:
        child(case, out, err)
    _, status = os.waitpid(pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    after = fingerprint(plan["root"])
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    with open(out) as o, open(err) as e:
        results.append(dict(case, rc=rc, stdout=o.read(), stderr=e.read(), changed=changed))
print(json.dumps(results))
'''
