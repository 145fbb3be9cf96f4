# gridshare: the two commands are `make demo` and `make test`. `make demo` runs `make setup-core`
# (Python and npm packages only); `make test` runs `make setup`, which also installs the system
# packages the tests need (PostgreSQL, Chromium) when missing.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
# schemathesis needs a newer hypothesis than brownie pins: it gets a venv of its own.
FUZZ_VENV := .venv-fuzz
BIN := $(VENV)/bin
NETWORK ?= ganache-cli
# The contract suite runs on anvil (brownie's Python is its bottleneck; on anvil the 239 tests take
# about 4 minutes, on ganache about 16); ganache stays covered by a short run of the same suite
# (GANACHE_SMOKE), by the demos (`make demo`, `make dashboard`, whose newcomer test runs the
# dashboard command on it), the simulated day (tests/sim/test_sim_chain.py) and the oracle's span
# test. The other Python tests' private chains are anvil (tests/fixtures.py:chain_node, the audit's
# scenario): ganache spent about 40 s of CPU setting up the audit's scenario alone, anvil 7.
CONTRACT_NETWORK ?= anvil
GANACHE_NETWORK ?= ganache-cli
GANACHE_SMOKE := tests/contracts/test_settlement.py tests/contracts/test_tamper_metering.py
# The Python tests' second half in `make test` (sim, about 2.5 minutes), run after the contract
# tests so that the two lanes take about as long (the faults moved to lane A once its chains were
# anvil).
PYTHON_LANE_B := tests/sim
# Brownie starts ganache-cli / anvil itself: put the npm binaries and the venv on PATH.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
PYTEST := $(BIN)/python -m pytest -p no:pytest-brownie
# This machine's pip config names local wheel folders that may be absent; drop that noise only.
PIP_FILTER := { grep -v "is ignored: it is neither a file nor a directory" || true; }
# The installer the venvs are filled with: uv (pinned), which puts the locked packages in place in
# seconds where pip takes over a minute (measured in fresh venvs: requirements.lock in 3 s with
# uv's cache warm against pip's 81 s, a large part of a fresh clone's `make test`); pip where uv
# cannot be installed or cannot reach the index. The locks pin every version, so both install
# the same set.
UV_VERSION := 0.13.10
# $(call venv_install,VENV,ARGS): install ARGS (pip install arguments) into the venv VENV (uv
# itself once per venv).
define venv_install
	@test -x $(1)/bin/uv || $(1)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) 2>&1 | $(PIP_FILTER) || true
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python $(2) \
		|| $(1)/bin/pip install --quiet --disable-pip-version-check $(2) 2>&1 | $(PIP_FILTER)
endef
# Each step of make test's lanes says how long it took ("[time] 123.45 s <command>", which
# bench/maketest.py records); GNU time where installed, nothing otherwise.
TIMED := $(if $(wildcard /usr/bin/time),/usr/bin/time -f "[time] %e s %C",)

.PHONY: help setup setup-core system-packages solc postgres chromium test compile lint slither fuzz test-python \
	demo-sharing dashboard-sharing test-contracts test-static test-lane-a test-lane-b test-deploy-anvil test-matcher test-indexer test-api \
	test-dashboard demo dashboard \
	demo-slot demo-flex bench bench-gas bench-gas-flex bench-make-test bench-matcher bench-oracle bench-index bench-api \
	bench-api-soak bench-sim bench-flex bench-thousand bench-batched bench-chunks bench-sharing \
	bench-sharing-gas \
	bench-year bench-anvil-state bench-spans bench-allin bench-opcodes faults \
	test-faults clean

help:
	@echo "make dashboard  run the 20-household community for a day on a private chain, then"
	@echo "             serve it (indexer, API, dashboard) with a dev sign-in; Ctrl-C stops all"
	@echo "make demo    set up (no system packages), run the 20-household community for one day"
	@echo "             on a private ganache"
	@echo "make test    set up (with PostgreSQL and Chromium), lint, type-check, run every test"
	@echo "make bench   gas and speed benchmarks -> bench/results.json, docs/benchmarks.md"
	@echo "make fuzz    the stateful invariant test at 10,000 steps (FUZZ_STEPS=...)"
	@echo "make faults  a community day under kill -9 of oracle, matcher, indexer and node"
	@echo "make slither static analysis of the contracts (also part of make test)"
	@echo "make setup   install what is missing (idempotent): setup-core, .venv-fuzz, and Debian's"
	@echo "             postgresql and chromium (as root) for the tests"
	@echo "make setup-core  .venv, node_modules, solc launcher: all the demos need"

