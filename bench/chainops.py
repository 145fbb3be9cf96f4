"""Driving a development chain as the services would, for the API benchmark and the API and
dashboard tests: time moved to a moment, a meter-signed reading relayed as the oracle does, and
the matcher's imbalance step up to a slot. Node accounts by index, as scripts/deploy.py assigns
them: 0 the DSO, 1 the oracle, 2 the matcher."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from chain.gateway import CommunityGateway, ImbalanceGateway, ReadingsGateway
from chain.node import Node, Sender
from chain.signing import Reading, reading_typed_data, sign_typed_data
from matcher.service import Matcher

ORACLE, MATCHER, DSO = 1, 2, 0


def _sender(node: Node, index: int) -> Sender:
    return Sender(str(node.w3.eth.accounts[index]))


def advance_to(node: Node, timestamp: int) -> None:
    """Move the chain's time to `timestamp` (if it is ahead) and mine a block there."""
    gap = timestamp - node.block_timestamp()
    if gap > 0:
        node.make_request("evm_increaseTime", [gap])
    dso = node.w3.eth.accounts[DSO]
    node.w3.eth.send_transaction(
        {"from": dso, "to": dso, "value": 0, "gasPrice": node.gas_price_wei}  # type: ignore[typeddict-item]
    )


def advance_past_reading_deadline(node: Node, slot: int) -> None:
    """Move time just past `slot`'s reading deadline: its delivery is over, and once its
    readings are in (or missing for good) its imbalance may be settled."""
    deadline = ImbalanceGateway(node).reading_deadline_seconds()
    advance_to(node, CommunityGateway(node).slot_start(slot + 1) + deadline + 1)


def submit_reading(node: Node, meter: LocalAccount, meter_id: bytes, reading: Reading) -> None:
    """`reading` signed by `meter` and relayed by the oracle's account."""
    readings = ReadingsGateway(node)
    signature = sign_typed_data(
        reading_typed_data(reading, node.manifest.chain_id, readings.address), meter.key
    )
    readings.submit_readings([reading], [signature], sender=_sender(node, ORACLE))


def settle_imbalance_through(node: Node, slot: int) -> None:
    """Have the matcher settle every slot's imbalance up to `slot` (their trades must be settled
    and their readings complete or their deadlines passed)."""
    Matcher(node, _sender(node, MATCHER)).settle_imbalances()
    assert ImbalanceGateway(node).next_slot() > slot
