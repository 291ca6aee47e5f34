"""The README's commands run as written: every ``benchmark ...`` line of the block marked
``<!-- readme-commands -->`` is either run here (in a temporary folder, with a fake CIFAR-10
in a temporary data root and tiny budgets appended to the one training run) or named below as
too slow or needing data this test cannot make."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from benchmark import cli
from fixtures_data import cifar10

README = Path(__file__).resolve().parents[1] / "README.md"
ROOT = README.parent
MARK = "<!-- readme-commands"
#: Budgets appended to ``benchmark run tasks/quick.yaml`` (and its reports go to a temporary
#: folder: the test runs in one).
TINY = ["--set", "methods[0].trainer.steps=2", "--set", "eval.episodes=4", "--only", "protonet",
        "--device", "cpu"]
#: Commands the test does not run: real data from ../shared or the network, hours of
#: training, GPUs, or speed measurements.
NOT_RUN = (
    "benchmark datasets prepare ",
    "benchmark run tasks/omniglot_transfer.yaml",
    "benchmark run tasks/ablations/",
    "benchmark perf ",
)


def readme_commands() -> list[str]:
    """Every ``benchmark`` command of the README's marked code blocks, continuations joined,
    comments dropped."""
    text = README.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(re.escape(MARK) + r"[^\n]*\n```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "benchmark":
                commands.append(shlex.join(words))
    return commands


def test_the_readme_marks_its_commands() -> None:
    commands = readme_commands()
    assert any(c.startswith("benchmark eval --checkpoint") for c in commands), commands
    assert any(c.startswith("benchmark list") for c in commands)


@pytest.mark.slow
def test_the_readmes_fast_commands_run_as_written(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tasks").symlink_to(ROOT / "tasks")
    data = tmp_path / "data"
    monkeypatch.setenv("BENCHMARK_DATA", str(data))
    assert cli.main(["datasets", "prepare", "cifar10", "--source",
                     str(cifar10(tmp_path, test_per_class=16))]) == 0
    ran = []
    for command in readme_commands():
        if command.startswith(NOT_RUN):
            continue
        argv = shlex.split(command)[1:]
        if argv[:2] == ["run", "tasks/quick.yaml"]:
            argv = [*argv, *TINY]
        assert cli.main(argv) == 0, (command, capsys.readouterr().err)
        ran.append(argv[0])
    assert (tmp_path / "results" / "runs" / "quick" / "protonet" / "seed0" / "last.pt").is_file()
    assert ran.count("eval") == 2 and "report" in ran and "run" in ran and "list" in ran
