"""Small helpers shared by the contract tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from brownie import chain
from brownie.exceptions import VirtualMachineError

from chain.codec import decode_rules
from chain.events import unpacked
from chain.intents import EMPTY_BATCH, IntentBatch
from chain.metering import pack_reading_word, positions, trade_words, word_member
from chain.signing import (
    Reading,
    ReadingSpan,
    commit_order,
    reading_span_typed_data,
    reading_typed_data,
    sign_typed_data,
)
from chain.submission import SlotBook, Submission, clear_slot
from market.clearing import Clearing


def sleep_until(timestamp: int) -> None:
    """Move chain time to `timestamp` (if it is ahead) and mine a block."""
    delta = timestamp - chain.time()
    if delta > 0:
        chain.sleep(delta)
    chain.mine()


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
    transaction per chunk, grouped as `Matcher.settle_imbalances` groups them (brownie, for the
    contract tests): `words` are the slot's reading words in acceptance order (all chunks),
    `trades` its trade words. Returns the transactions."""
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


@contextmanager
def reverts_with(error: str) -> Iterator[None]:
    """Expect a revert with the named custom error (brownie reports "Name: args")."""
    try:
        yield
    except VirtualMachineError as exc:
        message = exc.revert_msg or ""
        assert message.split(":", 1)[0] == error, f"expected {error}, got {message!r}"
    else:
        raise AssertionError(f"expected a revert with {error}, but the call succeeded")


ANY = object()  # placeholder for a revert argument a test cannot know exactly (e.g. block time)


def _fmt(value: Any) -> str:
    """An argument as brownie prints it in a decoded revert message."""
    if hasattr(value, "address"):
        return str(value.address).lower()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, bytes | bytearray):
        return repr(bytes(value))
    return str(int(value))


@contextmanager
def reverts_exact(error: str, *args: Any) -> Iterator[None]:
    """Expect a revert with custom error `error` and exactly these arguments."""
    try:
        yield
    except VirtualMachineError as exc:
        message = (exc.revert_msg or "").strip()
        texts = [None if a is ANY else _fmt(a) for a in args]
        if ANY not in args:  # exact text: arguments such as bytes may contain commas
            expected = f"{error}: " + ", ".join(str(t) for t in texts)
            assert message == expected.strip(), f"expected {expected!r}, got {message!r}"
            return
        name, _, rest = message.partition(":")
        got = [part.strip() for part in rest.split(",")]
        assert name == error and len(got) == len(args), f"expected {error}{args}, got {message!r}"
        for text, part in zip(texts, got, strict=True):
            assert text is None or text == part, f"expected {error}{args}, got {message!r}"
    else:
        raise AssertionError(f"expected a revert with {error}, but the call succeeded")


def read_book(book: Any, slot: int) -> SlotBook:
    """The slot's book as stored on-chain."""
    return SlotBook.from_words(book.slotBook(slot), book.slotOrderIds(slot))


def clear_on_chain_book(
    community: Any, book: Any, slot: int, batch: IntentBatch = EMPTY_BATCH
) -> tuple[SlotBook, Clearing, Submission]:
    """Clear `slot` exactly as the matcher does, from the contracts' book and rules and the
    intents the settlement carries."""
    rules = decode_rules(community.tariffAt(slot))
    return clear_slot(book.slotBook(slot), book.slotOrderIds(slot), rules, batch)


def sign_reading(readings: Any, key: str, reading: Reading) -> bytes:
    """A meter's EIP-712 signature of `reading` for the MeterReadings contract `readings`."""
    typed = reading_typed_data(reading, chain.id, readings.address)
    return sign_typed_data(typed, key)


def sign_span(readings: Any, key: str, span: ReadingSpan) -> bytes:
    """A meter's one EIP-712 signature of a whole `span` for the MeterReadings contract."""
    return sign_typed_data(reading_span_typed_data(span, chain.id, readings.address), key)


def signed_reading(
    readings: Any, meters: Any, name: str, slot: int, imp: int, exp: int, seq: int
) -> tuple[Reading, bytes]:
    """`name`'s meter reading for `slot`, signed by its meter (`meters` as the fixture gives)."""
    meter_id, key = meters[name]
    r = Reading(meter_id, slot, imp, exp, seq)
    return r, sign_reading(readings, key, r)


def catch_up(dep: Any, slot: int, matcher: Any) -> None:
    """Settle every slot before `slot` not yet settled, each from its on-chain book, as the
    matcher does (slots settle in order: Settlement.nextSlot)."""
    for earlier in range(int(dep.settlement.nextSlot()), slot):
        _b, _c, sub = clear_on_chain_book(dep.community, dep.order_book, earlier)
        dep.settlement.settleSlot(earlier, *sub.args(), {"from": matcher})


