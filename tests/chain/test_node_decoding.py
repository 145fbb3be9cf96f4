"""`Node.decode_logs` on logs built by hand (pure logic: no node is asked anything): the event
table a node builds on first use, shared by the API's threads."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from chain.node import DecodedLog, Manifest, Node, RetryPolicy

BUILD = Path(__file__).resolve().parents[2] / "build" / "contracts"
CONTRACTS = (
    "EnergyToken",
    "Community",
    "OrderBook",
    "Settlement",
    "MeterReadings",
    "ImbalanceSettlement",
    "ProfitSharing",
    "Membership",
    "Flexibility",
    "SettlementRouter",
    "SharingSettlement",
)
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b0" * 20


def _node() -> Node:
    addresses = {name: "0x" + f"{i + 1:040x}" for i, name in enumerate(CONTRACTS)}
    abis = {name: json.loads((BUILD / f"{name}.json").read_text())["abi"] for name in CONTRACTS}
    manifest = Manifest("unit", 1337, 0, addresses, abis)  # type: ignore[arg-type]
    return Node(
        "http://127.0.0.1:9",  # never asked
        manifest,
        RetryPolicy(0.01, 0.01, 1),
        gas_price_wei=0,
        rpc_timeout_seconds=0.1,
        tx_timeout_seconds=0.1,
    )


def _transfer(token: str, value: int) -> dict[str, Any]:
    """A Transfer log of `token` from ALICE to BOB, as the node returns it."""
    return {
        "address": token,
        "topics": [
            HexBytes(keccak(text="Transfer(address,address,uint256)")),
            HexBytes(encode(["address"], [ALICE])),
            HexBytes(encode(["address"], [BOB])),
        ],
        "data": HexBytes(encode(["uint256"], [value])),
        "blockNumber": 7,
        "logIndex": 3,
        "transactionHash": HexBytes(b"\x11" * 32),
    }


def test_a_log_decodes_with_checksummed_addresses() -> None:
    node = _node()
    (log,) = node.decode_logs([_transfer(node.manifest.contracts["EnergyToken"], 42)])
    assert log == DecodedLog(
        "EnergyToken",
        "Transfer",
        {
            "from": to_checksum_address(ALICE),
            "to": to_checksum_address(BOB),
            "value": 42,
        },
        7,
        3,
        "0x" + "11" * 32,
    )


def test_threads_that_decode_first_never_see_the_event_table_half_built() -> None:
    """The first calls of many threads at once (as the API's first requests come) all decode:
    the table is published whole, or a thread finds a log of a contract not yet in it."""
    failures: list[BaseException] = []
    for _ in range(20):
        node = _node()
        log = _transfer(node.manifest.contracts["EnergyToken"], 1)
        start = threading.Barrier(8)

        def decode(node: Node = node, log: dict[str, Any] = log, start: Any = start) -> None:
            start.wait()
            try:
                assert node.decode_logs([log])[0].name == "Transfer"
            except BaseException as exc:  # collected for the assertion below
                failures.append(exc)

        threads = [threading.Thread(target=decode) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []
