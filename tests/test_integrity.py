"""Rows that cannot lie: a checkpoint is reused only by the job that wrote it, a prepared
dataset is one preparation, a model without usable features is not scored, a report shows
only the rows of the spec that was run, and committed results are never overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from benchmark import runner
from benchmark.checkpoint import load_checkpoint
from benchmark.store import Store

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"


def tiny_spec(folder: Path, edit=lambda data: None, name: str = "spec.yaml") -> Path:
    """tiny.yaml with one method (protonet), one setting, one head, edited by ``edit``."""
    data = yaml.safe_load(TINY.read_text())
    data["methods"] = data["methods"][:1]
    data["eval"]["settings"] = data["eval"]["settings"][:1]
    data["eval"]["heads"] = ["prototype"]
    edit(data)
    path = folder / name
    path.write_text(yaml.safe_dump(data))
    return path


def run(spec: Path, folder: Path, store: str = "store.sqlite", **kwargs) -> Path:
    runner.run_file(spec, store_path=folder / store, runs_dir=folder / "runs",
                    report_dir=folder / "report", device="cpu", **kwargs)
    return folder / store


def test_a_checkpoint_of_another_training_split_is_not_reused(tmp_path: Path) -> None:
    run(tiny_spec(tmp_path), tmp_path, "first.sqlite")
    folder = tmp_path / "runs" / "tiny" / "protonet" / "seed0"
    before = load_checkpoint(folder / "last.pt")["spec"]
    assert before["train_split"] == "background" and before["train_fingerprint"]

    def other_split(data: dict) -> None:
        data["train"]["split"] = "vinyals_train"

    store = run(tiny_spec(tmp_path, other_split), tmp_path, "second.sqlite")  # a new store
    after = load_checkpoint(folder / "last.pt")["spec"]
    assert after["train_split"] == "vinyals_train"
    assert after["spec_hash"] != before["spec_hash"]
    kept = [p for p in folder.parent.iterdir() if p.name.startswith("seed0.stale-")]
    assert len(kept) == 1 and (kept[0] / "last.pt").is_file()  # the old run is kept aside
    with Store(store) as opened:
        rows = opened.results("tiny")
    assert {r.train_split for r in rows} == {"vinyals_train"}
    assert {r.spec_hash for r in rows if r.method == "protonet"} == {after["spec_hash"]}
