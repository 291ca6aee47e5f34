"""Time to accuracy: validation curves from metrics.csv (resumed runs too), the rising/flat rule,
the budget header, the published-vs-ours matching and the rendered files' names."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import shutil

import numpy as np
import pandas as pd
import pytest

from benchmark.report import published, tables, time_to_accuracy
from benchmark.report.curves import (Curve, benchmark_curves, continuous_seconds, log_curve,
                                     read_curve)
from benchmark.report.header import budget_lines, duration, precision_line, training_precision_line
from benchmark.report.render import render_store
from benchmark.samplers import supervision_of
from benchmark.store import Store
from fixtures_data import record, row, synthetic_rows, write_metrics


def curve(val_acc: list[float], method: str = "m", seed: int = 0) -> Curve:
    n = len(val_acc)
    return Curve(method, seed, tuple(range(1, n + 1)), tuple(float(i) for i in range(1, n + 1)),
                 tuple(val_acc), n, float(n))


# ---------------------------------------------------------------- curves


def test_a_resumed_runs_clock_is_continued_where_it_restarted() -> None:
    assert continuous_seconds([1.0, 2.0, 3.0, 0.5, 1.5, 0.2]) == [1.0, 2.0, 3.0, 3.5, 4.5, 4.7]
    assert continuous_seconds([1.0, 2.0, 2.5]) == [1.0, 2.0, 2.5]


def test_curve_of_a_run_resumed_in_a_second_sitting(tmp_path: Path) -> None:
    # sitting 1: steps 1-3 (60 s each), killed after the checkpoint at 3; sitting 2 restarts at 0
    folder = write_metrics(tmp_path / "seed0", [
        (1, 60, None), (2, 120, 0.5), (3, 180, None),
        (4, 30, 0.7), (5, 90, None), (6, 150, 0.9)])
    got = read_curve(record(folder))
    assert got.steps == (2, 4, 6) and got.val_acc == (0.5, 0.7, 0.9)
    assert got.minutes == pytest.approx((2.0, 3.5, 5.5))
    assert got.total_minutes == pytest.approx(5.5) and got.total_steps == 6 and not got.missing
    assert got.steps_per_second == pytest.approx(6 / 330)


def test_curve_of_a_run_whose_clock_the_trainer_continued(tmp_path: Path) -> None:
    folder = write_metrics(tmp_path / "seed0", [(1, 60, 0.5), (2, 120, None), (3, 185, 0.8)])
    got = read_curve(record(folder, checkpoint="last.pt", steps=3))
    assert got.minutes == pytest.approx((1.0, 185 / 60)) and got.val_acc == (0.5, 0.8)


def test_runs_without_validation_or_log_have_no_curve_and_say_why(tmp_path: Path) -> None:
    plain = read_curve(record(write_metrics(tmp_path / "a", [(1, 60, None), (2, 120, None)])))
    assert plain.steps == () and "no validation" in plain.missing
    assert plain.total_minutes == pytest.approx(2.0)
    absent = read_curve(record(tmp_path / "b", wall=90))
    assert absent.steps == () and "no metrics.csv" in absent.missing
    assert absent.total_minutes == pytest.approx(1.5)  # the run record's wall time
    damaged = write_metrics(tmp_path / "c", [(1, 60, None)])
    (damaged / "metrics.csv").write_text("step,seconds,val_acc\n1,60,0.5\n2,x,0.6\n")
    assert "is not a metrics log we can read" in read_curve(record(damaged)).missing
    (damaged / "metrics.csv").write_bytes(b"step,seconds\n\xff\xfe1,2\n")
    assert "is not a metrics log we can read" in read_curve(record(damaged)).missing


def test_benchmark_curves_follow_the_stores_finished_runs(tmp_path: Path) -> None:
    folder = write_metrics(tmp_path / "seed0", [(1, 60, 0.5), (2, 120, 0.6)])
    with Store(tmp_path / "store.sqlite") as store:
        store.set_run(record(folder, seed=1))
        store.set_run(record(folder, seed=0))
        store.set_run(replace(record(folder, method="simclr"), status="running"))
        got = benchmark_curves(store, "synth")
    assert [(c.method, c.seed) for c in got] == [("protonet", 0), ("protonet", 1)]


def test_a_finished_runs_curve_is_read_from_the_store_and_only_for_its_configuration(
        tmp_path: Path) -> None:
    """Stored with its rows, a finished run's curve needs no run folder; a stored curve of
    another configuration (the run since retrained) is not the run's, and a running run's is
    the one its log is writing."""
    folder = write_metrics(tmp_path / "seed0", [(1, 60, 0.5), (2, 120, None), (3, 180, 0.6)])
    done = record(folder, steps=3)
    stored = log_curve(done)
    assert stored.steps == (1, 3) and stored.total_seconds == 180 and stored.total_steps == 3
    with Store(tmp_path / "store.sqlite") as store:
        store.set_run(done)
        store.set_curve(stored)
        store.set_run(record(folder, seed=1))
        store.set_curve(replace(stored, seed=1, spec_hash="another configuration"))
        store.set_run(replace(record(folder, seed=2), status="running"))
        store.set_curve(replace(stored, seed=2, val_acc=(0.1, 0.2)))
        shutil.rmtree(folder)
        got = benchmark_curves(store, "synth", ("done", "running"))
    assert got[0].val_acc == (0.5, 0.6) and got[0].minutes == pytest.approx((1.0, 3.0))
    assert got[0].total_minutes == pytest.approx(3.0) and not got[0].missing
    assert [(c.steps, c.missing.split(" at ")[0]) for c in got[1:]] == [
        ((), "no metrics.csv"), ((), "no metrics.csv")]


# ---------------------------------------------------------------- rules


@pytest.mark.parametrize("accs, state", [
    ([0.50, 0.60, 0.70], "rising"),          # last third +10 points over the best before
    ([0.50, 0.80, 0.803], "flat"),           # +0.3 points: within the rule's 0.5
    ([0.50, 0.90, 0.85, 0.80, 0.89, 0.88], "flat"),  # fell back: no gain over 0.90
    ([0.5, 0.6, 0.7, 0.8, 0.9, 0.95], "rising"),
    ([0.7], "undetermined"),
])
def test_rising_or_flat(accs: list[float], state: str) -> None:
    assert time_to_accuracy.trend(accs)[0] == state


def test_minutes_to_reach_is_the_first_validation_at_the_target() -> None:
    c = curve([0.85, 0.93, 0.91, 0.96])
    assert time_to_accuracy.minutes_to_reach(c, 0.90) == 2.0
    assert time_to_accuracy.minutes_to_reach(c, 0.95) == 4.0
    assert time_to_accuracy.minutes_to_reach(c, 0.98) is None


def test_markdown_says_per_method_whether_rising_and_the_budget() -> None:
    lines = time_to_accuracy.markdown_lines(
        [curve([0.5, 0.6, 0.7], "protonet"), curve([0.8, 0.8, 0.8], "simclr"),
         replace(curve([], "protoclr"), missing="no validation")], "synth/t.png",
        order=("simclr", "protonet"))
    text = "\n".join(lines)
    assert "synth/t.png" in text and time_to_accuracy.RULE in text
    methods = [line.split("**")[1] for line in lines if line.startswith("- **")]
    assert methods == ["simclr", "protonet", "protoclr"]
    assert "seed 0: rising, last third +10.00 points" in text and "seed 0: flat" in text
    assert "no curve (no validation)" in text and "3 steps, 3.0 training min per run, 1 seed" in text


# ---------------------------------------------------------------- header


def test_budget_lines_name_devices_wall_time_and_steps() -> None:
    rows = [row("protonet", 1, np.full(4, 0.9), steps=400, eval_seconds=30.0),
            row("protonet", 1, np.full(4, 0.9), seed=1, steps=400, eval_seconds=30.0),
            row("random", 1, np.full(4, 0.3), steps=0, eval_seconds=15.0, device="cuda:0")]
    got = budget_lines(rows, [replace(curve([0.5]), total_minutes=2.0, device="cpu",
                                      precision="bfloat16")])
    assert got[0] == "device(s): cpu, cuda:0"
    assert got[1] == ("wall time: training 2 min 00 s (1 run(s)), evaluation 1 min 15 s "
                      "(3 row(s)), total 3 min 15 s")
    assert got[2] == "budget: protonet 400 steps × 2 seeds; random 0 steps × 1 seed"
    assert got[3:] == ["training precision: bfloat16", "evaluation precision: float32"]
    assert budget_lines(rows, [])[3:] == ["evaluation precision: float32"]  # nothing trained
    assert training_precision_line([replace(curve([0.5], "protonet"), precision="float32"),
                                    curve([0.5], "simclr")]) == (
        "training precision: float32 (protonet); not recorded (simclr)")
    mixed = [replace(rows[0], eval_precision="bfloat16"), *rows[1:]]
    assert precision_line(mixed) == ("evaluation precision: bfloat16 (protonet); "
                                     "float32 (protonet, random)")
    assert duration(3725) == "1 h 02 min" and duration(42) == "42 s"


# ---------------------------------------------------------------- published vs ours


def vinyals_table(methods: dict[str, str], shots: tuple[int, ...] = (1, 5)) -> tables.TransferTable:
    rows = [row(label, k, np.full(10, 0.9), eval_split="vinyals_test",
                train_split="vinyals_train", method_name=name)
            for label, name in methods.items() for k in shots]
    return tables.build_table(rows, "synth")


def test_published_numbers_match_by_family_supervision_and_setting() -> None:
    labels = {"protonet": "protonet", "clr": "protoclr", "sim": "simclr", "tri": "triplet"}
    table = vinyals_table(labels)
    got = published.compare(table, {m: (n, "conv4") for m, n in labels.items()})
    by_cell: dict[tuple[str, str], list[published.Comparison]] = {}
    for c in got:
        by_cell.setdefault((c.ours, c.setting), []).append(c)
    five_one = "omniglot/vinyals_test 5w1s prototype"
    proto = by_cell["protonet", five_one]
    assert [(c.published.method, c.same_method) for c in proto] == [("ProtoNet", True)]
    assert proto[0].gap == pytest.approx(90.0 - 98.8)
    clr = by_cell["clr", five_one]
    assert clr[0].same_method and clr[0].published.method == "ProtoTransfer (ProtoCLR)"
    assert {c.published.method for c in clr[1:]} == {"UMTRA", "C3LR", "Meta-GMVAE", "PsCo"}
    assert not any(c.same_method for c in clr[1:])
    sim = by_cell["sim", five_one]
    assert len(sim) == 5 and not any(c.same_method for c in sim)
    assert not any(c.ours == "tri" for c in got)  # a method of no known supervision: nothing
    text = "\n".join(published.markdown_lines(got))
    assert "| protonet | omniglot/vinyals_test 5w1s prototype | 90.00 ± 0.00 | ProtoNet | 98.8 " \
           "| -8.80 | same method; paper tests rotations as classes too | Snell et al. 2017 |" \
           in text


def test_a_comparison_says_where_our_test_episodes_are_not_the_papers() -> None:
    """Snell et al. test on rotations as classes: our ``+rotations`` cell is compared as the
    same protocol, the plain cell with the difference said; UMTRA's protocol is unverified."""
    rows = [row("protonet", 1, np.full(10, 0.9), eval_split=split, train_split="vinyals_train",
                method_name="protonet")
            for split in ("vinyals_test", "vinyals_test+rotations")]
    got = published.compare(tables.build_table(rows, "synth"), {"protonet": ("protonet", "conv4")})
    assert {c.setting.split()[0]: c.protocol for c in got} == {
        "omniglot/vinyals_test": "paper tests rotations as classes too",
        "omniglot/vinyals_test+rotations": ""}
    umtra = next(p for p in published.PUBLISHED if p.family == "umtra")
    assert umtra.protocol_note("vinyals_test+rotations") == "paper's test rotations not verified"