# What every demo needs: Python and npm packages and the compiler launcher, no system package.
setup-core: $(VENV)/.installed node_modules/.installed solc

# What the tests need on top: schemathesis' venv and two system packages.
setup: setup-core $(FUZZ_VENV)/.installed system-packages

system-packages:
	@echo "make setup: the tests also need PostgreSQL and Chromium (Debian packages, installed" \
		"as root when missing; make demo does not install them)"
	@$(MAKE) --no-print-directory postgres chromium

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(call venv_install,$(VENV),-r requirements.lock)
	$(call venv_install,$(VENV),--no-deps -e .)
	touch $@

$(FUZZ_VENV)/.installed: requirements-fuzz.lock
	test -x $(FUZZ_VENV)/bin/python || python3 -m venv $(FUZZ_VENV)
	$(call venv_install,$(FUZZ_VENV),-r requirements-fuzz.lock)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Always re-registered (cheap): the launcher path must be this checkout's.
solc: node_modules/.installed
	./toolchain/register-solc.sh
	@for tool in ganache ganache-cli anvil; do ln -sf "$(CURDIR)/node_modules/.bin/$$tool" $(BIN)/$$tool; done

# $(call debian_package,PRESENT,PACKAGE,NAME,TESTS): unless the shell test PRESENT holds,
# install Debian's PACKAGE (NAME in the messages) as root; without root or apt-get, or if the
# install fails, say that TESTS will be skipped instead of failing.
define debian_package
	@if $(1); then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing $(3) from Debian's packages"; \
		apt-get update -qq -o DPkg::Lock::Timeout=600 && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
			$(2) >/dev/null || echo "note: installing $(3) failed;" \
			"$(4) will be skipped"; \
	else echo "note: $(3) is not installed and cannot be here (not root or no apt-get);" \
		"$(4) will be skipped"; fi
endef

# PostgreSQL server binaries for the index's tests (they start their own server in a temporary
# directory). Installed from Debian's packages when missing and run as root; otherwise the
# PostgreSQL tests are skipped with a message saying so.
postgres:
	$(call debian_package,ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1,postgresql,PostgreSQL,its index tests)

