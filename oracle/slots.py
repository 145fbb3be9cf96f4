"""From cumulative registers to per-slot energy, and the checks a sample must pass. Pure.

Rule (docs/decisions.md, "Meter oracle"): the register value at a slot boundary `b` between two
accepted samples (t0, v0) and (t1, v1) with t0 < b <= t1 is interpolated linearly and rounded
down, R(b) = v0 + (v1 - v0)·(b - t0) // (t1 - t0). A slot's energy is R(end) - R(start), for
import and export separately. Every boundary value is computed once and kept, so the slot
energies of a meter add up exactly to its register's movement: nothing is lost to rounding.
A meter's first slot is the first whose start boundary lies at or after its first sample.
"""

from __future__ import annotations

from dataclasses import dataclass

from market.calendar import Calendar
from oracle.samples import Sample


@dataclass(frozen=True, slots=True)
class MeterTrack:
    """What the oracle remembers of a meter between samples: its last accepted sample and the
    register values at the last slot boundary it passed (None before the first boundary)."""

    last: Sample
    boundary: int | None = None  # unix time of the last boundary passed
    boundary_import_wh: int = 0
    boundary_export_wh: int = 0


@dataclass(frozen=True, slots=True)
class SlotEnergy:
    """A meter's energy in one delivery slot, in Wh."""

    meter: str
    slot: int
    import_wh: int
    export_wh: int


@dataclass(frozen=True, slots=True)
class Limits:
    """What a plausible sample looks like. `rating_w` is the meter's rated power: no register
    can move faster than that (plus `tolerance_wh` for register resolution)."""

    rating_w: int
    max_future_seconds: int
    tolerance_wh: int = 1


def check(track: MeterTrack | None, sample: Sample, now: int, limits: Limits) -> str | None:
    """Why `sample` must be quarantined, or None if it is acceptable after `track`."""
    if sample.import_wh < 0 or sample.export_wh < 0:
        return "negative register"
    if sample.timestamp > now + limits.max_future_seconds:
        return f"timestamp {sample.timestamp} is in the future (now {now})"
    if track is None:
        return None
    last = track.last
    if sample.timestamp < last.timestamp:
        return f"timestamp {sample.timestamp} is before the last accepted {last.timestamp}"
    if sample.timestamp == last.timestamp:
        if (sample.import_wh, sample.export_wh) == (last.import_wh, last.export_wh):
            return None  # the same sample again: harmless, see `advance`
        return f"second sample at {sample.timestamp} with other registers"
    if sample.import_wh < last.import_wh:
        return f"import register went backwards ({last.import_wh} -> {sample.import_wh} Wh)"
    if sample.export_wh < last.export_wh:
        return f"export register went backwards ({last.export_wh} -> {sample.export_wh} Wh)"
    most = limits.rating_w * (sample.timestamp - last.timestamp) // 3600 + limits.tolerance_wh
    for register, moved in (
        ("import", sample.import_wh - last.import_wh),
        ("export", sample.export_wh - last.export_wh),
    ):
        if moved > most:
            return (
                f"{register} register jumped {moved} Wh in {sample.timestamp - last.timestamp} s,"
                f" more than the meter's {limits.rating_w} W rating allows ({most} Wh)"
            )
    return None


def _at(t0: int, v0: int, t1: int, v1: int, b: int) -> int:
    return v0 + (v1 - v0) * (b - t0) // (t1 - t0)


def advance(
    track: MeterTrack | None, sample: Sample, calendar: Calendar
) -> tuple[MeterTrack, list[SlotEnergy]]:
    """Take an accepted sample (`check` returned None): the new track and the slots it
    completes, in slot order."""
    if track is None:
        start = calendar.genesis
        length = calendar.slot_seconds
        # A sample exactly on a boundary is that boundary's value.
        if sample.timestamp >= start and (sample.timestamp - start) % length == 0:
            return MeterTrack(sample, sample.timestamp, sample.import_wh, sample.export_wh), []
        return MeterTrack(sample), []
    last = track.last
    if sample.timestamp == last.timestamp:
        return track, []
    done: list[SlotEnergy] = []
    boundary, b_imp, b_exp = track.boundary, track.boundary_import_wh, track.boundary_export_wh
    for b in _boundaries(calendar, last.timestamp, sample.timestamp):
        imp = _at(last.timestamp, last.import_wh, sample.timestamp, sample.import_wh, b)
        exp = _at(last.timestamp, last.export_wh, sample.timestamp, sample.export_wh, b)
        if boundary is not None:
            slot = calendar.slot_at(boundary)
            done.append(SlotEnergy(sample.meter, slot, imp - b_imp, exp - b_exp))
        boundary, b_imp, b_exp = b, imp, exp
    return MeterTrack(sample, boundary, b_imp, b_exp), done


def _boundaries(calendar: Calendar, after: int, upto: int) -> range:
    """Slot boundaries b with after < b <= upto (never before genesis)."""
    length = calendar.slot_seconds
    first = max(calendar.genesis, after + 1)
    k = -(-(first - calendar.genesis) // length)  # ceil
    return range(calendar.genesis + k * length, upto + 1, length)
