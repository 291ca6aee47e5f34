"""Specs: every shipped spec loads; every kind of bad spec is refused with its key path."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from pathlib import Path

import pytest
import yaml

from benchmark.cli import dataset_tools as commands
from benchmark.errors import BenchmarkError
from benchmark.spec.benchmark_spec import load_spec, parse_spec
from benchmark.spec.file import load_specs
from benchmark.train import TrainConfig
from fixtures_data import FAKES

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "tiny.yaml"
SHIPPED = sorted((ROOT / "tasks").glob("*.yaml"))
ABLATIONS = sorted((ROOT / "tasks" / "ablations").glob("*.yaml"))
REPRODUCE = sorted((ROOT / "tasks" / "reproduce").glob("*.yaml"))


def tiny() -> dict:
    return yaml.safe_load(TINY.read_text())


@pytest.mark.parametrize("path", SHIPPED + ABLATIONS, ids=lambda p: p.name)
def test_shipped_specs_load(path: Path) -> None:
    for spec in load_specs(path):
        assert spec.methods and spec.eval.datasets and spec.eval.settings
        assert all(len(spec.job_hash(label)) == 16 for label in spec.labels)


@pytest.mark.parametrize("path", REPRODUCE, ids=lambda p: p.name)
def test_reproduce_specs_load_and_follow_their_recipes(path: Path) -> None:
    """Every published-recipe spec loads, trains on Omniglot and is tested on the Vinyals test
    characters in the four settings. Specs with a meta-batch need the trainer setting
    ``meta_batch`` (another branch adds it): until it exists they are skipped, not dropped."""
    if "meta_batch:" in path.read_text() and "meta_batch" not in {f.name for f in dataclasses.fields(TrainConfig)}:
        pytest.skip("needs trainer.meta_batch")
    for spec in load_specs(path):
        assert spec.train.dataset == "omniglot"
        assert {(d.dataset, d.split) for d in spec.eval.datasets} == {("omniglot", "vinyals_test")}
        assert {(s.ways, s.shots) for s in spec.eval.settings} == {(5, 1), (5, 5), (20, 1), (20, 5)}


def test_tiny_spec_resolves_defaults() -> None:
    spec = load_spec(TINY)
    assert spec.name == "tiny" and spec.seeds == (0,) and spec.device == "cpu"
    protonet = spec.method("protonet")
    assert protonet.trainer.steps == 2 and protonet.trainer.checkpoint_every == 1
    assert protonet.trainer.momentum == TrainConfig().momentum
    assert spec.eval.heads == ("prototype", "prototype_cosine")
    assert spec.floors == {"random": "conv4"}
    assert spec.labels == ("random", "protonet", "protoclr")


def test_a_costly_head_can_take_the_first_of_the_episodes() -> None:
    data = tiny()
    data["eval"]["head_episodes"] = {"prototype": 2}
    spec = parse_spec(data)
    assert spec.eval.episodes_for("prototype") == 2
    assert spec.eval.episodes_for("logistic") == spec.eval.episodes
    assert spec.job_hash("protonet") == parse_spec(tiny()).job_hash("protonet")  # no retraining


def test_method_trainer_overrides_defaults() -> None:
    data = tiny()
    data["methods"][0]["trainer"] = {"steps": 7, "lr": 0.01}
    spec = parse_spec(data)
    assert spec.method("protonet").trainer.steps == 7
    assert spec.method("protonet").trainer.lr == 0.01
    assert spec.method("protoclr").trainer.steps == 2


def test_spec_is_frozen_and_picklable() -> None:
    spec = load_spec(TINY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_hash_is_canonical_and_job_hash_is_local() -> None:
    spec = load_spec(TINY)
    spelled = tiny()
    spelled["eval"]["episodes"] = 4
    spelled["trainer"]["momentum"] = TrainConfig().momentum
    spelled["methods"][0]["label"] = "protonet"
    assert all(parse_spec(spelled).job_hash(label) == spec.job_hash(label)
               for label in spec.labels)
    changed = spec.with_overrides({"methods[1].params.temperature": 0.1})
    assert changed.method("protoclr").params["temperature"] == 0.1
    assert changed.job_hash("protonet") == spec.job_hash("protonet")
    assert changed.job_hash("protoclr") != spec.job_hash("protoclr")
    more_seeds = spec.with_overrides({"seeds": [0, 1, 2]})
    assert more_seeds.job_hash("protonet") == spec.job_hash("protonet")


def test_sweep_expands_a_grid(tmp_path: Path) -> None:
    (tmp_path / "sweep.yaml").write_text(
        f"base: {TINY}\nname: tinysweep\n"
        "sweep:\n  methods[1].params.temperature: [0.1, 0.5]\n  eval.queries: [2, 3]\n")
    specs = load_specs(tmp_path / "sweep.yaml")
    assert len(specs) == 4
    assert len({s.name for s in specs}) == 4 and all(s.name.startswith("tinysweep.") for s in specs)
    assert {(s.method("protoclr").params["temperature"], s.eval.queries) for s in specs} == {
        (0.1, 2), (0.1, 3), (0.5, 2), (0.5, 3)}


def _set(data: dict, path: list, value) -> dict:
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


_DELETE = object()

BAD = [
    # (key path in data, value, key path in the message, words in the message)
    (["colour"], "red", "colour", "unknown key"),
    (["methods", 0, "lr"], 0.1, "methods[0].lr", "unknown key"),
    (["eval", "sets"], [], "eval.sets", "unknown key"),
    (["methods", 0, "ways"], "five", "methods[0].ways", "expected an integer"),
    (["methods", 0, "ways"], True, "methods[0].ways", "expected an integer"),
    (["methods", 0, "shots"], 0, "methods[0].shots", "≥ 1"),
    (["methods", 0, "sampler"], "foo", "methods[0].sampler",
     "unknown sampler 'foo' (known: augment, labels, patches, temporal)"),
    (["methods", 0, "source"], "labels", "methods[0].source", "renamed to 'sampler'"),
    (["methods", 0, "sampler"], {"rotations": True}, "methods[0].sampler",
     "sampler options go under 'sampler_options'"),
    (["methods", 1, "method"], "mystery", "methods[1].method", "unknown method 'mystery'"),
    (["methods", 1, "backbone"], "vit", "methods[1].backbone", "unknown backbone 'vit'"),
    (["methods", 0, "params"], [1, 2], "methods[0].params", "expected a mapping"),
    (["methods", 0, "trainer", ], {"steps": -1}, "methods[0].trainer.steps", "≥ 1"),
    (["methods", 0, "label"], "protoclr", "methods[1].label", "used twice"),
    (["methods", 0, "label"], "random", "methods[0].label", "floor"),
    (["methods", 0, "method"], _DELETE, "methods[0].method", "required"),
    (["methods"], [], "methods", "non-empty list"),
    (["methods"], {"a": 1}, "methods", "expected a list"),
    (["trainer", "optimizer"], "lbfgs", "trainer.optimizer", "unknown optimizer 'lbfgs'"),
    (["trainer", "schedule"], "linear", "trainer.schedule", "unknown schedule 'linear'"),
    (["trainer", "lr"], "fast", "trainer.lr", "expected a number"),
    (["trainer", "momentum"], 1.5, "trainer.momentum", "[0, 1)"),
    (["trainer", "lr"], float("inf"), "trainer.lr", "expected a finite number, got inf"),
    (["methods", 0, "trainer"], {"nesterov": True, "momentum": 0},
     "methods[0].trainer.nesterov", "needs momentum > 0"),
    (["train", "dataset"], "imagenet21k", "train.dataset", "unknown dataset 'imagenet21k'"),
    (["train", "split"], "training", "train.split", "has no split 'training'"),
    (["train", "split"], _DELETE, "train.split", "required"),
    (["eval", "datasets", 0, "dataset"], "nope", "eval.datasets[0].dataset", "unknown dataset"),
    (["eval", "datasets", 0, "split"], "test", "eval.datasets[0].split", "no split 'test'"),
    (["eval", "settings", 0, "ways"], 1, "eval.settings[0].ways", "≥ 2"),
    (["eval", "settings", 1], {"ways": 5, "shots": 1}, "eval.settings", "same entry twice"),
    (["eval", "heads"], ["prototype", "knn"], "eval.heads[1]", "unknown head 'knn'"),
    (["eval", "episodes"], 1, "eval.episodes", "≥ 2"),
    (["eval", "seed"], -1, "eval.seed", "≥ 0"),
    (["eval", "datasets", 0, "rotations"], "yes", "eval.datasets[0].rotations",
     "expected true or false"),
    (["methods", 0, "train_split"], 3, "methods[0].train_split", "expected a non-empty string"),
    (["eval", "head_episodes"], {"finetune": 10}, "eval.head_episodes", "not one of eval.heads"),
    (["eval", "head_episodes"], {"prototype": 10 ** 9}, "eval.head_episodes", "whole number in 2.."),
    (["eval", "head_episodes"], {"prototype": "few"}, "eval.head_episodes", "whole number"),
    (["seeds"], 3, "seeds", "expected a list"),
    (["seeds"], [0, 0], "seeds", "same seed twice"),
    (["device"], "tpu", "device", "expected one of auto, cpu, cuda"),
    (["name"], "has space", "name", "plain name"),
    (["description"], ["a"], "description", "expected a string"),
]


@pytest.mark.parametrize("path, value, where, words", BAD, ids=[b[2] for b in BAD])
def test_bad_spec_is_refused_with_key_path(tmp_path: Path, path, value, where, words) -> None:
    spec_file = tmp_path / "bad.yaml"
    value = value if value is _DELETE else copy.deepcopy(value)
    spec_file.write_text(yaml.safe_dump(_set(tiny(), path, value)))
    with pytest.raises(BenchmarkError) as err:
        load_spec(spec_file)
    message = str(err.value)
    assert message.startswith(f"{spec_file}: {where}: "), message
    assert words in message and "\n" not in message


def test_rotations_of_an_eval_split_need_square_images(tmp_path: Path) -> None:
    """Rotations as classes turn images by 90°: a split of 10x12 images is refused."""
    commands.prepare("imagefolder:oblong", FAKES["imagefolder"](tmp_path), tmp_path / "root")
    data = tiny()
    data["eval"]["datasets"] = [{"dataset": "oblong", "split": "test", "rotations": True}]
    with pytest.raises(BenchmarkError, match=r"eval.datasets\[0\].rotations: rotations need "
                                             r"square images, 'oblong' has \d+x\d+"):
        parse_spec(data, tmp_path / "spec.yaml", data_root=tmp_path / "root")


@pytest.mark.parametrize("text, words", [
    ("name: [unclosed\n", "malformed YAML at line"),
    ("name: a\n  bad: indent\n", "malformed YAML"),
    ("", "expected a mapping"),
    ("- a\n- b\n", "expected a mapping"),
])
def test_malformed_files_are_refused(tmp_path: Path, text: str, words: str) -> None:
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(text)
    with pytest.raises(BenchmarkError, match=words) as err:
        load_spec(spec_file)
    assert str(err.value).startswith(str(spec_file)) and "\n" not in str(err.value)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="spec file not found"):
        load_spec(tmp_path / "none.yaml")


def test_bad_overrides_are_refused() -> None:
    spec = load_spec(TINY)
    with pytest.raises(BenchmarkError, match=r"methods\[5\].ways: no list entry"):
        spec.with_overrides({"methods[5].ways": 3})
    with pytest.raises(BenchmarkError, match=r"methods\[0\].ways: expected an integer"):
        spec.with_overrides({"methods[0].ways": "x"})
    with pytest.raises(BenchmarkError, match="malformed override path"):
        spec.with_overrides({"methods[0]..ways": 3})


@pytest.mark.parametrize("key", ["seed", "device", "progress", "tensorboard", "log_every"])
def test_trainer_keys_are_the_train_config_fields_a_spec_may_set(key: str) -> None:
    """A spec's trainer: sections are read from TrainConfig's own fields, less the run's."""
    data = tiny()
    data["trainer"][key] = TrainConfig.__dataclass_fields__[key].default
    with pytest.raises(BenchmarkError, match=rf"trainer.{key}: unknown key \(allowed: steps, "):
        parse_spec(data)