def test_no_published_number_for_another_split_backbone_or_head() -> None:
    labels = {"protonet": "protonet"}
    table = vinyals_table(labels)
    assert published.compare(table, {"protonet": ("protonet", "resnet12")}) == []
    other = tables.build_table(synthetic_rows(), "synth")  # omniglot/evaluation
    assert published.compare(other, {"protonet": ("protonet", "conv4")}) == []
    text = "\n".join(published.markdown_lines([]))
    assert "No cell of this benchmark has a published number" in text
    assert "omniglot/vinyals_test conv4" in text


def test_every_published_setting_is_unique() -> None:
    keys = [(p.family, p.eval_dataset, p.eval_split, p.ways, p.shots, p.head)
            for p in published.PUBLISHED]
    assert len(keys) == len(set(keys)) and len(keys) == 24


def test_maml_fomaml_and_umtra_match_by_the_supervision_and_variant_their_rows_store(
        tmp_path: Path) -> None:
    """MAML on labelled episodes is MAML, first-order MAML on them first-order MAML (MAML
    beside it a reference), MAML on augmented views UMTRA: the rows say which, so the report
    that ``benchmark report`` renders from the store alone (no spec) matches each; rows older
    than the supervision column, with no spec beside them, match nothing."""
    samplers = {"maml": "labels", "fomaml": "labels", "umtra": "augment"}
    rows = [row(label, k, np.full(10, 0.9), eval_split="vinyals_test", head="native",
                train_split="vinyals_train", method_name="maml",
                supervision=supervision_of(sampler),
                variant="first_order" if label == "fomaml" else "")
            for label, sampler in samplers.items() for k in (1, 5)]
    with Store(tmp_path / "store.sqlite") as store:
        store.put_results(rows)
    render_store(tmp_path / "store.sqlite", out_dir=tmp_path / "out", benchmark_name="synth")
    md = (tmp_path / "out" / "synth.md").read_text()
    section = md.split("### Published vs ours")[1].split("\n### ")[0]
    same = {(cells[1], cells[4]) for line in section.splitlines()
            if line.startswith("| ") and "same method" in line for cells in [[c.strip() for c in line.split("|")]]}
    assert same == {("maml", "MAML"), ("fomaml", "first-order MAML"), ("umtra", "UMTRA")}
    assert "| fomaml | omniglot/vinyals_test 5w1s native | 90.00 ± 0.00 | MAML | 98.7 | -8.70 " \
           "| reference; paper tests rotations as classes too |" in section
    table = tables.build_table(rows, "synth")
    methods = {label: ("maml", "conv4") for label in samplers}
    assert published.compare(table, methods, supervision=published.trained_with(rows))
    old = [replace(r, supervision="") for r in rows]
    assert published.trained_with(old) == {}
    assert published.compare(table, methods, supervision=published.trained_with(old)) == []
    assert published.trained_with(old, {"umtra": "none"}) == {"umtra": "none"}  # the spec's


