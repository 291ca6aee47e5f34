"""The speed harness is an extra (``pip install .[perf]``): nothing else needs or imports it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmark.cli import main

#: Import every module but the harness with easyfsl blocked, then run a command or two.
WITHOUT_EASYFSL = r'''
import pkgutil, sys
sys.modules["easyfsl"] = None  # any import of it raises ImportError
import benchmark
for module in pkgutil.walk_packages(benchmark.__path__, "benchmark."):
    if not module.name.startswith("benchmark.perf") and module.name != "benchmark.__main__":
        __import__(module.name)
from benchmark.cli import main
assert main(["list", "methods"]) == 0
assert sys.modules["easyfsl"] is None
'''


def test_the_package_imports_and_runs_without_easyfsl() -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_EASYFSL], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("what", ["sampler", "step"])
def test_perf_without_the_extra_is_one_error_line(what: str, monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "easyfsl", None)
    assert main(["perf", what, "--out", str(tmp_path / "perf.md")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "perf extra" in lines[0]
    assert "pip install '.[perf]'" in lines[0] and "easyfsl" in lines[0]
    assert not (tmp_path / "perf.md").exists()
