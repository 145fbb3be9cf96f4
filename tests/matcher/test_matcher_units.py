"""The matcher's and chain.node's pure parts: calendar, node lookup, error decoding, retries."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from web3.exceptions import ContractLogicError

from chain.node import (
    ErrorDecoder,
    Manifest,
    Node,
    NodeError,
    NodeUnavailable,
    RetryPolicy,
    resolve_rpc_url,
    revert_data,
)
from gridshare.settings import Settings
from market.calendar import Calendar

GENESIS = 1_767_225_600
CAL = Calendar(genesis=GENESIS, slot_seconds=1800, gate_closure_seconds=300)


def test_calendar_matches_the_contracts_slot_arithmetic() -> None:
    assert CAL.slot_at(GENESIS - 1) == 0
    assert CAL.slot_at(GENESIS + 1799) == 0
    assert CAL.slot_at(GENESIS + 1800) == 1
    assert CAL.gate_closure(1) == GENESIS + 1500


@pytest.mark.parametrize(
    ("start", "end", "slots"),
    [
        (GENESIS - 86_400, GENESIS, range(0, 0)),  # before genesis: none
        (GENESIS - 1, GENESIS + 1, range(0, 1)),
        (GENESIS, GENESIS + 86_400, range(0, 48)),  # a day of 30-minute slots
        (GENESIS + 1, GENESIS + 3600, range(1, 2)),  # slot 0 starts before `start`
        (GENESIS + 3600, GENESIS + 3601, range(2, 3)),
        (GENESIS + 3601, GENESIS + 3602, range(3, 3)),  # no slot starts inside
    ],
)
def test_slots_starting_in_a_range(start: int, end: int, slots: range) -> None:
    assert CAL.slots_starting_in(start, end) == slots
    assert all(start <= CAL.slot_start(s) < end for s in slots)


@pytest.mark.parametrize(
    ("now", "last"),
    [
        (GENESIS - 301, None),  # slot 0's gate has not closed yet
        (GENESIS - 300, 0),  # closes exactly now: due (block.timestamp >= gateClosure)
        (GENESIS + 1499, 0),
        (GENESIS + 1500, 1),
        (GENESIS + 10 * 1800, 10),
    ],
)
def test_last_due_slot_is_the_latest_closed_gate(now: int, last: int | None) -> None:
    assert CAL.last_due_slot(now) == last
    if last is not None:
        assert CAL.gate_closure(last) <= now < CAL.gate_closure(last + 1)


NETWORK_CONFIG = """
development:
- cmd: ganache-cli
  cmd_settings: {port: 8545, accounts: 10}
  host: http://127.0.0.1
  id: ganache-cli
- cmd: ganache-cli
  cmd_settings: {port: 40123}
  host: http://127.0.0.1
  id: gridshare-dev-40123
live:
- name: Ethereum
  networks:
  - chainid: 11155111
    host: https://rpc.example.org
    id: sepolia-gridshare
"""


def test_rpc_url_comes_from_brownies_network_config(tmp_path: Path) -> None:
    config = tmp_path / "network-config.yaml"
    config.write_text(NETWORK_CONFIG)
    settings = Settings(brownie_network_config=config)
    assert resolve_rpc_url("ganache-cli", settings) == "http://127.0.0.1:8545"
    assert resolve_rpc_url("gridshare-dev-40123", settings) == "http://127.0.0.1:40123"
    assert resolve_rpc_url("sepolia-gridshare", settings) == "https://rpc.example.org"
    with pytest.raises(NodeError, match="not in"):
        resolve_rpc_url("nowhere", settings)
    override = settings.model_copy(update={"rpc_url": "http://node:9999"})
    assert resolve_rpc_url("ganache-cli", override) == "http://node:9999"


ABI: list[dict[str, Any]] = [
    {
        "type": "error",
        "name": "SettlementAlreadySettled",
        "inputs": [{"name": "slot", "type": "uint64"}],
    },
    {
        "type": "error",
        "name": "Pairs",
        "inputs": [
            {"name": "p", "type": "tuple[]", "components": [{"name": "a", "type": "uint8"}]}
        ],
    },
    {"type": "function", "name": "f", "inputs": [], "outputs": []},
]


def test_revert_data_decodes_to_the_custom_error() -> None:
    decoder = ErrorDecoder.from_abis([ABI])
    data = keccak(text="SettlementAlreadySettled(uint64)")[:4] + encode(["uint64"], [42])
    assert decoder.decode(data) == ("SettlementAlreadySettled", (42,))
    assert keccak(text="Pairs((uint8)[])")[:4] in decoder.errors
    assert decoder.decode(b"\x01\x02\x03\x04") == (None, ())
    # ganache puts the revert bytes under data.result, geth and anvil give them directly.
    ganache = ContractLogicError("reverted", data={"result": "0x" + data.hex()})
    geth = ContractLogicError("reverted", data="0x" + data.hex())
    assert revert_data(ganache) == revert_data(geth) == data


def _node(retry: RetryPolicy, slept: list[float]) -> Node:
    manifest = Manifest("test", 1337, 1, {}, {})
    return Node(
        "http://127.0.0.1:1",
        manifest,
        retry,
        gas_price_wei=1,
        rpc_timeout_seconds=1,
        tx_timeout_seconds=1,
        sleep=slept.append,
    )


def test_connection_failures_are_retried_with_backoff_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    slept: list[float] = []
    node = _node(RetryPolicy(0.5, 3.0, 0), slept)
    failures = iter([ConnectionRefusedError()] * 5)

    def request() -> str:
        for exc in failures:
            raise exc
        return "ok"

    with caplog.at_level(logging.WARNING, logger="chain.node"):
        assert node.rpc("eth_blockNumber", request) == "ok"
    assert slept == [0.5, 1.0, 2.0, 3.0, 3.0]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable (eth_blockNumber, attempt" in m for m in messages) == 5
    assert messages[-1].endswith("is back after 5 failed attempts")


def test_it_gives_up_after_the_retry_limit() -> None:
    slept: list[float] = []
    node = _node(RetryPolicy(0.1, 1.0, 3), slept)

    def request() -> str:
        raise ConnectionRefusedError()

    with pytest.raises(NodeUnavailable, match="after 3 attempts"):
        node.rpc("eth_chainId", request)
    assert slept == [0.1, 0.2]
