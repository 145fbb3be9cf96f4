"""Static sharing schedules and Spain's hourly coefficient file. Pure: text in, text out.

A static key may be a schedule: a share per member for every hour of the year (rulebook, "Energy
sharing"; `market.sharing.shares_for_hour` applies it). Spain's collective self-consumption
(Real Decreto 244/2019, annex I as amended by Orden TED/1247/2021) communicates such a schedule to
the distributor as a plain-text file of hourly distribution coefficients ("coeficientes de reparto
horarios"): one line per participant and hour of the year::

    ES0031405123456789JN;1;0.250000
    ES0031405123456789JN;2;0.250000
    ...

`CUPS;hour;coefficient`: the participant's supply point code, the hour of the year 1..8760
(1..8784 in a leap year; hour 1 is the year's first hour), the coefficient with exactly six
decimals in 0..1. The coefficients of every hour sum to exactly 1.

Six decimals are parts per million, the unit of `market.sharing`'s shares, so a coefficient *is* a
share in ppm written as a decimal: the file is exact, and export -> import gives back the same
integers. Where a community declares relative weights instead of ppm, `ppm_by_largest_remainder`
turns each hour's weights into ppm summing to exactly 1,000,000.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from market.sharing import PPM

HOURS_PER_DAY = 24

_CUPS_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_CUPS = re.compile(r"ES(\d{16})([A-Z]{2})([0-9][FPCRXYZ])?")
_COEFFICIENT = re.compile(r"([01])[.,](\d{6})")
MAX_WEIGHT = 10**12
"""Bound on one member's weight for one hour (keeps every intermediate product small)."""


class CoefficientFileError(ValueError):
    """A coefficient file or schedule that cannot be used; the message is one line and names
    the line, the hour and / or the CUPS at fault."""


# --- CUPS --------------------------------------------------------------------------------------


def cups_check_letters(digits: str) -> str:
    """The two control letters of a CUPS whose 16 digits (distributor code and supply number)
    are `digits`: the number modulo 529, its quotient and remainder by 23 as letters."""
    remainder = int(digits) % 529
    return _CUPS_LETTERS[remainder // 23] + _CUPS_LETTERS[remainder % 23]


def cups_problem(cups: str) -> str | None:
    """Why `cups` is not a valid CUPS, or None. A CUPS is `ES`, 16 digits, two control letters
    computed from the digits, and optionally a border-point suffix of a digit and a letter
    (20 or 22 characters)."""
    match = _CUPS.fullmatch(cups)
    if match is None:
        return "must be ES, 16 digits, 2 control letters and an optional 2-character suffix"
    expected = cups_check_letters(match.group(1))
    if match.group(2) != expected:
        return f"control letters must be {expected}, not {match.group(2)}"
    return None


# --- weights to ppm ----------------------------------------------------------------------------


def ppm_by_largest_remainder(weights: Sequence[int]) -> list[int]:
    """Shares in ppm summing to exactly 1,000,000, in proportion to non-negative integer
    `weights` (at least one positive).

    Each share is `floor(1,000,000 * w_i / W)`; the ppm still missing (fewer than the number of
    members) go one each to the largest remainders `1,000,000 * w_i mod W`, ties to the earlier
    member (ascending id, as every hand-out in the rulebook). Integer arithmetic only, so every
    machine gets the same shares, and no share is more than 1 ppm from its exact value.
    """
    total = sum(weights)
    if total <= 0 or min(weights) < 0:
        raise ValueError("weights must be non-negative with a positive sum")
    floors = [PPM * w // total for w in weights]
    missing = PPM - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(PPM * weights[i] % total), i))
    for i in order[:missing]:
        floors[i] += 1
    return floors


def hours_in_year(year: int) -> int:
    """8,784 in a leap year, else 8,760."""
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 8784 if leap else 8760


