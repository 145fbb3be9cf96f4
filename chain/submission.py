"""From a slot's book to the rulebook's input, and from the rulebook's clearing to the Settlement
contract's submission format (fills aligned with the book, pay-as-bid pairs packed).

A slot's book is its direct orders as stored on-chain (in id order) followed by the signed intents
the settlement carries (in ascending id order; an intent's id is its struct hash, above every
direct order's id), so book position is id order. Pure: the caller reads the direct book from the
chain, takes the intents from the pool, and sends the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chain.codec import MODE_CODES, BookEntry, decode_order_word, pack_pair
from chain.intents import EMPTY_BATCH, IntentBatch
from market.clearing import Clearing, Mode, clear
from market.orders import Order, Side
from market.tariff import SlotRules


@dataclass(frozen=True, slots=True)
class SlotBook:
    """A slot's book: entries in id order with their order ids (the direct orders as stored
    on-chain, then the batch's intents)."""

    entries: tuple[BookEntry, ...]
    ids: tuple[int, ...]
    batch: IntentBatch = EMPTY_BATCH

    @classmethod
    def from_words(
        cls, words: Sequence[int], ids: Sequence[int], batch: IntentBatch = EMPTY_BATCH
    ) -> SlotBook:
        """The direct book (`OrderBook.slotBook`, `slotOrderIds`) followed by `batch`."""
        if len(words) != len(ids):
            raise ValueError(f"book has {len(words)} words but {len(ids)} ids")
        all_words = [int(w) for w in words] + [s.intent.order_word() for s in batch.intents]
        all_ids = [int(i) for i in ids] + [s.intent.id for s in batch.intents]
        entries = tuple(decode_order_word(i, w) for i, w in enumerate(all_words))
        return cls(entries, tuple(all_ids), batch)

    @classmethod
    def settled(
        cls,
        words: Sequence[int],
        ids: Sequence[int],
        intent_words: Sequence[int],
        intent_ids: Sequence[int],
    ) -> SlotBook:
        """A settled slot's book: its direct book and the intents its SlotSettled event carried
        (their order words and ids), in book order."""
        if len(words) != len(ids) or len(intent_words) != len(intent_ids):
            raise ValueError("every book entry needs exactly one id")
        all_words = [int(w) for w in (*words, *intent_words)]
        entries = tuple(decode_order_word(i, w) for i, w in enumerate(all_words))
        return cls(entries, tuple(int(i) for i in (*ids, *intent_ids)))

    @property
    def direct(self) -> int:
        """How many entries are direct orders (the rest are intents)."""
        return len(self.ids) - len(self.batch.intents)

    def open_orders(self) -> list[Order]:
        """The orders that take part in clearing (cancelled ones do not)."""
        return [
            Order(
                id=order_id, side=Side(e.side), energy_wh=e.energy_wh, price=e.price, owner=e.owner
            )
            for e, order_id in zip(self.entries, self.ids, strict=True)
            if not e.cancelled
        ]


@dataclass(frozen=True, slots=True)
class Submission:
    """Arguments of Settlement.settleSlot after the slot number."""

    mode: int
    price: int
    fills: list[int]
    pairs: list[int]
    batch: IntentBatch = EMPTY_BATCH

    def args(
        self,
    ) -> tuple[int, int, tuple[list[int], list[bytes], list[str]], list[int], list[int]]:
        return (self.mode, self.price, self.batch.args(), self.fills, self.pairs)


def to_submission(book: SlotBook, clearing: Clearing) -> Submission:
    """Encode `clearing` (computed on `book.open_orders()`) for Settlement.settleSlot."""
    index_of = {order_id: i for i, order_id in enumerate(book.ids)}
    fills = [0] * len(book.ids)
    for order_id, fill in clearing.fills.items():
        fills[index_of[order_id]] = fill.filled_wh
    pairs: list[int] = []
    if clearing.mode is Mode.PAY_AS_BID:
        pairs = [
            pack_pair(index_of[p.buy_id], index_of[p.sell_id], p.energy_wh) for p in clearing.pairs
        ]
    price = clearing.clearing_price or 0
    return Submission(MODE_CODES[clearing.mode.value], price, fills, pairs, book.batch)


def clear_slot(
    words: Sequence[int],
    ids: Sequence[int],
    rules: SlotRules,
    batch: IntentBatch = EMPTY_BATCH,
) -> tuple[SlotBook, Clearing, Submission]:
    """Clear a slot from its direct book (`OrderBook.slotBook`, `slotOrderIds`), the intents the
    settlement will carry and the rules in force (`Community.tariffAt`, decoded). This is what the
    matcher submits."""
    book = SlotBook.from_words(words, ids, batch)
    mode = Mode(rules.mode)
    pc = rules.tariff.community_price if mode is Mode.COMMUNITY else None
    clearing = clear(book.open_orders(), mode, pc)
    return book, clearing, to_submission(book, clearing)
