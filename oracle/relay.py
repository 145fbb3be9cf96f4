"""Relaying signed readings from the outbox to MeterReadings, exactly once.

Per batch: the readings are marked `sent` with the transaction's hash before it is broadcast,
and `done` once its receipt is in. After a crash, `reconcile` settles every `sent` reading from
what the chain says: included (its receipt succeeded, or the contract's replay word for the
meter is at or past its slot) → done; otherwise back to pending. The contract refuses a second
copy of a reading (MeterReadingsDuplicate), so a reading can reach the chain at most once, and
the outbox ensures at least once.

A batch is all-or-nothing on-chain and every refusal names the reading's index: a reading the
chain already has is marked done, one whose slot has not ended on-chain waits, and any other is
quarantined with the contract's error and the rest of the batch is sent again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from chain.node import Node, NodeError, Sender, TransactionReverted
from market.calendar import Calendar
from oracle import outbox
from oracle.outbox import StoredReading
from oracle.samples import meter_id

log = logging.getLogger(__name__)

# Upper bound of one reading's gas in a batch (a meter's first reading writes its replay word from
# zero: ~41k measured, docs/benchmarks.md); a batch stays within half a block at this bound.
GAS_PER_READING_BOUND = 45_000
WAIT = "MeterReadingsNotDelivered"
ALREADY = (
    "MeterReadingsDuplicate",
    "MeterReadingsOutOfOrder",
    "MeterReadingsSequenceNotIncreasing",
)


@dataclass
class RelayStats:
    sent: int = 0
    transactions: int = 0
    gas_used: int = 0
    already_on_chain: int = 0
    quarantined: int = 0
    reconciled_done: int = 0
    reconciled_pending: int = 0


class Relay:
    """Sends the outbox's pending readings as `sender` (which must hold the ORACLE role)."""

    def __init__(
        self, engine: Engine, node: Node, sender: Sender, calendar: Calendar, batch_size: int
    ) -> None:
        self.engine = engine
        self.node = node
        self.sender = sender
        self.calendar = calendar
        self.readings = node.contract("MeterReadings")
        self.batch_size = max(
            1, min(batch_size, node.block_gas_limit() // 2 // GAS_PER_READING_BOUND)
        )

    def on_chain(self, reading: StoredReading) -> bool:
        """Whether the chain holds this meter's reading for this slot or a later one."""
        any_, slot, _ = self.node.call(self.readings.functions.lastReading(meter_id(reading.meter)))
        return bool(any_) and int(slot) >= reading.slot

    def reconcile(self, stats: RelayStats) -> None:
        """Settle readings left `sent` by a run that stopped before their receipt came."""
        with self.engine.connect() as conn:
            sent = outbox.in_state(conn, outbox.SENT)
        by_tx: dict[str | None, list[StoredReading]] = {}
        for r in sent:
            by_tx.setdefault(r.tx_hash, []).append(r)
        for tx_hash, rows in by_tx.items():
            receipt = self.node.receipt(tx_hash) if tx_hash else None
            if receipt is not None and receipt["status"] == 1:
                done, block = rows, int(receipt["blockNumber"])
            else:
                done, block = [r for r in rows if self.on_chain(r)], None
            again = [r for r in rows if r not in done]
            with self.engine.begin() as conn:
                outbox.set_state(
                    conn,
                    [(r.meter, r.slot) for r in done],
                    outbox.DONE,
                    tx_hash=tx_hash,
                    block_number=block,
                )
                outbox.set_state(conn, [(r.meter, r.slot) for r in again], outbox.PENDING)
            stats.reconciled_done += len(done)
            stats.reconciled_pending += len(again)
        if sent:
            log.info(
                "reconciled %d reading(s) left in flight: %d on chain, %d to send again",
                len(sent),
                stats.reconciled_done,
                stats.reconciled_pending,
            )

    def run_once(self) -> RelayStats:
        """Reconcile, then send every pending reading whose slot has ended on-chain."""
        stats = RelayStats()
        self.reconcile(stats)
        now = self.node.block_timestamp()
        last_ended = self.calendar.slot_at(now) - 1
        while True:
            with self.engine.connect() as conn:
                batch = outbox.in_state(
                    conn, outbox.PENDING, last_slot=last_ended, limit=self.batch_size
                )
            if not batch or not self._send(batch, stats):
                return stats

    def _send(self, batch: list[StoredReading], stats: RelayStats) -> bool:
        """Send one batch (less any reading the chain refuses). False: stop this pass."""
        while batch:
            keys = [(r.meter, r.slot) for r in batch]
            fn = self.readings.functions.submitReadings(
                [(meter_id(r.meter), r.slot, r.import_wh, r.export_wh, r.sequence) for r in batch],
                [bytes.fromhex(r.signature[2:]) for r in batch],
            )

            def mark_sent(tx_hash: str, keys: list[tuple[str, int]] = keys) -> None:
                with self.engine.begin() as conn:
                    outbox.set_state(conn, keys, outbox.SENT, tx_hash=tx_hash)

            try:
                receipt = self.node.transact(fn, self.sender, on_signed=mark_sent)
            except TransactionReverted as exc:
                if not exc.error_args or not isinstance(exc.error_args[0], int):
                    raise
                rest = self._refused(batch, exc, stats)
                if rest is None:
                    return False
                batch = rest
                continue
            with self.engine.begin() as conn:
                outbox.set_state(
                    conn,
                    keys,
                    outbox.DONE,
                    tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
                    block_number=int(receipt["blockNumber"]),
                )
            stats.sent += len(batch)
            stats.transactions += 1
            stats.gas_used += int(receipt["gasUsed"])
            log.info("relayed %d reading(s), gas %d", len(batch), receipt["gasUsed"])
            return True
        return True

    def _refused(
        self, batch: list[StoredReading], exc: TransactionReverted, stats: RelayStats
    ) -> list[StoredReading] | None:
        """Deal with the reading the contract named; the batch to retry, or None to stop."""
        index = int(exc.error_args[0])
        if not 0 <= index < len(batch):
            raise NodeError(f"refusal names reading {index} of a batch of {len(batch)}") from exc
        r = batch[index]
        with self.engine.begin() as conn:
            # A transaction whose estimate reverted was never sent: its readings stay pending.
            outbox.set_state(conn, [(b.meter, b.slot) for b in batch], outbox.PENDING)
            if exc.error == WAIT:
                log.info("slot %d has not ended on-chain yet; waiting", r.slot)
                return None
            if exc.error in ALREADY and self.on_chain(r):
                outbox.set_state(conn, [(r.meter, r.slot)], outbox.DONE)
                stats.already_on_chain += 1
            else:
                outbox.set_state(conn, [(r.meter, r.slot)], outbox.QUARANTINED)
                reason = f"chain refused: {exc.error}{exc.error_args}"
                outbox.add_quarantine(
                    conn,
                    [
                        {
                            "source": "relay",
                            "position": None,
                            "meter": r.meter,
                            "timestamp": None,
                            "slot": r.slot,
                            "reason": reason,
                            "raw": f"{r.meter},{r.slot},{r.import_wh},{r.export_wh},{r.sequence}",
                        }
                    ],
                )
                stats.quarantined += 1
                log.warning("quarantined reading of meter %s slot %d: %s", r.meter, r.slot, reason)
        return batch[:index] + batch[index + 1 :]
