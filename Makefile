# Two commands for a fresh machine: `make up` (set up and start the service) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKERS ?= 2
PORT ?= 5000
# The exact versions (with hashes) the images and `make up` install: `make lock` refreshes it.
LOCK := requirements.lock
# `make lock LOCK_FLAGS=--upgrade` moves every pin to the newest release pyproject allows;
# without it, pins already in the lock are kept and only what pyproject changed moves.
LOCK_FLAGS ?=

.PHONY: setup up test lint bench lock clean

# The locked runtime dependencies first (hashes checked), then the package and its test and
# bench extras on top of them.
$(BIN)/mnistq: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes --requirement $(LOCK)
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

# pyproject's dependencies resolved for every Python >= 3.11 and platform (uv's universal
# resolution), with the hashes of every file of every pinned release, from PyPI itself.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet 'uv>=0.5'
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	  --no-config --no-emit-index-url \
	  --custom-compile-command 'make lock' $(LOCK_FLAGS) --output-file $(LOCK) pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
