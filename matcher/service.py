"""Settle every slot once, in order, from what the chain says.

The matcher is responsible for every slot from the one containing the deployment block up to the
latest slot whose gate has closed. On each pass it walks those slots in order; a slot that
`Settlement.clearingOf` reports settled is skipped, any other is read, cleared and submitted, and
the pass waits for the receipt before moving on. Empty and non-crossing slots are settled too
(docs/decisions.md, "Matcher"), so "settled" is a prefix of the slots and a gap would be a bug.

It also accepts DSO flexibility requests after their gate and pays them out after their slot's
imbalance (matcher/flexibility.py).

After delivery the matcher also settles each slot's imbalance against the meters, strictly in
order, once the slot's trades are settled and its readings are complete (every registered meter
has reported) or the reading deadline has passed. The reading words come from the slot's
ReadingAccepted events in acceptance order, the trade words from the same clearing of the same
closed book (deterministic), and ImbalanceSettlement re-checks both against its commitments.

Restart safety needs no state: a slot whose transaction was mined before a crash reads as settled
and is skipped; one whose transaction was not is cleared and sent again. If two submissions race,
the contract accepts one and reverts the other with `SettlementAlreadySettled` (the first check
in `settleSlot`, so the loser pays little gas), which counts as done. The only thing kept in
memory is the first slot not yet known to be settled, so that later passes do not re-read the
whole history; a new process re-derives it by reading from the start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from chain.codec import decode_rules
from chain.metering import pack_reading_word, positions, trade_words
from chain.node import Node, NodeError, Sender, TransactionReverted
from chain.submission import clear_slot
from matcher.calendar import Calendar, read_calendar
from matcher.flexibility import FlexibilityStep, FlexStep

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SlotResult:
    """One settled slot. `gas_used` is None if another submission settled it first (a race)."""

    slot: int
    mode: str
    price: int | None
    volume_wh: int
    orders: int
    fills: int  # orders that received energy
    gas_used: int | None

    def line(self) -> str:
        """The one log line per slot."""
        price = "none" if self.price is None else str(self.price)
        gas = "already settled by an earlier submission" if self.gas_used is None else self.gas_used
        return (
            f"slot {self.slot} settled: mode={self.mode} price={price} "
            f"volume_wh={self.volume_wh} fills={self.fills}/{self.orders} gas={gas}"
        )


class Matcher:
    """Clears and settles the slots of one deployment, as the account `sender`."""

    def __init__(self, node: Node, sender: Sender) -> None:
        self.node = node
        self.sender = sender
        self.community = node.contract("Community")
        self.order_book = node.contract("OrderBook")
        self.settlement = node.contract("Settlement")
        self.imbalance = node.contract("ImbalanceSettlement")
        self.readings = node.contract("MeterReadings")
        self._calendar: Calendar | None = None
        self._next_slot: int | None = None  # a cache: re-derived from the chain on start
        self._flex: FlexibilityStep | None = None

    def calendar(self) -> Calendar:
        """The deployment's slot calendar (immutable in Community, so read once)."""
        if self._calendar is None:
            self._calendar = read_calendar(self.node)
        return self._calendar

    def first_slot(self) -> int:
        """The first slot the matcher answers for: the one containing the deployment block.
        No order can exist for an earlier one (the book did not exist yet)."""
        deployed = self.node.block_timestamp(self.node.manifest.deployed_at_block)
        return self.calendar().slot_at(deployed)

    def due_slots(self) -> range:
        """Slots not yet known to be settled whose gate has closed at the latest block."""
        now = self.node.block_timestamp()
        start = self._next_slot if self._next_slot is not None else self.first_slot()
        last = self.calendar().last_due_slot(now)
        if last is None or last < start:
            return range(start, start)
        # The contract is the authority on the calendar: a disagreement is a deployment error.
        closure = int(self.node.call(self.community.functions.gateClosure(last)))
        if closure > now:
            raise NodeError(f"calendar mismatch: gate of slot {last} closes at {closure} > {now}")
        return range(start, last + 1)

    def run_once(self) -> list[SlotResult]:
        """Settle every due slot, in order. Returns what this pass settled."""
        self.node.check_chain()
        results: list[SlotResult] = []
        skipped: list[int] = []
        for slot in self.due_slots():
            result = self.settle(slot)
            if result is None:
                skipped.append(slot)
            else:
                results.append(result)
            self._next_slot = slot + 1
        if skipped:
            log.info(
                "%d slot(s) between %d and %d were already settled",
                len(skipped),
                skipped[0],
                skipped[-1],
            )
        self.settle_imbalances()
        self.flexibility()
        return results

    def flexibility(self) -> list[FlexStep]:
        """Accept and settle DSO flexibility requests (matcher/flexibility.py); nothing on a
        deployment without the Flexibility contract."""
        if "Flexibility" not in self.node.manifest.contracts:
            return []
        if self._flex is None:
            self._flex = FlexibilityStep(
                self.node, self.sender, self.calendar(), self.reading_words
            )
        return self._flex.run_once()

    def imbalance_ready(self, slot: int, now: int) -> bool:
        """Whether `slot` may settle against the meters at `now` (the contract's own rule)."""
        delivered = self.calendar().slot_start(slot + 1)
        if now < delivered:
            return False
        count, _ = self.node.call(self.readings.functions.slotReadings(slot))
        meters = int(self.node.call(self.community.functions.meterCount()))
        deadline = int(self.node.call(self.imbalance.functions.readingDeadlineSeconds()))
        return int(count) >= meters or now >= delivered + deadline

    def reading_words(self, slot: int) -> list[int]:
        """The slot's reading words in acceptance order, from its ReadingAccepted events."""
        logs = self.node.events(
            "MeterReadings",
            "ReadingAccepted",
            from_block=self.node.manifest.deployed_at_block,
            argument_filters={"slot": slot},
        )
        return [
            pack_reading_word(e["args"]["member"], e["args"]["importWh"], e["args"]["exportWh"])
            for e in logs
        ]

    def settle_imbalances(self) -> list[int]:
        """Settle every slot whose imbalance is due, in order; returns the slots settled."""
        done: list[int] = []
        now = self.node.block_timestamp()
        while True:
            slot = int(self.node.call(self.imbalance.functions.nextSlot()))
            if not self.node.call(self.settlement.functions.clearingOf(slot))[0]:
                return done
            if not self.imbalance_ready(slot, now):
                return done
            book_fns = self.order_book.functions
            rules = decode_rules(self.node.call(self.community.functions.tariffAt(slot)))
            book, _, submission = clear_slot(
                self.node.call(book_fns.slotBook(slot)),
                self.node.call(book_fns.slotOrderIds(slot)),
                rules,
            )
            words = self.reading_words(slot)
            trades = trade_words(book.entries, submission.fills)
            members = [p.member for p in positions(words, trades)]
            try:
                receipt = self.node.transact(
                    self.imbalance.functions.settleImbalance(slot, members, words, trades),
                    self.sender,
                    gas=self.node.block_gas_limit(),
                )
            except TransactionReverted as exc:
                if exc.error == "ImbalanceOutOfOrder":  # another submission settled it first
                    continue
                raise
            log.info(
                "slot %d imbalance settled: members=%d readings=%d gas=%d",
                slot,
                len(members),
                len(words),
                receipt["gasUsed"],
            )
            done.append(slot)

    def settle(self, slot: int) -> SlotResult | None:
        """Clear and settle `slot` unless it is settled already (then None). The slot's gate has
        closed, so its book can no longer change while it is read."""
        if self.node.call(self.settlement.functions.clearingOf(slot))[0]:
            return None
        book_fns = self.order_book.functions
        rules = decode_rules(self.node.call(self.community.functions.tariffAt(slot)))
        book, clearing, submission = clear_slot(
            self.node.call(book_fns.slotBook(slot)),
            self.node.call(book_fns.slotOrderIds(slot)),
            rules,
        )
        gas_used: int | None
        try:
            # No gas estimate: ganache needs over 30 s to estimate a 1,000-order settlement,
            # which is one transaction per slot by design (docs/decisions.md, "Matcher").
            receipt = self.node.transact(
                self.settlement.functions.settleSlot(slot, *submission.args()),
                self.sender,
                gas=self.node.block_gas_limit(),
            )
            gas_used = int(receipt["gasUsed"])
        except TransactionReverted as exc:
            if exc.error != "SettlementAlreadySettled":
                raise
            gas_used = None
        result = SlotResult(
            slot=slot,
            mode=rules.mode,
            price=clearing.clearing_price,
            volume_wh=clearing.volume_wh,
            orders=len(book.ids),
            fills=sum(1 for f in submission.fills if f),
            gas_used=gas_used,
        )
        log.info(result.line())
        return result

    def run_forever(self, poll_seconds: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """Pass over the chain every `poll_seconds`. A failed pass is logged and retried on the
        next one, from the same slot: no slot is skipped because an earlier one failed."""
        log.info(
            "matcher %s on %s (chain %d), polling every %.1fs",
            self.sender.address,
            self.node.url,
            self.node.manifest.chain_id,
            poll_seconds,
        )
        while True:
            try:
                self.run_once()
            except NodeError as exc:
                log.error("pass failed, retrying in %.1fs: %s", poll_seconds, exc)
            sleep(poll_seconds)
