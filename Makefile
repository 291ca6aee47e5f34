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

# Minutes to accuracy of omniglot_transfer's runs in float32 (the spec's own runs, in the
# store) and in the fastest precision this machine has (trainer.precision auto: bfloat16 where
# the CPU or GPU computes it natively and a probe finds it faster; an experiment, in its own
# store and runs folder, evaluated on the Omniglot test cells with the prototype head only);
# both tables' runs in one table. Each run trains what its store lacks first (hours from scratch:
# README, "make perf-accuracy").
FASTEST := --set 'methods[*].trainer.precision=auto' \
	--set 'eval.datasets=[{dataset: omniglot, split: vinyals_test}]' --set 'eval.heads=[prototype]' \
	--store results/fastest_precision.sqlite --runs-dir results/runs_fastest_precision \
	--out results/experiments/omniglot_transfer_fastest_precision

perf-accuracy: setup
	$(PY) -m benchmark run tasks/omniglot_transfer.yaml
	$(PY) -m benchmark run tasks/omniglot_transfer.yaml $(FASTEST)
	$(PY) -m benchmark perf accuracy --benchmark omniglot_transfer --store results/results.sqlite \
		--store results/fastest_precision.sqlite --out results/perf_time_to_accuracy.md

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
