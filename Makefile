# gridshare: the two commands are `make demo` and `make test`; both run `make setup` first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
NETWORK ?= ganache-cli
# Brownie starts ganache-cli / anvil itself: put the npm binaries and the venv on PATH.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
PYTEST := $(BIN)/python -m pytest -p no:pytest-brownie
# This machine's pip config names local wheel folders that may be absent; drop that noise only.
PIP_FILTER := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help setup solc test lint test-python test-contracts test-deploy-anvil test-matcher demo \
	demo-slot bench bench-gas bench-matcher bench-sim clean

help:
	@echo "make demo    set up, run the 20-household community for one day on a private ganache"
	@echo "make test    set up, lint, type-check, run every test (brownie on ganache + pytest)"
	@echo "make bench   gas and speed benchmarks -> bench/results.json, docs/benchmarks.md"
	@echo "make setup   install what is missing (idempotent): .venv, node_modules, solc launcher"

setup: $(VENV)/.installed node_modules/.installed solc

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock 2>&1 | $(PIP_FILTER)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | $(PIP_FILTER)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Always re-registered (cheap): the launcher path must be this checkout's.
solc: node_modules/.installed
	./toolchain/register-solc.sh
	@for tool in ganache ganache-cli anvil; do ln -sf "$(CURDIR)/node_modules/.bin/$$tool" $(BIN)/$$tool; done

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-python: setup
	$(PYTEST) tests --ignore=tests/contracts -q

test-contracts: setup
	$(BIN)/brownie test tests/contracts --network $(NETWORK)

# The same deploy script on the second local chain (anvil): it must deploy and wire everything.
test-deploy-anvil: setup
	$(BIN)/brownie run scripts/deploy.py --network anvil

test: lint test-python test-contracts test-deploy-anvil

# The default community for one day on a private ganache (free port), then its summary table;
# the HTML report and plots go to reports/default-20/.
demo: setup
	$(BIN)/gridshare simulate --community communities/default-20.toml --days 1 --network dev

# The earlier one-slot walk-through (five households, balances before and after).
demo-slot: setup
	$(BIN)/brownie run scripts/demo.py --network $(NETWORK)

bench: bench-gas bench-matcher bench-sim

bench-gas: setup
	$(BIN)/brownie run scripts/bench_gas.py --network $(NETWORK)

# Part of test-python; on its own for quick runs.
test-matcher: setup
	$(PYTEST) tests/matcher -q

# 100 households on a private ganache: one day measured (the year is the goal; see the notes).
bench-sim: setup
	$(BIN)/python -m bench.sim --days 1

# Clearing speed (1M orders) and 1,000-member slot settlement latency on a private ganache.
bench-matcher: setup
	$(BIN)/python -m bench.matcher

clean:
	rm -rf build reports .hypothesis .pytest_cache .mypy_cache .ruff_cache
