"""Relaying signed readings and spans from the outbox to MeterReadings, exactly once.

Per batch: the readings (or spans: a meter's readings of consecutive slots signed once, sent by
`submitReadingSpans`) are marked `sent` with the transaction's hash before it is broadcast, and
`done` once its receipt is in. After a crash, `reconcile` settles every `sent` item from what
the chain says: included (its receipt succeeded, or the contract's replay word for the meter is
at or past its (last) slot) → done; otherwise back to pending. The contract refuses a second
copy of a reading (MeterReadingsDuplicate), so a reading can reach the chain at most once, and
the outbox ensures at least once.

A batch is all-or-nothing on-chain and every refusal names the item's index: an item the chain
already has is marked done, one whose slot has not ended on-chain waits, and any other is
quarantined with the contract's error (and logged) and the rest of the batch is sent again.
Single readings go first, then spans, each oldest slot first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine, Table

from chain.gateway import Mined, ReadingsGateway
from chain.node import Node, NodeError, Sender, TransactionReverted
from chain.signing import Reading, ReadingSpan
from gridshare.settings import BATCH_GAS
from market.calendar import Calendar
from oracle import outbox
from oracle.outbox import StoredReading, StoredSpan
from oracle.samples import meter_id

log = logging.getLogger(__name__)

# Upper bound of one reading's gas in a batch (a meter's first reading writes its replay word from
# zero: ~41k measured, docs/benchmarks.md); a batch stays within its gas budget at this bound.
GAS_PER_READING_BOUND = 45_000
# The same bound for a reading in a span, and for a span's own part (signature recovery, meter
# lookup, a meter's first replay word). MeterReadings commits a batch's readings slot by slot, so
# each slot's commitments are written once per transaction, and announces each span in one event
# (ReadingSpanAccepted): a day span of 100 meters measured 4,118 gas per reading in batches of 30
# spans (7,429 when each reading had its own event), and 3,674 in this bound's batches of 51 and
# 49, the largest transaction 10.6M gas (docs/benchmarks.md, "oracle: gas per reading relayed as
# day spans"). 51 day spans fit in the default budget (15M) at these bounds. Since stop 36 a
# reading that exports also adds to its member's and the community's period export (warm words
# after a span's first such reading): with 40 % of the meters exporting in every slot,
# bench.sharing_gas measured 4,066-4,127 gas per span reading and 13.0M gas for its largest
# batch of 51 day spans, still within the bound.
GAS_PER_SPAN_READING_BOUND = 4_800
GAS_PER_SPAN_BOUND = 60_000
WAIT = "MeterReadingsNotDelivered"
ALREADY = (
    "MeterReadingsDuplicate",
    "MeterReadingsOutOfOrder",
    "MeterReadingsSequenceNotIncreasing",
)


@dataclass
class RelayStats:
    sent: int = 0
    """Readings sent (those in spans included)."""
    spans_sent: int = 0
    transactions: int = 0
    gas_used: int = 0
    already_on_chain: int = 0
    quarantined: int = 0
    reconciled_done: int = 0
    reconciled_pending: int = 0


Item = TypeVar("Item", StoredReading, StoredSpan)
OnSigned = Callable[[str], None]


@dataclass(frozen=True)
class _Kind(Generic[Item]):
    """What the relay does with one kind of outbox item (single readings or spans)."""

    name: str
    pending: Callable[[Connection, str, int | None, int | None], list[Item]]
    table: Table
    """The outbox's table of the kind (`outbox.set_state`)."""
    key: Callable[[Item], tuple[str, int]]
    last_slot: Callable[[Item], int]
    raw: Callable[[Item], str]
    size: Callable[[Item], int]
    """Readings in one item."""
    submit: Callable[[ReadingsGateway, Sequence[Item], list[bytes], Sender, OnSigned], Mined]
    """Sends a batch with its signatures, as the sender, telling `OnSigned` its hash first."""


