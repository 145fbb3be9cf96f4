"""Small helpers shared by the contract tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from brownie.exceptions import VirtualMachineError

from chain.codec import tariff_from_tuple
from chain.submission import SlotBook, Submission, to_submission
from market.clearing import Clearing, Mode, clear


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


def read_book(book: Any, slot: int) -> SlotBook:
    """The slot's book as stored on-chain."""
    return SlotBook.from_words(book.slotBook(slot), book.slotOrderIds(slot))


def clear_on_chain_book(community: Any, book: Any, slot: int) -> tuple[SlotBook, Clearing, Submission]:
    """Clear `slot` with the rulebook module exactly as the matcher does: read the book and the
    tariff in force from the contracts, clear, encode."""
    slot_book = read_book(book, slot)
    tariff = tariff_from_tuple(community.tariffAt(slot))
    mode = Mode(tariff.mode)
    pc = tariff.community_price if mode is Mode.COMMUNITY else None
    clearing = clear(slot_book.open_orders(), mode, pc)
    return slot_book, clearing, to_submission(slot_book, clearing)
