"""What every meter source yields: timestamped cumulative registers, or a rejection; and a
meter's name and on-chain id. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

METER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


class MeterNameError(ValueError):
    """A meter name that cannot be an on-chain meter id."""


def meter_id(meter: str) -> bytes:
    """The meter's on-chain id: its name in ASCII, right-padded with zero bytes to 32 bytes (the
    way Community.registerMeter is called for it)."""
    if not METER_NAME.match(meter):
        raise MeterNameError(f"meter name {meter!r} is not 1-32 characters of [A-Za-z0-9._-]")
    return meter.encode("ascii").ljust(32, b"\0")


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