# ---------------------------------------------------------------- rendered files


def test_render_writes_the_benchmark_files_headed_by_their_budget(tmp_path: Path) -> None:
    store_path = tmp_path / "store.sqlite"
    folder = write_metrics(tmp_path / "runs" / "protonet", [(1, 60, 0.5), (2, 120, None),
                                                            (3, 20, 0.8)])
    with Store(store_path) as store:
        store.put_results(synthetic_rows())
        store.set_run(record(folder, steps=3))
        store.set_run(record(tmp_path / "runs" / "simclr", method="simclr", steps=3))
    (report,) = render_store(store_path, out_dir=tmp_path / "out", benchmark_name="synth")
    out = tmp_path / "out"
    for name in ("synth.md", "synth.tex", "synth.csv", "synth.html",
                 "synth/accuracy_vs_shots.png", "synth/accuracy_vs_shots.svg",
                 "synth/time_to_accuracy.png", "synth/time_to_accuracy.svg", "index.html"):
        assert (out / name).stat().st_size > 0, name
    assert set(report.files.values()) | {out / "index.html", out / "results.jsonl.gz"} == {
        p for p in out.rglob("*") if p.is_file()}
    md = (out / "synth.md").read_text()
    head = md.split("### ")[0]
    for text in ("made by:", "device(s): cpu", "wall time: training 2 min 50 s (2 run(s))",
                 "budget: protoclr 100 steps × 1 seed"):
        assert text in head, text
    assert "### Published vs ours" in md and "### Time to accuracy" in md
    assert "`synth/time_to_accuracy.png`" in md and "no curve (no metrics.csv" in md
    for name in ("synth.tex", "synth.csv"):
        assert "wall time: training" in (out / name).read_text()
    assert len(pd.read_csv(out / "synth.csv", comment="#")) == len(synthetic_rows())
    svg = (out / "synth" / "time_to_accuracy.svg").read_text()
    assert "hash-protonet" in svg and "no validation curve: simclr seed 0" in svg
