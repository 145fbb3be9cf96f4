"""A deployment's calendar (market.calendar.Calendar), as its Community contract holds it."""

from __future__ import annotations

from chain.node import Node
from market.calendar import Calendar


def read_calendar(node: Node) -> Calendar:
    """The deployment's calendar, as its Community contract holds it (immutable: read once)."""
    c = node.contract("Community").functions
    return Calendar(
        genesis=int(node.call(c.genesis())),
        slot_seconds=int(node.call(c.slotSeconds())),
        gate_closure_seconds=int(node.call(c.gateClosureSeconds())),
    )
