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

run: $(STAMP)  ## check params.yaml, then run the whole study: dvc repro
	python -m stages.check
	dvc repro

test: $(STAMP)  ## run the test suite (no network)
	python -m pytest -q

lint: $(STAMP)
	ruff check .

bench: $(STAMP)  ## measure training throughput (needs prepared data: make run first)
	python -m benchmarks.speed

pipeline: $(STAMP)  ## what CI for users runs: tests, dvc repro, metrics diff
	bash scripts/pipeline.sh

clean-venv:
	rm -rf $(VENV)
