"""What every meter source yields: timestamped cumulative registers, or a rejection. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    """A meter's cumulative registers at `timestamp` (unix seconds): energy imported from and
    exported to the grid since the meter was installed, in Wh."""

    meter: str
    timestamp: int
    import_wh: int
    export_wh: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input that must not reach the chain: a corrupt telegram, a register going backwards, ...
    It is quarantined with `reason`; `raw` is the input as received (for the record)."""

    reason: str
    raw: str
    meter: str | None = None
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One item from a source. `position` is where the source resumes after it (the item's
    ordinal in a file); None for live sources (serial, TCP), which cannot be replayed."""

    position: int | None
    item: Sample | Rejected
