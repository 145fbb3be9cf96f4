"""The DSO congestion scenario on a real chain (sim/flex.py `simulate_flex`): a private ganache
(chain/devchain.py, never 8545/8546), a 4-household community with its battery in 60-minute
slots from noon of day 1 (its afternoon and evening are the baseline history: the rulebook takes
the days a member has, one is enough) through the event day, 36 slots. The DSO's requests and the
members' offers go on-chain, the matcher service accepts and pays them, and the run ends with
the audit and token conservation. Payments read from the chain's events must equal the dry
run's (pure rulebook, same inputs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gridshare.settings import Settings
from sim.community import load_community
from sim.flex import FlexChainRun, FlexParams, run_congestion, simulate_flex, write_flex_report
from sim.profiles import community_profiles
from sim.report import bills_match

HERE = Path(__file__).resolve().parent
DAYS = 2
# A limit of 300 Wh per hour makes 13 requests: the night and morning ones have no baseline (the
# run began at noon: neither paid nor penalised), the evening ones are paid; with deferrable load
# cheapest, every household is accepted and household a (whose day-1 import at that hour was
# lower) pays a penalty. The community battery offers too.
PARAMS = FlexParams(limit_wh=300, load_price=90_000, start_hour=12)


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory: pytest.TempPathFactory) -> FlexChainRun:
    community = load_community(HERE / "flex-tiny.toml")
    deployments = tmp_path_factory.mktemp("flex-deployments")
    return simulate_flex(community, DAYS, "dev", Settings(), deployments, PARAMS)


def test_chain_payments_equal_the_dry_run(chain_run: FlexChainRun) -> None:
    community = load_community(HERE / "flex-tiny.toml")
    dry = run_congestion(community, community_profiles(community, DAYS), DAYS, PARAMS)
    got = chain_run.scenario
    assert dry.requests and len(got.requests) == len(dry.requests)
    assert {m.name: (m.earned, m.penalties) for m in got.members} == {
        m.name: (m.earned, m.penalties) for m in dry.members
    }
    assert got.dso_paid == dry.dso_paid > 0
    assert chain_run.settled_paid == dry.dso_paid  # as the FlexSettled events add it up
    assert chain_run.settled_penalties == dry.dso_penalties > 0
    assert [r.accepted_wh for r in got.requests] == [r.accepted_wh for r in dry.requests]
    assert got.after == dry.after  # the meters on the chain saw the dry run's response
    assert sum(1 for m in got.members if m.earned) == 4
    assert any(m.role == "battery" and m.offered_wh for m in got.members)


def test_no_baseline_is_neither_paid_nor_penalised(chain_run: FlexChainRun) -> None:
    # Requests before noon: the members have no reading in that hour of any earlier day.
    early = [r for r in chain_run.scenario.requests if r.hour < PARAMS.start_hour]
    assert early and all(r.accepted_wh > 0 for r in early)
    assert all((r.delivered_wh, r.paid, r.penalties) == (0, 0, 0) for r in early)
    late = [r for r in chain_run.scenario.requests if r.hour >= 20]
    assert late and all(r.paid > 0 for r in late)


def test_peak_after_is_below_the_peak_before(chain_run: FlexChainRun) -> None:
    got = chain_run.scenario
    assert got.peak_after_wh < got.peak_before_wh
    assert got.slots_over_before > 0 and got.slots_over_after == 0


def test_run_passes_audit_and_conserves_tokens(chain_run: FlexChainRun) -> None:
    run = chain_run.run
    assert run.audit is not None and run.audit.findings == []
    assert run.supply_conserved
    assert bills_match(run)  # balances moved by bills plus flexibility payments and penalties
    earned = {m.name: m.net for m in chain_run.scenario.members}
    collected = {n: run.ledgers[n].flex_net for n in earned}
    assert collected == earned  # every penalty was covered by the member's balance


def test_report_files(chain_run: FlexChainRun, tmp_path: Path) -> None:
    path = write_flex_report(chain_run.scenario, tmp_path)
    data = json.loads(path.read_text())
    assert data["source"] == "chain dev" and data["chain"]["audit_ok"] is True
    assert data["dso_paid"] == chain_run.scenario.dso_paid
    assert (tmp_path / "flex-peak.png").read_bytes()[:4] == b"\x89PNG"