# Debian's headless-capable Chromium for the dashboard's browser tests (Playwright drives it at
# /usr/bin/chromium; `playwright install` is never run). Installed as root when missing;
# otherwise the browser tests are skipped with a message saying so.
chromium:
	$(call debian_package,[ -x /usr/bin/chromium ],chromium,Chromium,the dashboard's browser tests)

# The import layers (pyproject.toml's [tool.importlinter], docs/map.md) come last: a broken layer
# names the import and its line.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test-python: setup
	$(PYTEST) tests --ignore=tests/contracts -q

# The whole contract suite on anvil, then a ganache smoke run of it: settlement with time travel,
# per-test snapshots and named custom-error reverts with their arguments (about 75 s).
test-contracts: setup
	$(TIMED) $(BIN)/brownie test tests/contracts --network $(CONTRACT_NETWORK)
	$(TIMED) $(BIN)/brownie test $(GANACHE_SMOKE) --network $(GANACHE_NETWORK)

# The same deploy script on the second local chain (anvil): it must deploy and wire everything.
test-deploy-anvil: setup
	$(BIN)/brownie run scripts/deploy.py --network $(CONTRACT_NETWORK)

# Slither (no untriaged high or medium finding) and slither-check-erc for the token: about 40 s.
slither: setup
	./toolchain/slither.sh

# Two phases of two lanes side by side (2 cores). First the compile (solc runs one contract at a
# time, on one core) beside the static checks (lint and type checks, then Slither, which compiles
# on its own into build/slither): both lanes' tests deploy from build/, so they wait for it, and
# the checks use the core the compile leaves idle. Then the tests (each lane about 8 minutes):
# most Python tests; the contract tests (anvil on 8555, then the ganache smoke run on 8545) and the
# Python tests of PYTHON_LANE_B. The Python tests use private chains on free ports. Each lane's
# output is printed whole when it ends (--output-sync). The anvil deploy comes last: the ganache
# run in between leaves anvil's port 8555 long released.
test: setup
	$(TIMED) $(MAKE) --no-print-directory -j2 --output-sync=target compile test-static
	$(TIMED) $(MAKE) --no-print-directory -j2 --output-sync=target test-lane-a test-lane-b
	$(TIMED) $(MAKE) --no-print-directory test-deploy-anvil

test-static: setup
	$(TIMED) $(MAKE) --no-print-directory lint
	$(TIMED) $(MAKE) --no-print-directory slither

test-lane-a: setup
	$(TIMED) $(PYTEST) tests --ignore=tests/contracts $(addprefix --ignore=,$(PYTHON_LANE_B)) -q

test-lane-b: setup
	$(MAKE) --no-print-directory test-contracts
	$(TIMED) $(PYTEST) $(PYTHON_LANE_B) -q

# The stateful invariant test at depth (make test runs 2,000 steps of it): 10,000 rule steps.
FUZZ_STEPS ?= 10000
fuzz: setup
	GRIDSHARE_STATEFUL_STEPS=$(FUZZ_STEPS) GRIDSHARE_STATEFUL_REPORT=build/fuzz.json \
		$(BIN)/brownie test tests/contracts/test_stateful.py --network $(CONTRACT_NETWORK)
	cat build/fuzz.json

compile: setup
	$(BIN)/brownie compile

# The default community for one day on a private ganache (free port), then its summary table;
# the HTML report and plots go to reports/default-20/.
demo: setup-core
	$(BIN)/gridshare simulate --community communities/default-20.toml --days 1 --network dev

# The newcomer's path: the same day, then the indexer and the API with the dashboard on that
# chain, its address and the accounts to sign in as printed; Ctrl-C stops everything.
dashboard: setup-core
	$(BIN)/gridshare dashboard --community communities/default-20.toml --days 1

# The energy-sharing community (sharing-20) for a day, then served the same way: the household
# view of coverage, grid draw and bill (a community file with [sharing] runs in the sharing mode).
dashboard-sharing: setup-core
	$(BIN)/gridshare dashboard --community communities/sharing-20.toml --days 1

# The DSO congestion scenario on a private ganache: default-20 for 5 days of baseline history and
# the event day; requests, offers, acceptance and payouts on-chain, then the audit. The text
# report, flex.json and flex-peak.png go to reports/default-20-flex/.
demo-flex: setup-core
	$(BIN)/gridshare simulate-flex --community communities/default-20.toml --days 6 --network dev

# The energy-sharing community (communities/sharing-20.toml, dynamic key, 15-minute slots) for a
# day on a private anvil: contracts in the sharing mode, meters signing, the oracle relaying, the
# matcher settling; per member consumption, community coverage, bill, BaU and saving, then the
# audit (about 30 s).
demo-sharing: setup-core
	$(BIN)/gridshare simulate-sharing communities/sharing-20.toml --chain

# The earlier one-slot walk-through (five households, balances before and after).
demo-slot: setup-core
	$(BIN)/brownie run scripts/demo.py --network $(NETWORK)

bench: bench-gas bench-gas-flex bench-matcher bench-oracle bench-index bench-api bench-sim

# Gas of the order book's paths and of slots settled from it, through the matcher (private anvil).
bench-gas: setup-core
	$(BIN)/python -m bench.gas --record

# Gas of flexibility offers (direct, relayed), settleRequest and settleImbalances (private anvil).
bench-gas-flex: setup-core
	$(BIN)/python -m bench.gas_flex --record

# make test itself, in a fresh clone of HEAD as CI runs it: wall time and load (about 11 minutes).
bench-make-test: setup-core
	$(BIN)/python -m bench.maketest --record

# Part of test-python; on its own for quick runs.
test-matcher: setup
	$(PYTEST) tests/matcher -q

# Oracle: readings signed and queued per second; gas per reading as relayed (private ganache).
bench-oracle: setup
	$(BIN)/python -m bench.oracle

# Part of test-python; on its own for quick runs.
test-indexer: setup
	$(PYTEST) tests/indexer -q

# The 100-household community end to end on a private anvil for DAYS days (365: the year,
# 17,520 slots), audit included: year_100_households_s, the time per day and per slot's phase,
# transactions per slot. Not part of `make bench` (hours at today's speed; a short run of the
# same code is in make test: tests/sim/test_bench_year.py). YEAR_PORT: anvil's port (free one).
DAYS ?= 365
bench-year: setup
	$(BIN)/python -m bench.year --days $(DAYS) $(if $(YEAR_PORT),--port $(YEAR_PORT)) --record

# What a block costs anvil against the storage words the chain holds, live and zeroed (~1.5 min).
bench-anvil-state: setup
	$(BIN)/python -m bench.anvil_state --record

# Gas per reading relayed as day spans vs single readings (100 meters, private anvil, ~2 min).
bench-spans: setup
	$(BIN)/python -m bench.spans --record

# 100 households on a private ganache: one day measured (the year is the goal; see the notes).
bench-sim: setup
	$(BIN)/python -m bench.sim --days 1

# Not part of `make bench` (about as long as demo-flex): the flexibility scenario's figures.
bench-flex: setup
	$(BIN)/python -m bench.flex --days 6

# 1,000 members for a simulated day on a private anvil (about 30 min; not part of `make bench`).
bench-thousand: setup
	$(BIN)/python -m bench.thousand

# Signed intents carried in one slot's settlement: gas per intent (200 and 1,000 members), the
# settlement's latency, a direct order for comparison; private anvil, a few minutes.
bench-batched: setup-core
	$(BIN)/python -m bench.batched --node anvil --sizes 200,1000 --record

# One member-slot all in on the services' path (intents, trades, day spans, batched settlement
# against meters, the period close's share): 200 and 1,000 members, private anvil, minutes.
bench-allin: setup-core
	$(BIN)/python -m bench.allin --sizes 200,1000 --record

bench-opcodes: setup-core
	$(BIN)/python -m bench.opcodes --members 30

# Largest transactions of a 10,000-member community (one slot with readings, a period close).
bench-chunks: setup-core
	$(BIN)/python -m bench.chunks --members 10000 --record

# Clearing speed (1M orders) and 1,000-member slot settlement latency on a private ganache.
bench-matcher: setup
	$(BIN)/python -m bench.matcher

# Energy sharing: one slot of 100,000 members by the dynamic key, one core (a few seconds).
bench-sharing: setup-core
	$(BIN)/python -m bench.sharing

# Gas per member-slot in the sharing mode, 200 and 1,000 members (single readings and day spans).
bench-sharing-gas: setup-core
	$(BIN)/python -m bench.sharing_gas --record

# Part of test-python; on its own for quick runs.
test-api: setup
	$(PYTEST) tests/api -q

# Part of test-python; on its own for quick runs. Screenshots go to reports/screenshots/.
test-dashboard: setup
	$(PYTEST) tests/dashboard -q

# API latency at a fixed 500 requests/s for 60 s (Debian's `hey`, installed if missing).
bench-api: setup
	command -v hey >/dev/null || { apt-get update -qq && apt-get install -y -qq hey; }
	$(BIN)/python -m bench.api
# The same server at 500 requests/s for 10 minutes (SOAK_S): every request must succeed.
SOAK_S ?= 600
bench-api-soak: setup
	command -v hey >/dev/null || { apt-get update -qq && apt-get install -y -qq hey; }
	$(BIN)/python -m bench.api --soak $(SOAK_S)
# Events indexed per second (SQLite and PostgreSQL) from a private ganache with market activity.
bench-index: setup
	$(BIN)/python -m bench.index

# Fault injection: the default community for a day with the oracle, matcher and indexer as
# processes and ganache on a persistent database, >= 50 kill -9 among the four (build/faults.json).
faults: setup
	$(BIN)/python -m bench.faults --community communities/default-20.toml --seed 1 --interval 2,8 \
		--record

# Part of test-python (a 2-slot run with every process killed); on its own for quick runs.
test-faults: setup
	$(PYTEST) tests/faults -q

clean:
	rm -rf build reports .hypothesis .pytest_cache .mypy_cache .ruff_cache