def daily_schedule(weights: Mapping[int, Sequence[int]], year: int) -> dict[int, list[int]]:
    """A year's schedule (member id -> ppm per hour of the year) from per-member weights for each
    hour of the day (24 each), the same every day: hour `h` of the year (0-based) uses the
    weights of hour-of-day `h % 24`, i.e. the year's standard-time clock (no daylight saving
    shift: a year always has 8,760 / 8,784 hours). Each hour of the day is turned into ppm with
    `ppm_by_largest_remainder`, members in ascending id. CoefficientFileError names an hour of
    the day in which every weight is 0 (nobody to give that hour's production to)."""
    ids = sorted(weights)
    if not ids:
        raise CoefficientFileError("the schedule has no members")
    for member_id in ids:
        row = weights[member_id]
        if len(row) != HOURS_PER_DAY:
            raise CoefficientFileError(
                f"member {member_id}: needs {HOURS_PER_DAY} hourly weights, has {len(row)}"
            )
        for w in row:
            if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= MAX_WEIGHT:
                raise CoefficientFileError(
                    f"member {member_id}: weights must be integers 0..{MAX_WEIGHT}, got {w!r}"
                )
    per_hour_of_day: list[list[int]] = []
    for hour in range(HOURS_PER_DAY):
        column = [weights[m][hour] for m in ids]
        if sum(column) == 0:
            raise CoefficientFileError(f"hour of day {hour}: every member's weight is 0")
        per_hour_of_day.append(ppm_by_largest_remainder(column))
    days = hours_in_year(year) // HOURS_PER_DAY
    return {
        member_id: [per_hour_of_day[h][k] for h in range(HOURS_PER_DAY)] * days
        for k, member_id in enumerate(ids)
    }


def check_schedule(schedule: Mapping[int, Sequence[int]], year: int) -> None:
    """CoefficientFileError unless every member has a ppm share 0..1,000,000 for every hour of
    `year` and every hour's shares sum to exactly 1,000,000 (what Spain's file requires; the
    rulebook's static key alone would accept less)."""
    hours = hours_in_year(year)
    for member_id in sorted(schedule):
        if len(schedule[member_id]) != hours:
            raise CoefficientFileError(
                f"member {member_id}: {len(schedule[member_id])} hourly shares, {year} has {hours}"
            )
    for hour in range(hours):
        total = 0
        for member_id in sorted(schedule):
            share = schedule[member_id][hour]
            if isinstance(share, bool) or not isinstance(share, int) or not 0 <= share <= PPM:
                raise CoefficientFileError(
                    f"hour {hour + 1}, member {member_id}: share must be 0..{PPM} ppm, "
                    f"got {share!r}"
                )
            total += share
        if total != PPM:
            raise CoefficientFileError(
                f"hour {hour + 1}: shares sum to {total} ppm, not {PPM} (exactly 1)"
            )


# --- the file ----------------------------------------------------------------------------------


def format_coefficient(ppm: int) -> str:
    """`250000` -> `0.250000`; `1000000` -> `1.000000`."""
    return f"{ppm // PPM}.{ppm % PPM:06d}"


def render_coefficients(
    schedule: Mapping[int, Sequence[int]], cups: Mapping[int, str], year: int
) -> str:
    """The coefficient file of `schedule` (member id -> ppm per hour of `year`) for the members'
    CUPS: lines ordered by hour, then by member in ascending id; `\\n` line ends, one after the
    last line too. The participants listed are the members with a share in some hour; a member
    with none all year (a pure producer, e.g. the installation itself) is left out, as in
    Spain's file, and needs no CUPS. CoefficientFileError if the schedule does not sum to 1 in
    some hour or a participant has no valid CUPS."""
    check_schedule(schedule, year)
    listed: list[tuple[int, str]] = []
    for member_id in sorted(schedule):
        if not any(schedule[member_id]):
            continue
        code = cups.get(member_id)
        if code is None:
            raise CoefficientFileError(f"member {member_id}: has no CUPS")
        problem = cups_problem(code)
        if problem is not None:
            raise CoefficientFileError(f"member {member_id}: CUPS {code}: {problem}")
        listed.append((member_id, code))
    codes = [code for _, code in listed]
    if len(set(codes)) != len(codes):
        repeated = sorted({c for c in codes if codes.count(c) > 1})[0]
        raise CoefficientFileError(f"CUPS {repeated} belongs to more than one member")
    lines = [
        f"{code};{hour + 1};{format_coefficient(schedule[member_id][hour])}\n"
        for hour in range(hours_in_year(year))
        for member_id, code in listed
    ]
    return "".join(lines)


