"""End to end: a 4-household community trades one day on a real ganache (chain/devchain.py,
never 8545/8546) through the order book, the matcher, signed readings, imbalance settlement,
period close, battery lease and result; the report is written from it. The chain stays up for
the module: it is indexed and served by the API, whose statement of every household must equal
the report's."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from eth_account import Account
from eth_typing import ChecksumAddress, HexAddress, HexStr

from api.client import Wallet
from api.main import create_app
from chain.devchain import DevChain, dev_chain, free_port
from chain.node import Node
from gridshare.settings import Settings
from indexer.migrate import make_engine
from indexer.service import Indexer
from sim.chainrun import keep_deployment, simulate
from sim.community import load_community
from sim.offline import dry_run
from sim.profiles import community_profiles
from sim.report import bills_match, household_rows, write_report
from sim.runner import RunResult

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunResult, DevChain]]:
    """The simulated day on a private chain that stays up for the module."""
    community = load_community(HERE / "tiny.toml")
    deployments = tmp_path_factory.mktemp("sim-deployments").resolve()
    with dev_chain(deployments) as chain:
        yield simulate(community, 1, chain.network_id, Settings(), deployments), chain


@pytest.fixture(scope="module")
def run(live: tuple[RunResult, DevChain]) -> RunResult:
    return live[0]


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
    # Beside it, every statement to the n€ (the API test below compares it with /bills).
    assert run.statements is not None and run.dso_statement is not None
    kept = json.loads((tmp_path / "statements.json").read_text())
    assert (kept["from_slot"], kept["to_slot"]) == (0, len(run.slots) - 1)
    assert kept["households"] == {
        m.name: {"address": m.address, "lines": run.statements[m.name].as_dict()}
        for m in run.members
    }
    assert kept["dso"] == run.dso_statement.as_dict()
    assert "statements.json" in text


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


def test_the_api_statement_of_every_household_is_the_reports(
    live: tuple[RunResult, DevChain], tmp_path: Path
) -> None:
    """The chain indexed, the API served over real HTTP: each household signs in and its
    /bills for the period equals the report's statement, line by line, to the n€."""
    run, chain = live
    settings = Settings.model_validate(
        {
            "deployments_dir": chain.deployments_dir,
            "index_db_url": f"sqlite:///{tmp_path / 'index.db'}",
            "intent_pool_url": f"sqlite:///{tmp_path / 'intents.db'}",
            "api_port": free_port(),
            "api_session_secret": "test-secret",
        }
    )
    node = Node.from_settings(chain.network_id, settings)
    Indexer(node, make_engine(settings.index_db_url), batch_blocks=2000, confirmations=0).run_once()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, node), port=settings.api_port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        assert run.statements is not None
        with httpx.Client(base_url=f"http://127.0.0.1:{settings.api_port}", timeout=60) as c:
            for m in run.members:
                wallet = Wallet(c, Account.from_key(m.key))
                wallet.sign_in()
                r = wallet.get("/bills", params={"period": 0})
                assert r.status_code == 200, r.text
                body = r.json()
                report = run.statements[m.name]
                assert {x["key"]: x["amount"] for x in body["lines"]} == report.as_dict(), m.name
                assert body["net_cost"] == report["net_cost"] == run.ledgers[m.name].net_cost
                assert body["savings"] == report["savings"]
                assert body["bau_cost"] == report["bau_cost"]
                assert all(x["label"] and x["explanation"] for x in body["lines"])
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_statements_add_up_to_the_balances(run: RunResult) -> None:
    """Each member's statement moves its tokens by exactly what its balance moved."""
    assert run.statements is not None and run.dso_statement is not None
    for m in run.members:
        ledger = run.ledgers[m.name]
        moved = ledger.balance_end - ledger.balance_start
        assert run.statements[m.name]["token_change"] == moved, m.name
    c = next(m for m in run.members if m.name == "c")  # the battery's only lessee
    assert run.statements["c"]["battery_lease"] == 100_000_000
    assert run.statements["c"]["battery_result"] == -run.ledgers[c.name].battery_result
    assert run.dso_statement["dso_battery_lease"] == 100_000_000


def test_the_lessee_is_charged_its_lease_at_the_close_without_a_transaction(
    live: tuple[RunResult, DevChain],
) -> None:
    """The DSO set the battery lessee's lease once (LeaseSet); the period's close charged it
    with the service fee (PeriodBilled), and the lessee sent nothing but its one mandate for a
    battery loss, given at set-up."""
    run, chain = live
    node = Node.from_settings(chain.network_id, Settings(deployments_dir=chain.deployments_dir))
    c = next(m for m in run.members if m.name == "c")
    assert node.w3.eth.get_transaction_count(ChecksumAddress(HexAddress(HexStr(c.address)))) == 1
    (lease,) = node.events("ProfitSharing", "LeaseSet", from_block=0)
    assert (lease["args"]["member"], lease["args"]["perPeriod"]) == (c.address, 100_000_000)
    billed = {
        e["args"]["member"]: e for e in node.events("ProfitSharing", "PeriodBilled", from_block=0)
    }
    assert billed[c.address]["args"]["lease"] == 100_000_000
    assert {e["args"]["lease"] for m, e in billed.items() if m != c.address} == {0}
    tx = node.w3.eth.get_transaction(billed[c.address]["transactionHash"])
    assert tx["from"] == node.w3.eth.accounts[0]  # the DSO's close


def test_the_day_was_metered_by_one_span_per_meter(live: tuple[RunResult, DevChain]) -> None:
    """A run of whole days: each meter signed its day once and the relay sent every meter's
    span in one transaction; the day's slots waited for it (a reading deadline of a day)."""
    run, chain = live
    node = Node.from_settings(chain.network_id, Settings(deployments_dir=chain.deployments_dir))
    deadline = node.contract("ImbalanceSettlement").functions.readingDeadlineSeconds()
    assert int(node.call(deadline)) == 86_400
    assert node.events("MeterReadings", "ReadingAccepted", from_block=0) == []
    logs = node.events("MeterReadings", "ReadingSpanAccepted", from_block=0)
    assert sorted(len(e["args"]["readings"]) for e in logs) == [48] * len(run.members)
    (tx_hash,) = {str(e["transactionHash"]) for e in logs}
    tx = node.w3.eth.get_transaction(HexStr(tx_hash))
    call, args = node.contract("MeterReadings").decode_function_input(tx["input"])
    assert call.fn_name == "submitReadingSpans"
    assert sorted(len(span["readings"]) for span in args["spans"]) == [48] * len(run.members)
