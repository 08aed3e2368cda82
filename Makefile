# Two commands for a fresh machine: `make up` (set up and start the service) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKERS ?= 2
PORT ?= 5000

.PHONY: setup up test lint bench clean

$(BIN)/mnistq: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@touch $@

setup: $(BIN)/mnistq
	bash scripts/install-system-deps.sh

up: setup
	$(BIN)/mnistq up --workers $(WORKERS) --port $(PORT)

lint: $(BIN)/mnistq
	$(BIN)/ruff check .

test: $(BIN)/mnistq
	bash scripts/install-system-deps.sh --with-browser
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
