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

.PHONY: setup repro test bench-arch

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

# The real architectures with random weights (sdxl-turbo-arch, pixart-lcm-arch; see params.yaml): real speed
# and memory, noise images. Heavy (about 20 GB of RAM at peak, tens of minutes), so not part of repro or CI;
# runs as a DVC experiment in the workspace, under a watchdog that ends it if the machine runs out of memory.
bench-arch: setup
	python scripts/watchdog.py --require-available-gb 20 --min-available-gb 1.5 -- \
		dvc exp run -n bench-arch -S 'enabled=[sdxl-turbo-arch,pixart-lcm-arch]'
