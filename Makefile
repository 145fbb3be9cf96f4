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

.PHONY: help setup solc test lint slither fuzz test-python test-contracts test-deploy-anvil test-matcher \
	demo bench bench-gas bench-matcher bench-oracle clean

help:
	@echo "make demo    set up, start ganache, deploy, trade one slot, print balances"
	@echo "make test    set up, lint, type-check, run every test (brownie on ganache + pytest)"
	@echo "make bench   gas and speed benchmarks -> bench/results.json, docs/benchmarks.md"
	@echo "make fuzz    the stateful invariant test at 10,000 steps (FUZZ_STEPS=...)"
	@echo "make slither static analysis of the contracts (also part of make test)"
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

# Slither (no untriaged high or medium finding) and slither-check-erc for the token: about 40 s.
slither: setup
	./toolchain/slither.sh

test: lint slither test-python test-contracts test-deploy-anvil

# The stateful invariant test at depth (make test runs 2,000 steps of it): 10,000 rule steps.
FUZZ_STEPS ?= 10000
fuzz: setup
	GRIDSHARE_STATEFUL_STEPS=$(FUZZ_STEPS) GRIDSHARE_STATEFUL_REPORT=build/fuzz.json \
		$(BIN)/brownie test tests/contracts/test_stateful.py --network $(NETWORK)
	cat build/fuzz.json

demo: setup
	$(BIN)/brownie run scripts/demo.py --network $(NETWORK)

bench: bench-gas bench-matcher bench-oracle

bench-gas: setup
	$(BIN)/brownie run scripts/bench_gas.py --network $(NETWORK)

# Part of test-python; on its own for quick runs.
test-matcher: setup
	$(PYTEST) tests/matcher -q

# Oracle: readings signed and queued per second; gas per reading as relayed (private ganache).
bench-oracle: setup
	$(BIN)/python -m bench.oracle

# Clearing speed (1M orders) and 1,000-member slot settlement latency on a private ganache.
bench-matcher: setup
	$(BIN)/python -m bench.matcher

clean:
	rm -rf build reports .hypothesis .pytest_cache .mypy_cache .ruff_cache
