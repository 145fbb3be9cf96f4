"""Slot arithmetic of contracts/lib/Calendar.sol, for deciding which slots are due (the rulebook's
calendar; `chain.calendar.read_calendar` reads a deployment's from its Community contract)."""

from __future__ import annotations

from dataclasses import dataclass


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

    def slots_starting_in(self, start: int, end: int) -> range:
        """The slots whose delivery starts in [start, end) (unix seconds; none before genesis)."""
        first = max(0, -((self.genesis - start) // self.slot_seconds))  # ceil, clamped
        stop = max(0, -((self.genesis - end) // self.slot_seconds))
        return range(first, max(first, stop))

    def hour_of_day(self, slot: int) -> int:
        """The hour of the day (0..23) in which `slot` starts, days counted from genesis: the
        hour whose share an hourly static schedule gives (Calendar.hourOfDay on-chain)."""
        return hour_of_day(self.slot_seconds, slot)

    def gate_closure(self, slot: int) -> int:
        return self.genesis + slot * self.slot_seconds - self.gate_closure_seconds

    def last_due_slot(self, now: int) -> int | None:
        """The latest slot whose gate has closed at time `now` (None if none has)."""
        elapsed = now - self.gate_closure(0)
        if elapsed < 0:
            return None
        return elapsed // self.slot_seconds


def hour_of_day(slot_seconds: int, slot: int) -> int:
    """The hour of the day (0..23) in which `slot` starts, counting days from genesis."""
    return slot * slot_seconds // 3600 % 24
