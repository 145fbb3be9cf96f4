"""Slot arithmetic of contracts/lib/Calendar.sol, for deciding which slots are due. Pure, but
for `read_calendar`, which asks the chain for a deployment's calendar."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chain.node import Node


@dataclass(frozen=True, slots=True)
class Calendar:
    """Slot `s` is delivered during [genesis + s·L, genesis + (s+1)·L); its book closes
    `gate_closure_seconds` before that and it may be settled from then on."""

    genesis: int
    slot_seconds: int
    gate_closure_seconds: int

    def slot_at(self, timestamp: int) -> int:
        """The slot whose delivery period contains `timestamp` (0 before genesis)."""
        if timestamp < self.genesis:
            return 0
        return (timestamp - self.genesis) // self.slot_seconds

    def slot_start(self, slot: int) -> int:
        return self.genesis + slot * self.slot_seconds

    def gate_closure(self, slot: int) -> int:
        return self.genesis + slot * self.slot_seconds - self.gate_closure_seconds

    def last_due_slot(self, now: int) -> int | None:
        """The latest slot whose gate has closed at time `now` (None if none has)."""
        elapsed = now - self.gate_closure(0)
        if elapsed < 0:
            return None
        return elapsed // self.slot_seconds


def read_calendar(node: Node) -> Calendar:
    """The deployment's calendar, as its Community contract holds it (immutable: read once)."""
    c = node.contract("Community").functions
    return Calendar(
        genesis=int(node.call(c.genesis())),
        slot_seconds=int(node.call(c.slotSeconds())),
        gate_closure_seconds=int(node.call(c.gateClosureSeconds())),
    )
