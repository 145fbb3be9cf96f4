"""The audit's only contact with the chain: every event of every contract of the deployment
manifest (through chain.node), and the state at the audited block to compare the replay with
(through chain/gateway.py, read at that block)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from audit.checks import addresses_seen
from audit.model import ChainState, Event
from chain.gateway import (
    CommunityGateway,
    EnergyTokenGateway,
    FlexibilityGateway,
    ProfitSharingGateway,
    SettlementGateway,
    SharingGateway,
    period_ledger,
)
from chain.node import DecodedLog, Node, at_block


def event_value(value: Any) -> Any:
    """JSON-native argument values: bytes as 0x-hex, structs and arrays as lists."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return [event_value(v) for v in value.values()]
    if isinstance(value, list | tuple):
        return [event_value(v) for v in value]
    return value


def to_event(log: DecodedLog) -> Event:
    return Event(
        contract=log.contract,
        name=log.name,
        args={k: event_value(v) for k, v in log.args.items()},
        block=log.block,
        log_index=log.log_index,
        tx=log.tx_hash,
    )


def fetch_events(node: Node, to_block: int, batch_blocks: int) -> list[Event]:
    """All events of the deployment from its first block to `to_block`, in chain order."""
    batches = node.manifest_log_batches(node.manifest.deployed_at_block, to_block, batch_blocks)
    # Decoded batch by batch: the raw logs of one range at a time are alive, not the chain's.
    return [to_event(log) for logs in batches for log in node.decode_logs(logs)]


def fetch_state(node: Node, events: Sequence[Event], block: int) -> ChainState:
    """The chain at `block`: the contracts' immutable settings no event carries, the time of
    each block that settled intents or changed sharing terms, and the balances and debts of
    every address the events touch. The meter settlement is ImbalanceSettlement, or
    SharingSettlement in the `sharing` mode (which has no order book)."""
    at = at_block(node, block)
    token = EnergyTokenGateway(at)
    ledger = period_ledger(at)
    community = CommunityGateway(at)
    holders, debtors = addresses_seen(events)
    last: dict[int, int] = {}
    for e in events:
        if e.name in ("SlotDigest", "SharingSlotDigest"):
            chunk = int(e.args["chunk"])
            last[chunk] = max(last.get(chunk, -1), int(e.args["slot"]))
    last_digests = tuple(
        (slot, chunk, "0x" + ledger.digest_at(slot, chunk).hex())
        for chunk, slot in sorted(last.items())
    )
    flex: dict[str, int] = {}
    if "Flexibility" in node.manifest.contracts:
        fx = FlexibilityGateway(at)
        flex = {"flex_baseline_days": fx.baseline_days(), "flex_lookback_days": fx.lookback_days()}
    first_slot = ledger.first_slot()
    min_order_wh, trade_first_slot, sharing_key = 0, first_slot, ""
    if isinstance(ledger, SharingGateway):
        sharing_key = ledger.sharing_key().value
    else:
        settlement = SettlementGateway(at)
        min_order_wh = settlement.min_order_wh()
        trade_first_slot = settlement.first_slot()
    timed_blocks = sorted(
        {
            e.block
            for e in events
            if (e.name == "SlotSettled" and e.args.get("intentAux"))
            or e.name in ("SharingTermsScheduled", "SharingHoursScheduled")
        }
    )
    return ChainState(
        block=block,
        contracts=dict(node.manifest.contracts),
        share_bps=ProfitSharingGateway(at).share_bps(),
        period_slots=ledger.period_slots(),
        first_slot=first_slot,
        total_supply=token.total_supply(),
        balances={a: token.balance_of(a) for a in sorted(holders)},
        debts={a: token.debt_of(a) for a in sorted(debtors)},
        total_debt=token.total_debt(),
        block_times=tuple((b, node.block_timestamp(b)) for b in timed_blocks),
        last_digests=last_digests,
        slot_seconds=community.slot_seconds(),
        genesis=community.genesis(),
        min_order_wh=min_order_wh,
        trade_first_slot=trade_first_slot,
        sharing_key=sharing_key,
        **flex,
    )
