"""The audit's only contact with the chain: every event of every contract of the deployment
manifest, and the state at the audited block to compare the replay with (through chain.node)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from audit.checks import addresses_seen
from audit.model import ChainState, Event
from chain.node import DecodedLog, Node
from chain.sharing import SHARING_KEY_CODES


def _plain(value: Any) -> Any:
    """JSON-native argument values: bytes as 0x-hex, structs and arrays as lists."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return [_plain(v) for v in value.values()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_event(log: DecodedLog) -> Event:
    return Event(
        contract=log.contract,
        name=log.name,
        args={k: _plain(v) for k, v in log.args.items()},
        block=log.block,
        log_index=log.log_index,
        tx=log.tx_hash,
    )


def fetch_events(node: Node, to_block: int, batch_blocks: int) -> list[Event]:
    """All events of the deployment from its first block to `to_block`, in chain order."""
    logs = node.manifest_logs(node.manifest.deployed_at_block, to_block, batch_blocks=batch_blocks)
    return [to_event(log) for log in node.decode_logs(logs)]


def fetch_state(node: Node, events: Sequence[Event], block: int) -> ChainState:
    """The chain at `block`: the contracts' immutable settings no event carries, the time of
    each block that settled intents or changed sharing terms, and the balances and debts of
    every address the events touch. The meter settlement is ImbalanceSettlement, or
    SharingSettlement in the `sharing` mode (which has no order book)."""
    token = node.contract("EnergyToken").functions
    sharing_mode = "SharingSettlement" in node.manifest.contracts
    ledger = node.contract("SharingSettlement" if sharing_mode else "ImbalanceSettlement").functions
    profit = node.contract("ProfitSharing").functions
    holders, debtors = addresses_seen(events)
    last: dict[int, int] = {}
    for e in events:
        if e.name in ("SlotDigest", "SharingSlotDigest"):
            chunk = int(e.args["chunk"])
            last[chunk] = max(last.get(chunk, -1), int(e.args["slot"]))
    last_digests = tuple(
        (slot, chunk, "0x" + bytes(node.call(ledger.digestAt(slot, chunk), block)).hex())
        for chunk, slot in sorted(last.items())
    )
    flex: dict[str, int] = {}
    if "Flexibility" in node.manifest.contracts:
        fx = node.contract("Flexibility").functions
        flex = {
            "flex_baseline_days": int(node.call(fx.baselineDays(), block)),
            "flex_lookback_days": int(node.call(fx.lookbackDays(), block)),
        }
    community = node.contract("Community").functions
    first_slot = int(node.call(ledger.firstSlot(), block))
    min_order_wh, trade_first_slot, sharing_key = 0, first_slot, ""
    if sharing_mode:
        code = int(node.call(ledger.key(), block))
        sharing_key = next(k for k, c in SHARING_KEY_CODES.items() if c == code).value
    else:
        settlement = node.contract("Settlement").functions
        min_order_wh = int(node.call(settlement.minOrderWh(), block))
        trade_first_slot = int(node.call(settlement.firstSlot(), block))
    timed_blocks = sorted(
        {
            e.block
            for e in events
            if (e.name == "SlotSettled" and e.args.get("intentAux"))
            or e.name == "SharingTermsScheduled"
        }
    )
    return ChainState(
        block=block,
        contracts=dict(node.manifest.contracts),
        share_bps=int(node.call(profit.shareBps(), block)),
        period_slots=int(node.call(ledger.periodSlots(), block)),
        first_slot=first_slot,
        total_supply=int(node.call(token.totalSupply(), block)),
        balances={a: int(node.call(token.balanceOf(a), block)) for a in sorted(holders)},
        debts={a: int(node.call(token.debtOf(a), block)) for a in sorted(debtors)},
        total_debt=int(node.call(token.totalDebt(), block)),
        block_times=tuple((b, node.block_timestamp(b)) for b in timed_blocks),
        last_digests=last_digests,
        slot_seconds=int(node.call(community.slotSeconds(), block)),
        genesis=int(node.call(community.genesis(), block)),
        min_order_wh=min_order_wh,
        trade_first_slot=trade_first_slot,
        sharing_key=sharing_key,
        **flex,
    )
