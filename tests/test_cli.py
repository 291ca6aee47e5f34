"""The CLI's conventions: --version, help for a bare command, help text and defaults on every
flag, one name per concept (old spellings still accepted), the same datasets table twice,
tables that fit the terminal, perf's scripts named, exit codes 1 (a failed run) and 2 (a
refused input)."""

from __future__ import annotations

import argparse

import pytest

from benchmark import __version__, cli
from benchmark.cli import dataset_tools
from benchmark.errors import BenchmarkError, RunsFailed


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"benchmark {__version__}"


@pytest.mark.parametrize("argv, usage", [([], "usage: benchmark [-h]"),
                                         (["datasets"], "usage: benchmark datasets")])
def test_a_bare_command_prints_its_help(capsys: pytest.CaptureFixture[str], argv: list[str],
                                        usage: str) -> None:
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.startswith(usage)


def test_every_flag_has_help_and_shows_its_default() -> None:
    for parser in _parsers(cli.build_parser()):
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{parser.prog} {action.option_strings or action.dest}"
    help_text = " ".join(next(p for p in _parsers(cli.build_parser())
                              if p.prog == "benchmark eval").format_help().split())
    for flag, default in [("--ways", 5), ("--shots", 1), ("--queries", 15), ("--episodes", 600),
                          ("--head", "prototype"), ("--seed", 0), ("--device", "auto")]:
        assert f"(default: {default})" in help_text.split(flag, 2)[-1].split("--")[0], flag


def test_description_names_every_method_family() -> None:
    text = cli.build_parser().format_help()
    for family in ("SimCLR", "ProtoNet", "MAML", "ProtoCLR", "R2-D2", "ANIL"):
        assert family in " ".join(text.split())


def test_old_spellings_are_hidden_aliases() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["report", "--name", "quick"]).benchmark == "quick"
    assert parser.parse_args(["run", "s.yaml", "--report-dir", "x"]).out.name == "x"
    report_help = next(p for p in _parsers(parser) if p.prog == "benchmark report").format_help()
    assert "--name" not in report_help and "--benchmark" in report_help


def test_perf_help_names_every_perf_script() -> None:
    from benchmark.perf import PERF_SCRIPTS

    text = next(p for p in _parsers(cli.build_parser()) if p.prog == "benchmark perf").format_help()
    assert all(name in text for name in PERF_SCRIPTS.names())


def test_both_datasets_commands_print_the_same_table(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["datasets", "list"])
    first = capsys.readouterr().out
    cli.main(["list", "datasets"])
    assert capsys.readouterr().out == first and first.startswith("name")


def test_the_datasets_table_fits_the_width() -> None:
    rows = [{"name": "x", "prepared": "no", "classes": "-", "images": "-",
             "image_size": "1x28x28", "splits": "a " * 40, "source": "b " * 40}]
    lines = dataset_tools.format_table(rows, width=100).splitlines()
    assert max(map(len, lines)) <= 100 and "…" in lines[2]


@pytest.mark.parametrize("error, code", [(RunsFailed("1 run(s) failed"), 1),
                                         (BenchmarkError("bad spec"), 2)])
def test_exit_codes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                    error: Exception, code: int) -> None:
    def fail(args: argparse.Namespace) -> int:
        raise error

    monkeypatch.setattr("benchmark.cli.report._report", fail)
    assert cli.main(["report"]) == code
    assert capsys.readouterr().err == f"error: {error}\n"
