"""Driving a development chain as the services would, for the benchmarks and the API and
dashboard tests: a meter-signed reading relayed as the oracle does, the matcher's imbalance step
up to a slot, and the gas of what was mined (time travel is chain/devchain.py's). Node accounts
by index, as scripts/deploy.py assigns them: 0 the DSO, 1 the oracle, 2 the matcher."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from chain.devchain import dev_sender
from chain.gateway import ImbalanceGateway, ReadingsGateway
from chain.node import Node
from chain.signing import Reading, reading_typed_data, sign_typed_data
from matcher.service import Matcher

ORACLE, MATCHER, DSO = 1, 2, 0


def submit_reading(node: Node, meter: LocalAccount, meter_id: bytes, reading: Reading) -> None:
    """`reading` signed by `meter` and relayed by the oracle's account."""
    readings = ReadingsGateway(node)
    signature = sign_typed_data(
        reading_typed_data(reading, node.manifest.chain_id, readings.address), meter.key
    )
    readings.submit_readings([reading], [signature], sender=dev_sender(node, ORACLE))


def settle_imbalance_through(node: Node, slot: int) -> None:
    """Have the matcher settle every slot's imbalance up to `slot` (their trades must be settled
    and their readings complete or their deadlines passed)."""
    Matcher(node, dev_sender(node, MATCHER)).settle_imbalances()
    assert ImbalanceGateway(node).next_slot() > slot


def gas_by_function(node: Node, from_block: int) -> dict[str, list[int]]:
    """Gas of every transaction into the deployment since `from_block`, by function name, in
    chain order."""
    out: dict[str, list[int]] = {}
    for _contract, function, gas in node.mined_calls(from_block):
        out.setdefault(function, []).append(gas)
    return out
