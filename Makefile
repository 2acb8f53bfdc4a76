# The two commands of the README: `make run` (the study) and `make test`.
# Both create the project-local virtual environment first if needed.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup run test bench lint pipeline clean-venv

$(STAMP): requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)  ## create .venv with the pinned dependencies

JOBS ?=       # stages at once; empty = one per core
SCHEDULER ?=  # a Dask scheduler address (tcp://host:8786) to run the stages on a cluster

run: $(STAMP)  ## check params.yaml, then run the stale stages in parallel (JOBS=1: one at a time)
	python -m stages.check
	python -m stages.study.parallel $(if $(strip $(JOBS)),--jobs $(JOBS)) $(if $(strip $(SCHEDULER)),--scheduler $(SCHEDULER))

test: $(STAMP)  ## run the test suite (no network) on one worker per core; the slowest ten tests last
	python -m pytest -q -n auto --dist loadgroup --durations=10

lint: $(STAMP)
	ruff check .

bench: $(STAMP)  ## measure training throughput (needs prepared data: make run first)
	python -m benchmarks.speed

pipeline: $(STAMP)  ## what CI for users runs: tests, dvc repro, metrics diff
	bash scripts/pipeline.sh

clean-venv:
	rm -rf $(VENV)
