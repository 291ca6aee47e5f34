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

# Minutes to accuracy of omniglot_transfer's methods (seed 0), trained for this table in float32
# and in the fastest precision this machine has (trainer.precision auto: bfloat16 where the CPU
# or GPU computes it natively and a probe finds it faster), each precision in its own store and
# runs folder (a store holds one run per method and seed), evaluated on the Omniglot test cells
# with the prototype head only; both stores' runs in one table. Each run trains what its store
# lacks first (hours from scratch: README, "make perf-accuracy").
TIME_TO_ACCURACY := --set 'seeds=[0]' \
	--set 'eval.datasets=[{dataset: omniglot, split: vinyals_test}]' --set 'eval.heads=[prototype]'

perf-accuracy: setup
	$(PY) -m benchmark run tasks/omniglot_transfer.yaml $(TIME_TO_ACCURACY) \
		--set 'methods[*].trainer.precision=float32' --store results/time_to_accuracy.sqlite \
		--runs-dir results/runs_time_to_accuracy --out results/experiments/time_to_accuracy/float32
	$(PY) -m benchmark run tasks/omniglot_transfer.yaml $(TIME_TO_ACCURACY) \
		--set 'methods[*].trainer.precision=auto' --store results/time_to_accuracy_auto.sqlite \
		--runs-dir results/runs_time_to_accuracy_auto --out results/experiments/time_to_accuracy/auto
	$(PY) -m benchmark perf accuracy --benchmark omniglot_transfer \
		--store results/time_to_accuracy.sqlite --store results/time_to_accuracy_auto.sqlite \
		--out results/perf_time_to_accuracy.md

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
