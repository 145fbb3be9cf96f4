"""Settle every slot once, in order, from what the chain says.

The matcher is responsible for every slot from `Settlement.nextSlot` (the contract settles slots
strictly in order) up to the latest slot whose gate has closed. On each pass it walks those slots
in order: each slot's book is its direct orders (read from the OrderBook) and the signed intents
waiting for it in the intent pool, of which it carries those the contract will accept
(matcher/intents.py, market/intents.py); it clears the book, submits one settlement, waits for the
receipt and records in the pool which intents were included and why the others were not. Empty
and non-crossing slots are settled too (docs/decisions.md, "Matcher").

It also accepts DSO flexibility requests after their gate and pays them out after their slot's
imbalance (matcher/flexibility.py).

After delivery the matcher also settles each slot's imbalance against the meters, strictly in order,
once the slot's trades are settled and its readings are complete (every registered meter has
reported) or the reading deadline has passed. The reading words come from the readings' events in
acceptance order (ReadingsGateway.reading_words), the trade words from the slot's direct book and
its SlotSettled event (fills and the intents it carried), and ImbalanceSettlement re-checks both
against its commitments. With `imbalance_carry_slots` above 0 (and a deployment with the
SettlementRouter), those settlements ride on the slot settlements: each slot's settlement carries
the first batch of the due (slot, chunk)s in the same transaction (`ISettlementRouter`), and a pass
sends a batch of its own only for the backlog that the next `imbalance_carry_slots` slot settlements
could not carry (docs/decisions.md, "Carried settlement against meters").

Restart safety needs no state: a slot whose transaction was mined before a crash reads as settled
and is skipped; one whose transaction was not is cleared and sent again. If two submissions race,
the contract accepts one and reverts the other with `SettlementAlreadySettled` (the first check
in `settleSlot`, so the loser pays little gas), which counts as done. Each pass starts from the
contracts' cursors (`Settlement.nextSlot`, `ImbalanceSettlement.nextSlotOf`), and a slot found
settled has what it carried recorded in the pool; what is kept between passes is only what the
chain can no longer change (the calendar, members' chunks, due slots' words).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chain.calendar import read_calendar
from chain.gateway import (
    CommunityGateway,
    ImbalanceGateway,
    Mined,
    OrderBookGateway,
    ReadingsGateway,
    SettlementGateway,
    SettlementRouterGateway,
)
from chain.intents import EMPTY_BATCH, IntentBatch
from chain.metering import ImbalanceEntry, trade_words, word_member
from chain.node import Node, NodeError, Sender, TransactionReverted
from chain.submission import SlotBook, Submission, clear_slot
from gridshare.settings import BATCH_GAS
from market.calendar import Calendar
from market.intents import LeftOut
from matcher.flexibility import FlexibilityStep, FlexStep
from matcher.floor import BlockFloor
from matcher.intents import IntentStep, Pool
from matcher.readiness import meters_ready
from matcher.sharing import SharingStep

log = logging.getLogger(__name__)
# A settlement against meters that reverts with one of these may have grouped the readings by a
# stale chunk (the cache outlived a member's exit and new registration).
_STALE_CHUNKS = frozenset(
    {"ImbalanceReadingsMismatch", "ImbalanceMemberMissing", "ImbalanceMemberWithoutReading"}
)


@dataclass(slots=True)
class ImbalancePass:
    """What one `settle_imbalances` pass did: the slots it settled for every chunk, in order,
    and the transactions it sent."""

    slots: list[int] = field(default_factory=list)
    transactions: int = 0


def slot_settlement_gas(orders: int) -> int:
    """A bound on a slot settlement's gas with `orders` orders, from measured costs
    (bench/batched: an empty slot 149,016 gas, each carried intent 27,374 more)."""
    return 160_000 + 30_000 * orders


class ImbalanceBatch:
    """(slot, chunk) entries for one `settleImbalances` transaction within a gas budget, by an
    estimate from measured costs (bench/gas.py, docs/benchmarks.md): a member's first entry in
    the batch pays for cold storage (its balance, its period export, the token's accounts), its
    later ones find them warm. The first entry is always taken (a (slot, chunk) is bounded by
    the community's chunk size)."""

    ENTRY_GAS = 150_000  # per (slot, chunk): commitments, tariff, digest link, cursor, credits
    COLD_MEMBER_GAS = 32_000  # a member's first entry in the batch
    WARM_MEMBER_GAS = 19_000  # its later entries

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.entries: list[ImbalanceEntry] = []
        self.estimate = 0
        self._members: set[str] = set()

    def add(self, entry: ImbalanceEntry) -> bool:
        """Take `entry` if the batch is empty or its estimate stays within the budget."""
        cold = len(set(entry.members) - self._members)
        cost = (
            self.ENTRY_GAS
            + cold * self.COLD_MEMBER_GAS
            + (len(entry.members) - cold) * self.WARM_MEMBER_GAS
        )
        if self.entries and self.estimate + cost > self.budget:
            return False
        self.entries.append(entry)
        self.estimate += cost
        self._members.update(entry.members)
        return True


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
    intents: int = 0  # of the orders, intents carried in the settlement
    left_out: int = 0  # pending intents of the slot not carried
    carried: int = 0  # (slot, chunk)s settled against the meters in the same transaction

    def line(self) -> str:
        """The one log line per slot."""
        price = "none" if self.price is None else str(self.price)
        gas = "already settled by an earlier submission" if self.gas_used is None else self.gas_used
        return (
            f"slot {self.slot} settled: mode={self.mode} price={price} "
            f"volume_wh={self.volume_wh} fills={self.fills}/{self.orders} "
            f"intents={self.intents} left_out={self.left_out} carried={self.carried} gas={gas}"
        )


class Matcher:
    """Clears and settles the slots of one deployment, as the account `sender`."""

    # A slot whose settlement the contract refuses by naming an intent is retried without it, at
    # most this many times (each refusal removes at least one intent).
    MAX_REFUSALS = 8

    def __init__(
        self,
        node: Node,
        sender: Sender,
        pool: Pool | None = None,
        *,
        imbalance_batch_gas: int = BATCH_GAS,
        imbalance_carry_slots: int = 0,
    ) -> None:
        self.node = node
        self.sender = sender
        self.imbalance_batch_gas = imbalance_batch_gas
        self.imbalance_carry_slots = imbalance_carry_slots
        # A community deployed in the `sharing` mode has no order book: only SharingStep runs.
        self.sharing_step = (
            SharingStep(node, sender, self.reading_words)
            if "SharingSettlement" in node.manifest.contracts
            else None
        )
        self.intents = IntentStep(node, pool) if pool is not None else None
        self.community_gw = CommunityGateway(node)
        self.readings_gw = ReadingsGateway(node)
        self._calendar: Calendar | None = None
        self._floor: BlockFloor | None = None
        # A member's settlement chunk never changes (ICommunity.chunkOf), so it is read once.
        self._chunk_of: dict[str, int] = {}
        self._chunks_reread = False
        # Each due slot's entries by chunk: final once due (its readings and trades can no longer
        # change), so kept across passes until every chunk has settled the slot.
        self._due: dict[int, dict[int, ImbalanceEntry]] = {}
        self.last_imbalance_pass = ImbalancePass()  # what run_once's own imbalance pass sent
        self._flex: FlexibilityStep | None = None
        if self.sharing_step is not None:
            return
        self.order_book_gw = OrderBookGateway(node)
        self.settlement_gw = SettlementGateway(node)
        self.imbalance_gw = ImbalanceGateway(node)
        self.router_gw = (
            SettlementRouterGateway(node)
            if imbalance_carry_slots and "SettlementRouter" in node.manifest.contracts
            else None
        )

    @property
    def floor(self) -> BlockFloor:
        """Heads seen, one per slot at most, to bound the event queries (matcher/floor.py)."""
        if self._floor is None:
            deployed = self.node.manifest.deployed_at_block
            self._floor = BlockFloor(
                deployed, self.calendar().slot_seconds, self.node.block_timestamp
            )
        return self._floor

    def _settled_floor(self, slot: int) -> int:
        """A block before `slot`'s SlotSettled (mined after its gate closed)."""
        return self.floor.before(self.calendar().gate_closure(slot))

    def calendar(self) -> Calendar:
        """The deployment's slot calendar (immutable in Community, so read once)."""
        if self._calendar is None:
            self._calendar = read_calendar(self.node)
        return self._calendar

    def first_slot(self) -> int:
        """The first slot the matcher answers for (Settlement's first)."""
        return self.settlement_gw.first_slot()

    def due_slots(self) -> range:
        """Slots not yet settled whose gate has closed at the latest block, from the contract's
        next slot to settle."""
        now = self.node.block_timestamp()
        start = self.settlement_gw.next_slot()
        last = self.calendar().last_due_slot(now)
        if last is None or last < start:
            return range(start, start)
        # The contract is the authority on the calendar: a disagreement is a deployment error.
        closure = self.community_gw.gate_closure(last)
        if closure > now:
            raise NodeError(f"calendar mismatch: gate of slot {last} closes at {closure} > {now}")
        return range(start, last + 1)

    def run_once(self) -> list[SlotResult]:
        """Settle every due slot, in order. Returns what this pass settled (nothing to report
        per slot in the sharing mode, whose slots SharingStep settles)."""
        self.node.check_chain()
        self.floor.see(*self.node.head())
        if self.sharing_step is not None:
            self.sharing_step.run_once()
            return []
        results: list[SlotResult] = []
        skipped: list[int] = []
        for slot in self.due_slots():
            result = self.settle(slot)
            if result is None:
                skipped.append(slot)
            else:
                results.append(result)
        if skipped:
            log.info(
                "%d slot(s) between %d and %d were already settled",
                len(skipped),
                skipped[0],
                skipped[-1],
            )
        self.last_imbalance_pass = self.settle_imbalances(
            keep=self.imbalance_carry_slots if self.router_gw else 0
        )
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
        return meters_ready(
            self.imbalance_gw, self.readings_gw, self.community_gw, slot, delivered, now
        )

    def reading_words(self, slot: int) -> list[int]:
        """The slot's reading words in acceptance order, from the readings' events."""
        delivered = self.calendar().slot_start(slot + 1)
        return self.readings_gw.reading_words(slot, self.floor.before(delivered))

    def chunk_of(self, member: str) -> int:
        """`member`'s settlement chunk (fixed by its registration; cached until a settlement
        disagrees, as after a member left and registered again)."""
        chunk = self._chunk_of.get(member)
        if chunk is None:
            chunk = self.community_gw.chunk_of(member)
            self._chunk_of[member] = chunk
        return chunk

    def settle_imbalances(self, keep: int = 0) -> ImbalancePass:
        """Settle every (slot, chunk) whose imbalance is due, each chunk's slots in order, in
        batches that stay within `imbalance_batch_gas` as `ImbalanceBatch` estimates it (at
        least one (slot, chunk) each), except the backlog's last `keep` batches, left for the
        next slot settlements to carry (`run_once` keeps `imbalance_carry_slots`). Returns the
        slots settled for every chunk and the transactions sent."""
        done = ImbalancePass()
        now = self.node.block_timestamp()
        self._chunks_reread = False
        nexts = self._imbalance_cursors()
        pending: set[int] = set()
        while nexts:
            batches = self._plan_batches(nexts, pending, now, keep + 1)
            if len(batches) <= keep:
                break
            entries = batches[0]
            try:
                mined = self.imbalance_gw.settle_imbalances(entries, sender=self.sender)
            except TransactionReverted as exc:
                if exc.error == "ImbalanceOutOfOrder":  # another submission settled some first
                    nexts = self._imbalance_cursors()
                    continue
                if self._stale_chunks(exc):
                    pending.clear()
                    continue
                raise
            done.transactions += 1
            done.slots.extend(self._advance_cursors(nexts, entries))
            log.info(
                "imbalance settled: slots %d..%d (%d slot-chunks, %d member-slots) gas=%d",
                min(e.slot for e in entries),
                max(e.slot for e in entries),
                len(entries),
                sum(len(e.members) for e in entries),
                mined.gas_used,
            )
        if nexts:
            self._due = {s: e for s, e in self._due.items() if s >= min(nexts)}
        return done

    def _imbalance_cursors(self) -> list[int]:
        """Each chunk's next slot to settle against the meters."""
        chunks = self.community_gw.chunk_count()
        return [self.imbalance_gw.next_slot_of(c) for c in range(chunks)]

    @staticmethod
    def _advance_cursors(nexts: list[int], entries: list[ImbalanceEntry]) -> range:
        """Move `nexts` past the settled `entries`; the slots now settled for every chunk."""
        before = min(nexts)
        for e in entries:
            nexts[e.chunk] = e.slot + 1
        return range(before, min(nexts))

    def _stale_chunks(self, exc: TransactionReverted) -> bool:
        """Whether `exc` may come from readings grouped by a stale chunk (a member re-registered
        in a new chunk) not yet read again in this pass; if so, forget the chunks (read once)."""
        if exc.error not in _STALE_CHUNKS or self._chunks_reread:
            return False
        self._chunk_of.clear()
        self._due.clear()
        self._chunks_reread = True
        return True

    def _carried(self, orders: int) -> list[ImbalanceEntry]:
        """The backlog's first batch, for the next slot settlement of `orders` orders to carry,
        planned so that the two together stay within `imbalance_batch_gas` (none unless
        carrying, or if even one (slot, chunk) would not fit beside the slot's settlement)."""
        if self.router_gw is None:
            return []
        budget = self.imbalance_batch_gas - slot_settlement_gas(orders)
        nexts = self._imbalance_cursors()
        planned = self._plan_imbalances(nexts, set(), self.node.block_timestamp(), budget)
        return planned.entries if planned.estimate <= budget else []

    def _plan_batches(
        self, nexts: list[int], pending: set[int], now: int, most: int
    ) -> list[list[ImbalanceEntry]]:
        """Up to `most` batches planned one after the other from the cursors `nexts` (left
        as they are). `pending`: slots found not due in this pass."""
        planned = list(nexts)
        batches: list[list[ImbalanceEntry]] = []
        while len(batches) < most and (
            entries := self._plan_imbalances(
                planned, pending, now, self.imbalance_batch_gas
            ).entries
        ):
            batches.append(entries)
        return batches

    def _plan_imbalances(
        self, nexts: list[int], pending: set[int], now: int, budget: int
    ) -> ImbalanceBatch:
        """The next batch: chunk after chunk (the furthest behind first), each chunk's due
        slots in order, while the batch's estimate stays within `budget`; a chunk's members met
        again in its later slots are warm, so this order fits the most in a batch. Advances
        `nexts` past what it takes."""
        batch = ImbalanceBatch(budget)
        for chunk in sorted(range(len(nexts)), key=lambda c: (nexts[c], c)):
            while (
                entries := self._due_entries(nexts[chunk], len(nexts), pending, now)
            ) is not None:
                if not batch.add(entries[chunk]):
                    return batch
                nexts[chunk] += 1
        return batch

    def _due_entries(
        self, slot: int, chunks: int, pending: set[int], now: int
    ) -> dict[int, ImbalanceEntry] | None:
        """`slot`'s entry for each of `chunks` if its trades are settled and its readings are
        in (or past their deadline), else None (and `slot` joins `pending`)."""
        entries = self._due.get(slot)
        if entries is not None and len(entries) == chunks:
            return entries
        if slot in pending:
            return None
        if self.settlement_gw.clearing_of(slot).settled and self.imbalance_ready(slot, now):
            self._due[slot] = entries = self._slot_entries(slot, chunks)
            return entries
        pending.add(slot)
        return None

    def _slot_entries(self, slot: int, chunks: int) -> dict[int, ImbalanceEntry]:
        """`slot`'s entry for each chunk, by chunk (a chunk opened later is never asked)."""
        trades = self.settled_trade_words(slot)
        by_chunk: dict[int, list[int]] = {}
        for word in self.reading_words(slot):
            by_chunk.setdefault(self.chunk_of(word_member(word)), []).append(word)
        return {c: ImbalanceEntry.of(slot, c, by_chunk.get(c, []), trades) for c in range(chunks)}

    def settled_book(self, slot: int) -> tuple[SlotBook, list[int]]:
        """A settled slot's book (its direct book, then the intents its SlotSettled event
        carried) and the event's fills."""
        event = self.settlement_gw.settled_event(slot, self._settled_floor(slot))
        book = SlotBook.settled(
            self.order_book_gw.slot_book(slot),
            self.order_book_gw.slot_order_ids(slot),
            event.intent_words,
            event.intent_ids,
        )
        return book, event.fills

    def settled_trade_words(self, slot: int) -> list[int]:
        """The settled slot's trade words (what Settlement committed in its trades hash)."""
        book, fills = self.settled_book(slot)
        return trade_words(book.entries, fills)

    def settle(self, slot: int) -> SlotResult | None:
        """Clear and settle `slot` unless it is settled already (then None). The slot's gate has
        closed, so its direct book can no longer change while it is read; the intents it carries
        are the pool's pending ones the contract will accept."""
        if self.settlement_gw.clearing_of(slot).settled:
            self._resolve_settled(slot)
            return None
        rules = self.community_gw.rules_at(slot)
        words = self.order_book_gw.slot_book(slot)
        ids = self.order_book_gw.slot_order_ids(slot)
        batch, left_out = EMPTY_BATCH, dict[int, LeftOut]()
        if self.intents is not None:
            batch, left_out = self.intents.batch(slot, rules.tariff, words)
        gas_used: int | None = None
        carried = self._carried(len(words) + len(batch.intents))
        for _attempt in range(self.MAX_REFUSALS):
            book, clearing, submission = clear_slot(words, ids, rules, batch)
            try:
                # No gas estimate: ganache needs over 30 s to estimate a 1,000-order settlement,
                # which is one transaction per slot by design (docs/decisions.md, "Matcher").
                mined = self._send_settlement(slot, submission, carried)
            except TransactionReverted as exc:
                if exc.error == "SettlementAlreadySettled":  # a race lost: done, not an error
                    self._resolve_settled(slot)
                    break
                if carried and not (exc.error or "").startswith("Settlement"):
                    # The carried part failed (a race on the meters' cursors, a stale chunk):
                    # the slot settles alone, the next pass settles the meters afresh.
                    log.warning(
                        "slot %d: carried settlement against meters refused (%s)", slot, exc.error
                    )
                    self._stale_chunks(exc)
                    carried = []
                    continue
                refused = self.intents.refused(batch, exc) if self.intents else {}
                if not refused:
                    raise
                log.warning(
                    "slot %d: the contract refused %d intent(s) (%s)", slot, len(refused), exc.error
                )
                left_out.update(refused)
                batch = IntentBatch.of([s for s in batch.intents if s.intent.id not in refused])
                continue
            gas_used = mined.gas_used
            if self.intents is not None:
                self.intents.pool.resolve(
                    slot,
                    [s.intent.id for s in batch.intents],
                    {k: str(v) for k, v in left_out.items()},
                    mined.tx_hash,
                )
            break
        else:
            raise NodeError(f"slot {slot}: settlement refused {self.MAX_REFUSALS} times")
        result = SlotResult(
            slot=slot,
            mode=rules.mode,
            price=clearing.clearing_price,
            volume_wh=clearing.volume_wh,
            orders=len(book.ids),
            fills=sum(1 for f in submission.fills if f),
            gas_used=gas_used,
            intents=len(batch.intents),
            left_out=len(left_out),
            carried=len(carried) if gas_used is not None else 0,
        )
        log.info(result.line())
        return result

    def _send_settlement(
        self, slot: int, submission: Submission, carried: list[ImbalanceEntry]
    ) -> Mined:
        """`slot`'s settlement, with the `carried` settlements against meters if any."""
        if not carried or self.router_gw is None:
            return self.settlement_gw.settle_slot(slot, submission, sender=self.sender)
        return self.router_gw.settle_slot_and_imbalances(
            slot, submission, carried, sender=self.sender
        )

    def _resolve_settled(self, slot: int) -> None:
        """Record in the pool what an already settled slot carried (a restart, or a race lost
        to another submission); the slot's other pending intents were not included."""
        if self.intents is None:
            return
        pending = self.intents.pool.pending(slot)
        if not pending:
            return
        carried = set(self.settlement_gw.settled_event(slot, self._settled_floor(slot)).intent_ids)
        left = {s.intent.id: "not_included" for s in pending if s.intent.id not in carried}
        self.intents.pool.resolve(slot, sorted(carried), left, None)

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
