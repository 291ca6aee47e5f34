"""``perf accuracy``: minutes to reach 85/88/90/95/98% validation accuracy, from tiny stores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.store import Store
from fixtures_data import record, write_metrics


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store.sqlite"
    fast = write_metrics(tmp_path / "runs" / "protonet", [   # resumed after step 2
        (1, 60, 0.91), (2, 120, None), (3, 30, 0.96), (4, 90, 0.97)])
    slow = write_metrics(tmp_path / "runs" / "simclr", [(1, 120, 0.80), (2, 240, 0.85)])
    with Store(path) as opened:
        opened.set_run(replace(record(fast, steps=4), precision="bfloat16"))
        opened.set_run(record(slow, method="simclr", steps=2))
        opened.set_run(record(tmp_path / "runs" / "protoclr", method="protoclr", steps=2))
        opened.set_run(replace(record(slow, method="simclr", seed=1), status="running",
                               checkpoint=str(slow)))  # a run under way: its folder
    return path


def _rows(text: str) -> dict[tuple[str, ...], list[str]]:
    """The table's rows by (method, seed[, store]), each split into its cells."""
    lines = [line.split(" | ") for line in text.splitlines() if line.startswith("| ")]
    header = [cell.strip("| ") for cell in lines[0]]
    keys = [header.index(k) for k in ("method", "seed", "store") if k in header]
    return {tuple(cells[k].strip("| ") for k in keys): dict(zip(header, (c.strip("| ") for c in cells)))
            for cells in lines[1:]}


def test_minutes_to_each_threshold_or_not_reached(store: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "perf.md"
    assert main(["perf", "accuracy", "--benchmark", "synth", "--store", str(store),
                 "--out", str(out)]) == 0
    text = out.read_text()
    rows = _rows(text)
    reached = [f"min to {t}%" for t in (85, 88, 90, 95, 98)]
    protonet = rows["protonet", "0"]
    assert [protonet[k] for k in reached] == ["1.0", "1.0", "1.0", "2.5", "not reached"]  # clock continued
    assert [protonet[k] for k in ("best val (step)", "steps", "training min", "steps/s")] == [
        "97.0% (4)", "4", "3.5", f"{4 / 210:.2f}"]
    assert protonet["precision"] == "bfloat16"  # the run record's: what its steps ran in
    assert [rows["simclr", "0"][k] for k in reached] == ["4.0"] + ["not reached"] * 4
    assert rows["simclr", "0"]["precision"] == "not recorded"  # a run stored before schema 8
    assert rows["simclr", "1"]["status"] == "running" and rows["simclr", "1"]["best val (step)"] == "85.0% (2)"
    assert [rows["protoclr", "0"][k] for k in reached] == ["–"] * 5
    assert "protoclr seed 0: no metrics.csv" in text
    assert "torch threads" in text and "cores" in text and "--benchmark synth" in text
    assert "| protonet | 0 | done | cpu | bfloat16 | 1.0 |" in capsys.readouterr().out


def test_several_stores_are_one_table_with_a_store_column(store: Path, tmp_path: Path) -> None:
    other = tmp_path / "float32.sqlite"
    folder = write_metrics(tmp_path / "runs32" / "protonet", [(1, 600, 0.90), (2, 1200, 0.99)])
    with Store(other) as opened:
        opened.set_run(replace(record(folder, steps=2), precision="float32"))
    out = tmp_path / "perf.md"
    assert main(["perf", "accuracy", "--benchmark", "synth", "--store", str(store), "--store",
                 str(other), "--out", str(out)]) == 0
    text = out.read_text()
    rows = _rows(text)
    assert rows["protonet", "0", str(store)]["min to 98%"] == "not reached"
    assert rows["protonet", "0", str(other)]["min to 98%"] == "20.0"
    assert rows["protonet", "0", str(other)]["precision"] == "float32"
    assert f"--store {store} --store {other} --out {out}" in text
    assert main(["perf", "accuracy", "--benchmark", "synth", "--store", str(store), "--store",
                 str(tmp_path / "nosuch.sqlite")]) == 2  # every store must exist


@pytest.mark.parametrize("argv, message", [
    (["--benchmark", "nosuch"], "no runs of benchmark 'nosuch'"),
    ([], "needs --benchmark"),
    (["--benchmark", "synth", "--data-root", "x"], "perf accuracy takes no --data-root"),
])
def test_bad_input_is_one_error_line(store: Path, argv: list[str], message: str,
                                     capsys) -> None:
    assert main(["perf", "accuracy", "--store", str(store), *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("error: ") and message in captured.err


def test_a_speed_script_refuses_a_store_option(capsys) -> None:
    assert main(["perf", "step", "--benchmark", "quick"]) == 2
    assert capsys.readouterr().err == "error: perf step takes no --benchmark\n"


@pytest.mark.parametrize("flags, said", [
    ([], "AMX (amx_bf16) no, AVX512-BF16 (avx512_bf16) no"),
    (["avx512_bf16"], "AMX (amx_bf16) no, AVX512-BF16 (avx512_bf16) yes"),
    (["amx_bf16", "amx_tile", "avx512_bf16"], "AMX (amx_bf16) yes, AVX512-BF16 (avx512_bf16) yes"),
])
def test_a_perf_file_states_where_and_how_it_was_made(store: Path, tmp_path: Path, monkeypatch,
                                                      flags: list[str], said: str) -> None:
    """Every perf file's heading (``report.perf_page.heading``, shared by perf sampler, step,
    maml and accuracy): command, commit, CPU model, its bfloat16 instructions, threads, torch."""
    import torch

    from benchmark import provenance

    monkeypatch.setattr(provenance, "cpu_bf16_features", lambda: flags)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    out = tmp_path / "perf.md"
    assert main(["perf", "accuracy", "--benchmark", "synth", "--store", str(store),
                 "--out", str(out)]) == 0
    head = dict(line[2:].split(": ", 1) for line in out.read_text().splitlines()[2:6])
    assert head["command"] == (f"`python -m benchmark perf accuracy --benchmark synth "
                               f"--store {store} --out {out}`")
    assert head["commit"].startswith(provenance.commit() + ", ")
    assert provenance.machine(3).split(", load average")[0] in head["machine"]  # CPU model, cores
    assert "torch threads 3" in head["machine"] and head["machine"].endswith(said)
    assert '"torch":"' in head["versions"]