READINGS = _Kind[StoredReading](
    "reading",
    lambda conn, state, last, limit: outbox.in_state(conn, state, last_slot=last, limit=limit),
    outbox.readings,
    lambda r: (r.meter, r.slot),
    lambda r: r.slot,
    lambda r: f"{r.meter},{r.slot},{r.import_wh},{r.export_wh},{r.sequence}",
    lambda r: 1,
    lambda gateway, batch, signatures, sender, on_signed: gateway.submit_readings(
        [Reading(meter_id(r.meter), r.slot, r.import_wh, r.export_wh, r.sequence) for r in batch],
        signatures,
        sender=sender,
        on_signed=on_signed,
    ),
)
SPANS = _Kind[StoredSpan](
    "span",
    lambda conn, state, last, limit: outbox.spans_in_state(
        conn, state, last_slot=last, limit=limit
    ),
    outbox.spans,
    lambda s: (s.meter, s.first_slot),
    lambda s: s.last_slot,
    lambda s: f"{s.meter},{s.first_slot},{s.first_sequence},{outbox.encode_energy(s.energy)}",
    lambda s: len(s.energy),
    lambda gateway, batch, signatures, sender, on_signed: gateway.submit_reading_spans(
        [ReadingSpan(meter_id(s.meter), s.first_slot, s.first_sequence, s.energy) for s in batch],
        signatures,
        sender=sender,
        on_signed=on_signed,
    ),
)


