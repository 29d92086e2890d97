# One command each: `make repro` runs the pipeline on the offline default, `make test` runs the tests.
# Both create .venv and install the pinned dependencies first (again only when pyproject.toml changes).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
export PATH := $(abspath $(BIN)):$(PATH)
export PYTHONWARNINGS ?= ignore
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup repro test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,demo]"
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

repro: setup
	dvc repro

test: setup
	pytest
