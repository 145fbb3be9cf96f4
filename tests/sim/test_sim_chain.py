"""End to end: a 4-household community trades one day on a real ganache (matcher/devchain.py,
never 8545/8546) through the order book, the matcher, signed readings, imbalance settlement,
period close, battery lease and result; the report is written from it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gridshare.settings import Settings
from sim.chainrun import keep_deployment, simulate
from sim.community import load_community
from sim.offline import dry_run
from sim.profiles import community_profiles
from sim.report import bills_match, household_rows, write_report
from sim.runner import RunResult

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    community = load_community(HERE / "tiny.toml")
    deployments = tmp_path_factory.mktemp("sim-deployments")
    return simulate(community, 1, "dev", Settings(), deployments)


def test_chain_run_conserves_tokens_and_matches_bills(run: RunResult) -> None:
    assert len(run.slots) == 48
    assert run.supply_conserved
    assert bills_match(run)  # every member's balance moved by exactly its bill
    assert sum(s.volume_wh for s in run.slots) > 0
    assert len(run.periods) == 1 and run.periods[0].lease == 100_000_000
    assert run.dso_income["battery lease"] == 100_000_000


def test_the_audit_passes_on_the_run(run: RunResult) -> None:
    assert run.audit is not None
    assert run.audit.findings == []
    assert len(run.audit.slots_metered) == 48 and run.audit.periods_checked == [0]


def test_chain_run_equals_the_dry_run(run: RunResult) -> None:
    community = load_community(HERE / "tiny.toml")
    dry = dry_run(community, community_profiles(community, 1), 1)
    assert [(s.price, s.volume_wh) for s in run.slots] == [
        (s.price, s.volume_wh) for s in dry.slots
    ]
    for m in run.members:
        assert run.ledgers[m.name].net_cost == dry.ledgers[m.name].net_cost, m.name
        assert run.ledgers[m.name].profit_share == dry.ledgers[m.name].profit_share, m.name
    assert run.periods == dry.periods


def test_every_household_pays_no_more_than_bau(run: RunResult) -> None:
    assert [r.name for r in household_rows(run) if r.pays_more_than_bau] == []


def test_report_is_self_contained(run: RunResult, tmp_path: Path) -> None:
    path = write_report(run, tmp_path)
    text = path.read_text()
    assert text.count("data:image/png;base64,") == 3
    assert "every household paid no more" in text.lower()
    assert (tmp_path / "prices.png").read_bytes()[:4] == b"\x89PNG"


def test_the_report_keeps_the_deployment_manifest(run: RunResult, tmp_path: Path) -> None:
    # The dev chain and its temporary deployments folder are gone; the manifest's text is not.
    assert run.deployment is not None
    line = keep_deployment(run.deployment, "dev", tmp_path / "deployments", tmp_path)
    manifest = json.loads((tmp_path / "deployment.json").read_text())
    assert manifest["contracts"]["Settlement"].startswith("0x")
    assert manifest["network"].startswith("gridshare-dev-")
    assert line is not None and "private chain" in line


def test_cli_rejects_a_bad_community_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nstart_date = 2026-06-15\n[[household]]\nname = "a"\n')
    done = subprocess.run(
        [str(Path(sys.executable).parent / "gridshare"), "simulate", "--community", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "household[0] (a).annual_kwh" in done.stderr
