"""From a slot's on-chain book to the rulebook's input, and from the rulebook's clearing to the
Settlement contract's submission format (fills aligned with the book, pay-as-bid pairs packed).
Pure: the caller reads the book from the chain and sends the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chain.codec import MODE_CODES, BookEntry, decode_order_word, pack_pair
from market.clearing import Clearing, Mode, clear
from market.orders import Order, Side
from market.tariff import SlotRules


@dataclass(frozen=True, slots=True)
class SlotBook:
    """A slot's book as stored on-chain: entries in id order with their order ids."""

    entries: tuple[BookEntry, ...]
    ids: tuple[int, ...]

    @classmethod
    def from_words(cls, words: Sequence[int], ids: Sequence[int]) -> SlotBook:
        if len(words) != len(ids):
            raise ValueError(f"book has {len(words)} words but {len(ids)} ids")
        entries = tuple(decode_order_word(i, int(w)) for i, w in enumerate(words))
        return cls(entries, tuple(int(i) for i in ids))

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

    def args(self) -> tuple[int, int, list[int], list[int]]:
        return (self.mode, self.price, self.fills, self.pairs)


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
    return Submission(MODE_CODES[clearing.mode.value], price, fills, pairs)


def clear_slot(
    words: Sequence[int], ids: Sequence[int], rules: SlotRules
) -> tuple[SlotBook, Clearing, Submission]:
    """Clear a slot from what the chain holds: its book (`OrderBook.slotBook`, `slotOrderIds`)
    and the rules in force (`Community.tariffAt`, decoded). This is what the matcher submits."""
    book = SlotBook.from_words(words, ids)
    mode = Mode(rules.mode)
    pc = rules.tariff.community_price if mode is Mode.COMMUNITY else None
    clearing = clear(book.open_orders(), mode, pc)
    return book, clearing, to_submission(book, clearing)