class Relay:
    """Sends the outbox's pending readings and spans as `sender` (which must hold the ORACLE
    role). `batch_size`: single readings, or spans, per transaction; at most as many as keep it
    within `batch_gas` (and half a block) at the gas bounds above."""

    def __init__(
        self,
        engine: Engine,
        node: Node,
        sender: Sender,
        calendar: Calendar,
        batch_size: int,
        batch_gas: int = BATCH_GAS,
    ) -> None:
        self.engine = engine
        self.node = node
        self.sender = sender
        self.calendar = calendar
        self.readings = ReadingsGateway(node)
        self.batch_gas = min(batch_gas, node.block_gas_limit() // 2)
        self.batch_size = max(1, min(batch_size, self.batch_gas // GAS_PER_READING_BOUND))
        self.span_batch_size = max(1, batch_size)

    def on_chain(self, meter: str, slot: int) -> bool:
        """Whether the chain holds this meter's reading for `slot` or a later one."""
        last = self.readings.last_reading(meter_id(meter))
        return last.any and last.slot >= slot

    def reconcile(self, stats: RelayStats) -> None:
        """Settle readings and spans left `sent` by a run that stopped before their receipt."""
        self._reconcile(READINGS, stats)
        self._reconcile(SPANS, stats)

    def _reconcile(self, kind: _Kind[Item], stats: RelayStats) -> None:
        with self.engine.connect() as conn:
            sent = kind.pending(conn, outbox.SENT, None, None)
        by_tx: dict[str | None, list[Item]] = {}
        for item in sent:
            by_tx.setdefault(item.tx_hash, []).append(item)
        done_count = again_count = 0
        for tx_hash, items in by_tx.items():
            receipt = self.node.receipt(tx_hash) if tx_hash else None
            if receipt is not None and receipt["status"] == 1:
                done, block = items, int(receipt["blockNumber"])
            else:
                done = [i for i in items if self.on_chain(i.meter, kind.last_slot(i))]
                block = None
            again = [i for i in items if i not in done]
            with self.engine.begin() as conn:
                outbox.set_state(
                    conn,
                    kind.table,
                    [kind.key(i) for i in done],
                    outbox.DONE,
                    tx_hash=tx_hash,
                    block_number=block,
                )
                outbox.set_state(conn, kind.table, [kind.key(i) for i in again], outbox.PENDING)
            done_count += len(done)
            again_count += len(again)
        stats.reconciled_done += done_count
        stats.reconciled_pending += again_count
        if sent:
            log.info(
                "reconciled %d %s(s) left in flight: %d on chain, %d to send again",
                len(sent),
                kind.name,
                done_count,
                again_count,
            )

    def run_once(self) -> RelayStats:
        """Reconcile, then send every pending reading, and every pending span, whose (last)
        slot has ended on-chain."""
        stats = RelayStats()
        self.reconcile(stats)
        now = self.node.block_timestamp()
        last_ended = self.calendar.slot_at(now) - 1
        while True:
            with self.engine.connect() as conn:
                batch = outbox.in_state(
                    conn, outbox.PENDING, last_slot=last_ended, limit=self.batch_size
                )
            if not batch:
                break
            if not self._send(READINGS, batch, stats):
                return stats
        while True:
            with self.engine.connect() as conn:
                spans = self._span_batch(conn, last_ended)
            if not spans or not self._send(SPANS, spans, stats):
                return stats

    def _span_batch(self, conn: Connection, last_ended: int) -> list[StoredSpan]:
        """The oldest pending spans, at most `span_batch_size`, that fit in `batch_gas`."""
        pending = outbox.spans_in_state(
            conn, outbox.PENDING, last_slot=last_ended, limit=self.span_batch_size
        )
        return spans_within(pending, self.batch_gas)

    def _send(self, kind: _Kind[Item], batch: list[Item], stats: RelayStats) -> bool:
        """Send one batch (less any item the chain refuses). False: stop this pass."""
        while batch:
            keys: list[tuple[str, int]] = [kind.key(i) for i in batch]
            signatures = [bytes.fromhex(i.signature[2:]) for i in batch]

            def mark_sent(tx_hash: str, keys: list[tuple[str, int]] = keys) -> None:
                with self.engine.begin() as conn:
                    outbox.set_state(conn, kind.table, keys, outbox.SENT, tx_hash=tx_hash)

            try:
                mined = kind.submit(self.readings, batch, signatures, self.sender, mark_sent)
            except TransactionReverted as exc:
                if not exc.error_args or not isinstance(exc.error_args[0], int):
                    raise
                rest = self._refused(kind, batch, exc, stats)
                if rest is None:
                    return False
                batch = rest
                continue
            with self.engine.begin() as conn:
                outbox.set_state(
                    conn,
                    kind.table,
                    keys,
                    outbox.DONE,
                    tx_hash=mined.tx_hash,
                    block_number=mined.block_number,
                )
            readings = sum(kind.size(i) for i in batch)
            stats.sent += readings
            stats.spans_sent += len(batch) if kind is SPANS else 0
            stats.transactions += 1
            stats.gas_used += mined.gas_used
            log.info(
                "relayed %d %s(s) (%d reading(s)), gas %d",
                len(batch),
                kind.name,
                readings,
                mined.gas_used,
            )
            return True
        return True

    def _refused(
        self, kind: _Kind[Item], batch: list[Item], exc: TransactionReverted, stats: RelayStats
    ) -> list[Item] | None:
        """Deal with the item the contract named; the batch to retry, or None to stop."""
        index = int(exc.error_args[0])
        if not 0 <= index < len(batch):
            raise NodeError(
                f"refusal names {kind.name} {index} of a batch of {len(batch)}"
            ) from exc
        item = batch[index]
        meter, slot = kind.key(item)
        with self.engine.begin() as conn:
            # A transaction whose estimate reverted was never sent: its items stay pending.
            outbox.set_state(conn, kind.table, [kind.key(b) for b in batch], outbox.PENDING)
            if exc.error == WAIT:
                log.info("slot %d has not ended on-chain yet; waiting", kind.last_slot(item))
                return None
            if exc.error in ALREADY and self.on_chain(meter, kind.last_slot(item)):
                outbox.set_state(conn, kind.table, [kind.key(item)], outbox.DONE)
                stats.already_on_chain += 1
            else:
                outbox.set_state(conn, kind.table, [kind.key(item)], outbox.QUARANTINED)
                reason = f"chain refused: {exc.error}{exc.error_args}"
                outbox.add_quarantine(
                    conn,
                    [
                        {
                            "source": "relay",
                            "position": None,
                            "meter": meter,
                            "timestamp": None,
                            "slot": slot,
                            "reason": reason,
                            "raw": kind.raw(item),
                        }
                    ],
                )
                stats.quarantined += 1
                log.warning(
                    "quarantined %s of meter %s slot %d: %s", kind.name, meter, slot, reason
                )
        return batch[:index] + batch[index + 1 :]


def spans_within(spans: Sequence[StoredSpan], batch_gas: int) -> list[StoredSpan]:
    """The leading `spans` whose gas, at the bounds above, stays within `batch_gas` (at least
    one: a span alone is never split, so one longer than the budget goes alone)."""
    batch: list[StoredSpan] = []
    gas = 0
    for span in spans:
        cost = GAS_PER_SPAN_BOUND + GAS_PER_SPAN_READING_BOUND * len(span.energy)
        if batch and gas + cost > batch_gas:
            break
        batch.append(span)
        gas += cost
    return batch
