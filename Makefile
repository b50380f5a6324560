# The two commands: `make up` runs a whole local cluster, `make test` checks everything.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test lint types unit faults venv dev clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

dev: $(VENV)/.dev-installed

up: $(VENV)/.installed
	$(BIN)/filefleet up $(ARGS)

lint: dev
	$(BIN)/ruff check filefleet tests bench scripts
	$(BIN)/ruff format --check filefleet tests bench scripts

types: dev
	$(BIN)/mypy

unit: dev
	$(BIN)/pytest tests/unit -q

# The fault scenarios alone (tests/faults; root and iproute2), each printing its figures.
faults: dev
	$(BIN)/pytest tests/faults -q -s -p no:cacheprovider $(PYTEST_ARGS)

test: lint types
	$(BIN)/pytest -q --durations=15 $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(BIN)/python -m bench.throughput

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
