"""`gridshare audit` as a user runs it, against a real ganache on which the matcher, the meters
and the DSO ran a few slots in every clearing mode (tests/audit/scenario.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from audit.checks import audit
from audit.fetch import event_value, fetch_events, fetch_state
from audit.model import Event
from chain.devchain import DevChain, free_port
from chain.events import unpacked
from chain.node import Node
from gridshare.cli import app
from tests.audit.scenario import audit_env

GRIDSHARE = os.path.join(os.path.dirname(sys.executable), "gridshare")


def run_audit(chain: DevChain, *options: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GRIDSHARE, "audit", "--network", chain.network_id, *options],
        env={**os.environ, **audit_env(chain), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_audit_of_the_live_chain_passes(scenario: tuple[DevChain, Node]) -> None:
    chain, _node = scenario
    done = run_audit(chain)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "slots checked: 9 trades (0..8), 8 against meters (0..7)" in done.stdout
    assert "periods checked: 2 [0, 1]" in done.stdout
    assert "discrepancies: 0" in done.stdout

    as_json = run_audit(chain, "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["ok"] is True
    assert report["discrepancies"] == []
    assert (report["slots_checked"], report["slots"], report["slots_metered"]) == (9, [0, 8], 8)
    assert report["periods_checked"] == [0, 1]
    assert report["events_read"] > 200


def test_audit_at_an_earlier_block_sees_the_chain_as_it_was(
    scenario: tuple[DevChain, Node],
) -> None:
    chain, node = scenario
    events = fetch_events(node, node.block_number(), 1_000)
    closed = next(e for e in events if e.name == "PeriodClosed")
    # The chain as of the first period's close: fewer slots, one period, still consistent.
    done = run_audit(chain, "--json", "--block", str(closed.block))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["periods_checked"] == [0]
    assert report["slots_metered"] == 4
    assert report["block"] == closed.block


def test_events_fetched_in_small_batches_are_the_same(scenario: tuple[DevChain, Node]) -> None:
    _chain, node = scenario
    head = node.block_number()
    events = fetch_events(node, head, 7)
    assert events == fetch_events(node, head, 10_000)
    assert audit(events, fetch_state(node, events, head)).ok


def test_events_decode_as_web3_decodes_them(scenario: tuple[DevChain, Node]) -> None:
    """The audit's decoder (the indexer's codec) and web3's own decoding give the same
    arguments for every log of the scenario (every clearing mode, meters, flexibility, the
    tariff's struct, arrays, hashed and plain topics, packed figures)."""
    _chain, node = scenario
    logs = node.manifest_logs(node.manifest.deployed_at_block, node.block_number())
    ours = node.decode_logs(logs)
    assert len(ours) == len(logs)
    for log, mine in zip(logs, ours, strict=True):
        reference = node.contract(mine.contract).events[mine.name]().process_log(log)
        assert reference["event"] == mine.name
        # A packed argument's figures are unpacked from web3's word (chain.events.PACKED_ARGS).
        web3_args = unpacked(mine.name, reference["args"])
        expected = {k: event_value(v) for k, v in web3_args.items()}
        assert {k: event_value(v) for k, v in mine.args.items()} == expected, mine
        for name, value in reference["args"].items():
            if isinstance(value, str):  # addresses: checksummed, as web3 gives them
                assert mine.args[name] == value
    kinds = {(e.contract, e.name) for e in ours}
    assert ("Community", "TariffScheduled") in kinds and ("Settlement", "SlotSettled") in kinds
    assert len(kinds) >= 20, sorted(kinds)


def test_events_filtered_are_exactly_the_matching_logs(scenario: tuple[DevChain, Node]) -> None:
    """`Node.events` filters indexed arguments in the node's topics and the others on the
    decoded logs: the same events as picking them out of every log by hand."""
    _chain, node = scenario
    every = node.decode_logs(
        node.manifest_logs(node.manifest.deployed_at_block, node.block_number())
    )

    def by_hand(contract: str, event: str, **match: object) -> list[tuple[int, int]]:
        return [
            (e.block, e.log_index)
            for e in every
            if e.contract == contract
            and e.name == event
            and all(e.args[k] == v for k, v in match.items())
        ]

    def got(contract: str, event: str, **match: object) -> list[tuple[int, int]]:
        events = node.events(contract, event, from_block=0, argument_filters=match)
        return [(e["blockNumber"], e["logIndex"]) for e in events]

    placed = [e for e in every if e.name == "OrderPlaced"]
    owner, slot = placed[-1].args["owner"], placed[-1].args["slot"]
    settled = next(e for e in every if e.name == "SlotSettled").args["slot"]
    cases: list[tuple[str, str, dict[str, object]]] = [
        ("OrderBook", "OrderPlaced", {}),
        ("OrderBook", "OrderPlaced", {"owner": owner}),  # indexed, an address
        ("OrderBook", "OrderPlaced", {"owner": owner, "slot": slot}),  # two indexed
        ("Settlement", "SlotSettled", {"slot": settled}),  # indexed, an integer
        ("MeterReadings", "ReadingAccepted", {"slot": settled}),
        ("EnergyToken", "Transfer", {"value": 1}),  # not indexed: on the decoded logs
    ]
    for contract, event, match in cases:
        assert got(contract, event, **match) == by_hand(contract, event, **match), (event, match)
    assert 0 < len(got("OrderBook", "OrderPlaced", owner=owner)) < len(placed)


def test_a_discrepancy_exits_1(
    scenario: tuple[DevChain, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain's real events with one fee changed on the way in."""
    chain, _node = scenario
    real = fetch_events

    def tampered(node: Node, to_block: int, batch_blocks: int) -> list[Event]:
        out = real(node, to_block, batch_blocks)
        i = next(k for k, e in enumerate(out) if e.name == "SlotSettled" and e.args["volumeWh"])
        out[i] = dataclasses.replace(out[i], args={**out[i].args, "platformFees": 1})
        return out

    monkeypatch.setattr("audit.fetch.fetch_events", tampered)
    for key, value in audit_env(chain).items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["audit", "--network", chain.network_id])
    assert result.exit_code == 1, result.output
    assert "platform-fee" in result.output and "FAILED" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_usage_and_connection_errors_exit_2(scenario: tuple[DevChain, Node]) -> None:
    chain, _node = scenario
    unknown = subprocess.run(
        [GRIDSHARE, "audit", "--network", "no-such-network"],
        env={**os.environ, **audit_env(chain)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert unknown.returncode == 2
    assert "no-such-network" in unknown.stderr
    away = run_audit(
        chain,
        GRIDSHARE_RPC_URL=f"http://127.0.0.1:{free_port()}",
        GRIDSHARE_RPC_RETRY_LIMIT="2",
        GRIDSHARE_RPC_RETRY_INITIAL_SECONDS="0.05",
    )
    assert away.returncode == 2
    assert "unreachable" in away.stderr
    future = run_audit(chain, "--block", "100000000")
    assert future.returncode == 2
    assert "not between the deployment block" in future.stderr
    missing = subprocess.run([GRIDSHARE, "audit"], capture_output=True, text=True, check=False)
    assert missing.returncode == 2
