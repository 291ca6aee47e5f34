# The two commands of the README: `make bench` (main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup bench test test-fast perf clean

setup:
	bash scripts/setup.sh $(VENV)

bench: setup
	$(PY) -m benchmark datasets list
	$(PY) -m benchmark run tasks/quick.yaml

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

perf: setup
	$(PY) -m benchmark perf sampler --out results/perf_sampler.md
	$(PY) -m benchmark perf step --out results/perf_step.md
	$(PY) -m benchmark perf maml --out results/perf_maml.md

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