def settle_trades(dep: Any, slot: int, matcher: Any) -> tuple[SlotBook, Any]:
    """Clear and settle `slot`'s trades (its gate must have closed), after every earlier slot;
    returns the book and tx."""
    catch_up(dep, slot, matcher)
    book, _clearing, sub = clear_on_chain_book(dep.community, dep.order_book, slot)
    tx = dep.settlement.settleSlot(slot, *sub.args(), {"from": matcher})
    return book, tx


def slot_trade_words(dep: Any, slot: int, tx: Any) -> list[int]:
    """The trade words of a settled slot, from its book and the SlotSettled event's fills."""
    book = read_book(dep.order_book, slot)
    return trade_words(book.entries, [int(f) for f in tx.events["SlotSettled"]["fills"]])


def imbalance_args(
    reading_words: list[int], trades: list[int], chunk: int = 0
) -> tuple[int, list[str], list[int], list[int]]:
    """ImbalanceSettlement.settleImbalance arguments after the slot, for `chunk`, given the reading
    words of that chunk's members."""
    members = [p.member for p in positions(reading_words, trades)]
    return chunk, members, reading_words, trades


class SlotRunner:
    """Drives slots through their whole life as the oracle and the matcher do: readings relayed
    in batches, then each slot's trades and imbalance settled in order. Keeps each slot's
    reading words in acceptance order (what the matcher otherwise reads from events)."""

    def __init__(self, dep: Any, oracle: Any, matcher: Any) -> None:
        self.dep = dep
        self.oracle = oracle
        self.matcher = matcher
        self.words: dict[int, list[int]] = {}

    def deliver(self, slot: int, *, deadline: bool = False) -> None:
        """Move time past `slot`'s delivery (and its reading deadline if asked)."""
        end = int(self.dep.community.slotStart(slot + 1))
        extra = int(self.dep.imbalance.readingDeadlineSeconds()) if deadline else 0
        sleep_until(end + extra + 1)

    def submit(self, signed: list[tuple[Reading, bytes]]) -> Any:
        """Relay a batch; on success record its reading words."""
        tx = self.dep.readings.submitReadings(
            [r.as_tuple() for r, _ in signed], [s for _, s in signed], {"from": self.oracle}
        )
        return self._record(tx)

    def submit_spans(self, signed: list[tuple[ReadingSpan, bytes]]) -> Any:
        """Relay a batch of signed spans; on success record their reading words."""
        tx = self.dep.readings.submitReadingSpans(
            [span.as_tuple() for span, _ in signed], [s for _, s in signed], {"from": self.oracle}
        )
        return self._record(tx)

    def _record(self, tx: Any) -> Any:
        """Record the batch's reading words per slot in acceptance order (a batch of spans in
        MeterReadings' commit order)."""
        events = [
            e
            for name in ("ReadingAccepted", "ReadingSpanAccepted")
            if name in tx.events
            for e in tx.events[name]
        ]
        for i, r in commit_order([ReadingSpan.of_event(e) for e in events]):
            word = pack_reading_word(events[i]["member"], r.import_wh, r.export_wh)
            self.words.setdefault(r.slot, []).append(word)
        return tx

    def trade_words(self, slot: int) -> list[int]:
        book, _clearing, sub = clear_on_chain_book(self.dep.community, self.dep.order_book, slot)
        return trade_words(book.entries, sub.fills)

    def settle_trades(self, slot: int) -> None:
        sleep_until(int(self.dep.community.gateClosure(slot)) + 1)
        if slot >= int(self.dep.settlement.nextSlot()):
            settle_trades(self.dep, slot, self.matcher)

    def args(self, slot: int, chunk: int = 0) -> tuple[int, list[str], list[int], list[int]]:
        """settleImbalance's arguments after `slot` (the slot itself first) for `chunk`."""
        words = [
            w
            for w in self.words.get(slot, [])
            if int(self.dep.community.chunkOf(word_member(w))) == chunk
        ]
        return imbalance_args(words, self.trade_words(slot), chunk)

    def settle(self, slot: int) -> Any:
        """Settle trades and imbalance of every slot up to `slot`, every chunk of members; returns
        the last imbalance tx."""
        tx = None
        for s in range(int(self.dep.imbalance.nextSlot()), slot + 1):
            self.settle_trades(s)
            self.deliver(s, deadline=True)
            txs = settle_imbalance(
                self.dep, s, self.words.get(s, []), self.trade_words(s), matcher=self.matcher
            )
            tx = txs[-1] if txs else tx
        return tx


def settled_events(tx: Any, event: str) -> list[dict[str, Any]]:
    """`tx`'s `event` events (ImbalanceSettled, SharingSettled) with their figures unpacked
    (chain.events.PACKED_ARGS), as every reader of the chain sees them; brownie decodes by the ABI
    alone."""
    return [unpacked(event, dict(e)) for e in tx.events[event]]


def imbalance_settled(tx: Any) -> list[dict[str, Any]]:
    return settled_events(tx, "ImbalanceSettled")
