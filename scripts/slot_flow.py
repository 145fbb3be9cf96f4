"""One slot's whole life on a development chain, as the matcher and the oracle run it: trades
settled at gate closure, meter-signed readings relayed after delivery, imbalance settled against
the meters. Shared by the demo and the gas benchmark; on a development chain time is moved
instead of waited for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from brownie import chain

from chain.codec import decode_rules
from chain.metering import pack_reading_word, positions, trade_words, word_member
from chain.signing import Reading, reading_typed_data, sign_typed_data
from chain.submission import SlotBook, clear_slot
from market.clearing import Clearing


def sleep_until(timestamp: int) -> None:
    """Move chain time to `timestamp` (if it is ahead) and mine a block."""
    delta = timestamp - chain.time()
    if delta > 0:
        chain.sleep(delta)
    chain.mine()


@dataclass(frozen=True)
class SettledSlot:
    book: SlotBook
    clearing: Clearing
    trades_tx: Any
    reading_txs: list[Any]
    imbalance_txs: list[Any]
    """One per chunk of members (see `settle_imbalance`)."""

    @property
    def gas(self) -> dict[str, int]:
        """Gas of each step: trades, readings (all batches), imbalance (all chunks)."""
        return {
            "trades": int(self.trades_tx.gas_used),
            "readings": sum(int(tx.gas_used) for tx in self.reading_txs),
            "imbalance": sum(int(tx.gas_used) for tx in self.imbalance_txs),
        }


def settle_imbalance(
    dep: Any,
    slot: int,
    words: list[int],
    trades: list[int],
    *,
    matcher: Any,
    tx_options: dict[str, Any] | None = None,
) -> list[Any]:
    """Settle `slot` against the meters for every chunk of members whose next slot it is, one
    transaction per chunk, as the matcher does: `words` are the slot's reading words in
    acceptance order (all chunks), `trades` its trade words. Returns the transactions."""
    opts = tx_options or {}
    by_chunk: dict[int, list[int]] = {}
    for word in words:
        by_chunk.setdefault(int(dep.community.chunkOf(word_member(word))), []).append(word)
    txs = []
    for chunk in range(int(dep.community.chunkCount())):
        if int(dep.imbalance.nextSlotOf(chunk)) != slot:
            continue
        chunk_words = by_chunk.get(chunk, [])
        members = [p.member for p in positions(chunk_words, trades)]
        txs.append(
            dep.imbalance.settleImbalance(
                slot, chunk, members, chunk_words, trades, {"from": matcher, **opts}
            )
        )
    return txs


def catch_up_trades(
    dep: Any, slot: int, *, matcher: Any, tx_options: dict[str, Any] | None = None
) -> list[Any]:
    """Settle the trades of every slot before `slot` not yet settled, each cleared from its
    on-chain book as the matcher does (slots settle strictly in order: `Settlement.nextSlot`;
    their gates must have closed). Returns the transactions."""
    opts = tx_options or {}
    txs = []
    for earlier in range(int(dep.settlement.nextSlot()), slot):
        rules = decode_rules(dep.community.tariffAt(earlier))
        _book, _clearing, sub = clear_slot(
            dep.order_book.slotBook(earlier), dep.order_book.slotOrderIds(earlier), rules
        )
        txs.append(dep.settlement.settleSlot(earlier, *sub.args(), {"from": matcher, **opts}))
    return txs


def settle_slot(
    dep: Any,
    slot: int,
    readings: list[tuple[Reading, str]],
    *,
    oracle: Any,
    matcher: Any,
    batch_size: int = 100,
    tx_options: dict[str, Any] | None = None,
) -> SettledSlot:
    """Settle `slot` end to end. `readings` pairs each reading with its meter's key; each meter
    signs its own and the oracle relays them in batches. Without readings the slot waits out its
    reading deadline; with them it settles once they are in. The trades of earlier slots not
    yet settled settle first (slots settle in order)."""
    opts = tx_options or {}
    sleep_until(int(dep.community.gateClosure(slot)) + 1)
    catch_up_trades(dep, slot, matcher=matcher, tx_options=opts)
    rules = decode_rules(dep.community.tariffAt(slot))
    book, clearing, sub = clear_slot(
        dep.order_book.slotBook(slot), dep.order_book.slotOrderIds(slot), rules
    )
    trades_tx = dep.settlement.settleSlot(slot, *sub.args(), {"from": matcher, **opts})
    delivered = int(dep.community.slotStart(slot + 1))
    sleep_until(delivered + 1 + (0 if readings else int(dep.imbalance.readingDeadlineSeconds())))
    words: list[int] = []
    reading_txs = []
    for start in range(0, len(readings), batch_size):
        batch = readings[start : start + batch_size]
        signatures = [
            sign_typed_data(reading_typed_data(r, chain.id, dep.readings.address), key)
            for r, key in batch
        ]
        tx = dep.readings.submitReadings(
            [r.as_tuple() for r, _ in batch], signatures, {"from": oracle, **opts}
        )
        reading_txs.append(tx)
        words += [
            pack_reading_word(e["member"], e["importWh"], e["exportWh"])
            for e in tx.events["ReadingAccepted"]
        ]
    trades = trade_words(book.entries, sub.fills)
    imbalance_txs = settle_imbalance(dep, slot, words, trades, matcher=matcher, tx_options=opts)
    return SettledSlot(book, clearing, trades_tx, reading_txs, imbalance_txs)
