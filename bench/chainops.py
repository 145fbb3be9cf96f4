"""Driving a development chain as the services would, for the benchmarks and the API and
dashboard tests: members registered with meters, meter-signed readings relayed as the oracle
does, the matcher's imbalance step up to a slot, and the gas of what was mined (time travel is
chain/devchain.py's). Node accounts by index, as scripts/deploy.py assigns them: 0 the DSO, 1 the
oracle, 2 the matcher."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount

from bench.matcher import register_members, send_setup
from chain.devchain import dev_accounts, dev_sender, wait_for_nonce
from chain.gateway import CommunityGateway, EnergyTokenGateway, ImbalanceGateway, ReadingsGateway
from chain.node import Node, Sender
from chain.signing import (
    Reading,
    ReadingSpan,
    reading_span_typed_data,
    reading_typed_data,
    sign_typed_data,
)
from matcher.service import Matcher

ORACLE, MATCHER, DSO = 1, 2, 0
WINDOW = 500  # members registered per round of set-up transactions
SUPPLY_FLOAT = 10**12  # n€


def sign_readings(
    node: Node, readings: Sequence[tuple[Reading, LocalAccount]]
) -> list[tuple[Reading, bytes]]:
    """Each reading signed by its meter's key (EIP-712, for the deployment's MeterReadings)."""
    verifying = ReadingsGateway(node).address
    return [
        (r, sign_typed_data(reading_typed_data(r, node.manifest.chain_id, verifying), meter.key))
        for r, meter in readings
    ]


def relay_signed(
    node: Node,
    signed: Sequence[tuple[Reading, bytes]],
    per_tx: int,
    gas: int | None = None,
) -> None:
    """Signed readings relayed by the oracle's account, `per_tx` to a transaction (`gas`: a
    fixed gas limit instead of the estimate)."""
    readings, oracle = ReadingsGateway(node), dev_sender(node, ORACLE)
    for start in range(0, len(signed), per_tx):
        part = signed[start : start + per_tx]
        readings.submit_readings([r for r, _ in part], [s for _, s in part], sender=oracle, gas=gas)


def submit_reading(node: Node, meter: LocalAccount, meter_id: bytes, reading: Reading) -> None:
    """`reading` signed by `meter` and relayed by the oracle's account."""
    relay_signed(node, sign_readings(node, [(reading, meter)]), 1)


def submit_span(node: Node, meter: LocalAccount, span: ReadingSpan) -> None:
    """`span` signed once by `meter` and relayed by the oracle's account."""
    typed = reading_span_typed_data(span, node.manifest.chain_id, ReadingsGateway(node).address)
    ReadingsGateway(node).submit_reading_spans(
        [span], [sign_typed_data(typed, meter.key)], sender=dev_sender(node, ORACLE)
    )


def metered_members(
    node: Node, members: int, rng: random.Random, label: str
) -> tuple[list[Any], list[bytes]]:
    """Register `members` keyed prosumers, each with a meter signed by its own key (any key
    works for a benchmark), in windows (a node with tens of thousands of pending transactions
    slows to a crawl), and give the DSO's supply account a float to buy and sell the
    imbalance. Returns the members' keys and their meters' ids."""
    dso = dev_accounts(node)[DSO]
    community = CommunityGateway(node)
    keys: list[Any] = []
    meter_ids: list[bytes] = []
    for start in range(0, members, WINDOW):
        part, nonce = register_members(node, min(WINDOW, members - start), rng, f"{label}-{start}")
        wait_for_nonce(node, dso, nonce, timeout=1800)
        for i, key in enumerate(part):
            meter_id = f"{label}-meter-{start + i}".encode().ljust(32, b"\0")
            send_setup(
                node, dso, community.register_meter_call(meter_id, key.address, key.address), nonce
            )
            nonce += 1
            meter_ids.append(meter_id)
        wait_for_nonce(node, dso, nonce, timeout=1800)
        keys += part
    ref = f"{label}-supply".encode().ljust(32, b"\0")
    EnergyTokenGateway(node).top_up(
        community.supply_account(), SUPPLY_FLOAT, ref, sender=Sender(dso)
    )
    return keys, meter_ids


def settle_imbalance_through(node: Node, slot: int) -> None:
    """Have the matcher settle every slot's imbalance up to `slot` (their trades must be settled
    and their readings complete or their deadlines passed)."""
    Matcher(node, dev_sender(node, MATCHER)).settle_imbalances()
    assert ImbalanceGateway(node).next_slot() > slot


def gas_by_function(node: Node, from_block: int) -> dict[str, list[int]]:
    """Gas of every transaction into the deployment since `from_block`, by function name, in
    chain order."""
    out: dict[str, list[int]] = {}
    for _contract, function, gas, _hash in node.mined_calls(from_block):
        out.setdefault(function, []).append(gas)
    return out