def test_train_config_of_a_run_is_the_method_trainer_with_seed_and_device() -> None:
    """What the runner trains with: the spec's trainer settings, then the run's seed and device;
    everything the spec leaves out is TrainConfig's default."""
    method = load_spec(TINY).method("protonet")
    config = method.train_config(seed=3, device="cpu")
    assert config == TrainConfig(steps=2, optimizer="adam", lr=0.001, checkpoint_every=1,
                                 seed=3, device="cpu")


# ---------------------------------------------------------------- YAML 1.2 numbers, overrides


@pytest.mark.parametrize("text, number", [
    ("1e-3", 0.001), ("1E3", 1000.0), (".5", 0.5), ("+1", 1), ("0x1F", 31), ("0o17", 15),
    ("-1.5e+2", -150.0), ("2.", 2.0), (".inf", float("inf")), ("-.inf", float("-inf")),
])
def test_yaml_12_numbers_are_numbers_in_files_and_set(tmp_path: Path, text: str,
                                                      number: float) -> None:
    from benchmark.cli import parse_set
    from benchmark.spec.yaml_file import read_yaml

    path = tmp_path / "n.yaml"
    path.write_text(f"lr: {text}\n")
    assert read_yaml(path)["lr"] == number and not isinstance(read_yaml(path)["lr"], str)
    assert parse_set([f"trainer.lr={text}"]) == {"trainer.lr": number}


def test_a_spec_file_takes_lr_1e_minus_3(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(TINY.read_text().replace("lr: 0.001", "lr: 1e-3"))
    assert load_spec(path).method("protonet").trainer.lr == 0.001
    assert load_spec(TINY).with_overrides({"trainer.lr": 1e-4}).method("protoclr").trainer.lr == 1e-4


def test_not_numbers_stay_text() -> None:
    from benchmark.spec.yaml_file import parse_value

    assert [parse_value(t) for t in ("1e", "e3", "protonet", "0o8")] == ["1e", "e3", "protonet", "0o8"]


def test_wildcard_and_label_overrides_reach_their_methods() -> None:
    data = tiny()
    data["methods"][0]["trainer"] = {"steps": 7}
    spec = parse_spec(data)
    every = spec.with_overrides({"methods[*].trainer.steps": 20})
    assert [m.trainer.steps for m in every.methods] == [20, 20]
    one = spec.with_overrides({"methods[protoclr].trainer.steps": 9, "methods[protonet].ways": 4})
    assert [m.trainer.steps for m in one.methods] == [7, 9]
    assert one.method("protonet").ways == 4
    with pytest.raises(BenchmarkError, match=r"no entry labelled 'simclr' here \(labels: "
                                             r"protonet, protoclr"):
        spec.with_overrides({"methods[simclr].trainer.steps": 1})


def test_a_shadowed_override_is_said_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    data = tiny()
    data["methods"][0]["trainer"] = {"steps": 7}
    spec = parse_spec(data)
    got = spec.with_overrides({"trainer.steps": 20})
    assert [m.trainer.steps for m in got.methods] == [7, 20]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["warning: tiny: override trainer.steps=20 is shadowed by "
                   "methods[protonet].trainer.steps (7), which the spec sets; use "
                   "methods[*].trainer.steps=... to set it for every method"]
    spec.with_overrides({"trainer.lr": 0.1, "methods[*].trainer.steps": 3})
    assert capsys.readouterr().err == ""


def test_narrowing_the_heads_drops_their_episode_counts_and_says_so(capsys) -> None:
    data = tiny()
    data["eval"].update(heads=["prototype", "logistic", "finetune"], head_episodes={"finetune": 2})
    spec = parse_spec(data)
    narrowed = spec.with_overrides({"eval.heads": ["prototype"]})
    assert narrowed.eval.heads == ("prototype",) and dict(narrowed.eval.head_episodes) == {}
    assert capsys.readouterr().err == ("warning: tiny: eval.head_episodes of finetune dropped: "
                                       "no longer in eval.heads or a method's heads after the "
                                       "overrides\n")
    kept = spec.with_overrides({"eval.heads": ["prototype", "finetune"]})
    assert dict(kept.eval.head_episodes) == {"finetune": 2} and capsys.readouterr().err == ""
    with pytest.raises(BenchmarkError, match="head 'finetune' is not one of eval.heads"):
        spec.with_overrides({"eval.heads": ["prototype"], "eval.head_episodes": {"finetune": 2}})


def test_run_overrides_take_wildcards_and_labels() -> None:
    from benchmark.runner.driver import load_run

    _, (spec,) = load_run(TINY, overrides={"methods[*].trainer.steps": 5,
                                           "methods[protoclr].ways": 4})
    assert [m.trainer.steps for m in spec.methods] == [5, 5] and spec.method("protoclr").ways == 4
    with pytest.raises(BenchmarkError, match="no entry labelled 'simclr'"):
        load_run(TINY, overrides={"methods[simclr].ways": 4})
