"""`gridshare simulate-sharing --chain` (make demo-sharing): communities/sharing-20.toml for a day
on a private anvil through the contracts, the meters, the oracle's relay and the matcher; every
member's allocation is the pure rule's, the totals are the chain-free run's, every member saves
against business as usual, the audit passes, and the run's report is written."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from chain.devchain import dev_chain
from chain.gateway import CommunityGateway
from chain.node import Node
from gridshare.settings import Settings
from sim.community import load_community
from sim.sharingchain import SharingChainRun, run_sharing_on_chain
from sim.sharingreport import chain_report, write_sharing_report

ROOT = Path(__file__).resolve().parents[2]
COMMUNITY = ROOT / "communities" / "sharing-20.toml"
GRIDSHARE = os.path.join(os.path.dirname(sys.executable), "gridshare")


@dataclass(frozen=True)
class Served:
    """The run on a chain the test started (as `gridshare dashboard` starts it), and who the
    chain says each member the run returned is."""

    run: SharingChainRun
    roles: dict[str, str | None]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    community = load_community(COMMUNITY)
    work = tmp_path_factory.mktemp("sharing-chain")
    with dev_chain(work, node="anvil", deploy=False) as chain:
        run = run_sharing_on_chain(community, 1, work, Settings(), chain=chain)
        node = Node.from_settings(chain.network_id, Settings(deployments_dir=work))
        community_gw = CommunityGateway(node)
        roles = {m.name: community_gw.member_role(m.address) for m in run.members}
    return Served(run, roles)


@pytest.fixture(scope="module")
def run(served: Served) -> SharingChainRun:
    return served.run


def test_the_members_returned_to_sign_in_as_are_the_chains(served: Served) -> None:
    """`gridshare dashboard` offers these accounts' keys for the dev sign-in."""
    assert [m.name for m in served.run.members] == [m.name for m in served.run.summary.members]
    assert all(served.roles[m.name] == m.role for m in served.run.members)


def test_the_chain_allocates_as_the_rule_and_the_audit_passes(run: SharingChainRun) -> None:
    assert run.audit.ok, run.audit.to_text()
    assert run.audit.slots_metered == list(range(100))  # an hour's empty slots, then the day's 96
    assert run.matches_rule
    assert run.matches_offline_totals
    assert 0 < run.summary.covered_wh < run.summary.consumption_wh
    assert run.summary.covered_wh == run.summary.to_community_wh
    reduced = [m for m in run.summary.members if m.participation_pct < 100]
    assert reduced  # the file's participation factors were scheduled on-chain
    assert all(m.covered_wh * 100 <= m.consumption_wh * m.participation_pct for m in reduced)


def test_every_member_pays_less_than_bau_and_the_statement_shows_the_coverage(
    run: SharingChainRun,
) -> None:
    for m in run.summary.members:
        st = run.statements[m.name]
        assert st["bought_wh"] == m.covered_wh
        assert st["sold_wh"] == m.to_community_wh
        assert st["import_wh"] - st["export_wh"] == m.consumption_wh - m.production_wh
        assert st["savings"] >= 0, m.name
        if m.covered_wh or m.to_community_wh:
            assert st["savings"] > 0, m.name


def test_the_report_shows_the_chains_coverage_bills_and_audit(
    run: SharingChainRun, tmp_path: Path
) -> None:
    report = chain_report(run)
    assert len(report.slots) == 96
    assert sum(s.covered_wh for s in report.slots) == run.summary.covered_wh
    assert sum(s.consumption_wh for s in report.slots) == run.summary.consumption_wh
    assert all(s.covered_wh + s.from_grid_wh == s.consumption_wh for s in report.slots)
    for m in run.summary.members:
        assert report.bills[m.name].net_cost == run.statements[m.name]["net_cost"]
    path = write_sharing_report(report, tmp_path)
    page = path.read_text(encoding="utf-8")
    assert "on a private chain" in page and "audit (from events)</th><td>OK: " in page
    assert all((tmp_path / p).is_file() for p in ("coverage.png", "members.png", "bills.png"))


def test_a_static_schedule_that_changes_by_the_hour_is_settled_on_chain(tmp_path: Path) -> None:
    """communities/sharing-static-8.toml (shares by hour of the day) for a day: the chain holds
    each member's 24 shares (Community.scheduleSharingHours, counted from genesis), allocates
    every slot with its hour's as the pure rule does with the run's hours, the totals are the
    chain-free run's, and the audit rebuilds it from events."""
    community = load_community(ROOT / "communities/sharing-static-8.toml")
    run = run_sharing_on_chain(community, 1, tmp_path, Settings())
    assert run.audit.ok, run.audit.to_text()
    assert run.matches_rule
    assert run.matches_offline_totals
    assert 0 < run.summary.covered_wh < run.summary.consumption_wh
