# The two commands of the README: `make bench` (main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup bench test test-fast perf perf-accuracy clean

setup:
	bash scripts/setup.sh $(VENV)

bench: setup
	$(PY) -m benchmark datasets list
	$(PY) -m benchmark run tasks/quick.yaml

# The tests run on TEST_WORKERS processes (pytest-xdist; 2: the CI machine's cores). Plain
# `pytest` runs them in one process, for debugging.
TEST_WORKERS ?= 2

test: setup
	$(PY) -m pytest -n $(TEST_WORKERS)

test-fast: setup
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not slow"

perf: setup
	$(PY) -m benchmark perf sampler --out results/perf_sampler.md
	$(PY) -m benchmark perf step --out results/perf_step.md
	$(PY) -m benchmark perf maml --out results/perf_maml.md

# Reads the runs of omniglot_transfer from the store; the run trains what the store lacks
# first (hours from scratch: README, "make perf-accuracy").
perf-accuracy: setup
	$(PY) -m benchmark run tasks/omniglot_transfer.yaml
	$(PY) -m benchmark perf accuracy --benchmark omniglot_transfer --out results/perf_time_to_accuracy.md

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