def parse_coefficients(text: str, cups: Mapping[str, int], year: int) -> dict[int, list[int]]:
    """The schedule (member id -> ppm per hour of `year`) of a coefficient file, for a community
    whose members have the CUPS `cups` (CUPS -> member id).

    A community member the file does not mention has a share of 0 in every hour (a pure
    producer; `render_coefficients` leaves such members out).

    Accepted: `\\n` or `\\r\\n` line ends, a final line end or not, a UTF-8 byte-order mark, and
    a decimal comma as well as a point. Refused, with a CoefficientFileError naming the line,
    the hour and / or the CUPS: a line that is not `CUPS;hour;coefficient`, an unknown CUPS, an
    hour outside 1..8760 (8784), a coefficient that is not 0..1 with exactly six decimals, a
    CUPS and hour given twice, an hour missing for a CUPS the file lists, an empty file, and an
    hour whose coefficients do not sum to exactly 1.
    """
    hours = hours_in_year(year)
    text = text.removeprefix("\ufeff")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final line end
    schedule: dict[int, list[int | None]] = {}
    seen_on: dict[tuple[int, int], int] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.removesuffix("\r")
        fields = line.split(";")
        if len(fields) != 3:
            raise CoefficientFileError(
                f"line {number}: expected CUPS;hour;coefficient, got {_short(line)}"
            )
        code, hour_text, value_text = fields
        member_id = cups.get(code)
        if member_id is None:
            raise CoefficientFileError(
                f"line {number}: CUPS {_short(code)} is not a member of the community"
            )
        if not hour_text.isascii() or not hour_text.isdigit() or len(hour_text) > 5:
            raise CoefficientFileError(
                f"line {number} (CUPS {code}): hour must be an integer 1..{hours}, "
                f"got {_short(hour_text)}"
            )
        hour = int(hour_text)
        if not 1 <= hour <= hours:
            raise CoefficientFileError(
                f"line {number} (CUPS {code}): hour {hour} is outside 1..{hours} for {year}"
            )
        match = _COEFFICIENT.fullmatch(value_text)
        if match is None:
            raise CoefficientFileError(
                f"line {number} (CUPS {code}, hour {hour}): coefficient must be 0..1 with "
                f"six decimals, got {_short(value_text)}"
            )
        ppm = int(match.group(1)) * PPM + int(match.group(2))
        if ppm > PPM:
            raise CoefficientFileError(
                f"line {number} (CUPS {code}, hour {hour}): coefficient {value_text} is more than 1"
            )
        first = seen_on.get((member_id, hour))
        if first is not None:
            raise CoefficientFileError(
                f"line {number}: CUPS {code} hour {hour} repeated (first on line {first})"
            )
        seen_on[(member_id, hour)] = number
        schedule.setdefault(member_id, [None] * hours)[hour - 1] = ppm
    if not schedule:
        raise CoefficientFileError("the file has no lines")
    by_id = {member_id: code for code, member_id in cups.items()}
    for hour in range(hours):
        total = 0
        for member_id, shares in sorted(schedule.items()):
            share = shares[hour]
            if share is None:
                raise CoefficientFileError(f"hour {hour + 1}: CUPS {by_id[member_id]} missing")
            total += share
        if total != PPM:
            raise CoefficientFileError(
                f"hour {hour + 1}: coefficients sum to {format_coefficient(total)}, not 1"
            )
    return {
        m: [s for s in schedule[m] if s is not None] if m in schedule else [0] * hours
        for m in sorted(cups.values())
    }


def _short(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
