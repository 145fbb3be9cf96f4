"""Small helpers shared by the contract tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from brownie.exceptions import VirtualMachineError

from chain.codec import decode_rules
from chain.submission import SlotBook, Submission, clear_slot
from market.clearing import Clearing


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
    community: Any, book: Any, slot: int
) -> tuple[SlotBook, Clearing, Submission]:
    """Clear `slot` exactly as the matcher does, from the contracts' book and rules."""
    rules = decode_rules(community.tariffAt(slot))
    return clear_slot(book.slotBook(slot), book.slotOrderIds(slot), rules)
