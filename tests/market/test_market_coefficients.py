"""Spain's hourly coefficient file (market/coefficients.py): CUPS, weights to ppm, the file's
golden text, round trips, and every way a file can be wrong named in one line."""

from __future__ import annotations

import hashlib
import json
import random
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.coefficients import (
    CoefficientFileError,
    check_schedule,
    cups_check_letters,
    cups_problem,
    daily_schedule,
    format_coefficient,
    hours_in_year,
    parse_coefficients,
    ppm_by_largest_remainder,
    render_coefficients,
)
from market.sharing import PPM, Key, SharingMember, allocate, shares_for_hour, with_shares
from sim.community import load_community

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def cups_for(number: int) -> str:
    digits = f"0031{number:012d}"
    return "ES" + digits + cups_check_letters(digits)


A, B, C = cups_for(1), cups_for(2), cups_for(3)
CUPS = {A: 1, B: 2, C: 3}


def flat_file(year: int = 2026, shares: tuple[int, ...] = (500_000, 300_000, 200_000)) -> str:
    schedule = {m: [s] * hours_in_year(year) for m, s in zip((1, 2, 3), shares, strict=True)}
    return render_coefficients(schedule, {v: k for k, v in CUPS.items()}, year)


# --- CUPS --------------------------------------------------------------------------------------


def test_cups_control_letters_are_the_digits_mod_529_in_base_23() -> None:
    # 0031000000000001 mod 529 = 266 = 11 * 23 + 13; letters 11 and 13 of TRWAGMYFPDXBNJZSQVHLCKE.
    assert 31_000_000_000_001 % 529 == 266
    assert cups_check_letters("0031000000000001") == "BJ"
    assert cups_problem(A) is None
    assert cups_problem(A + "0F") is None  # the border-point suffix
    wrong = A[:-2] + ("AA" if A[-2:] != "AA" else "BB")
    assert "control letters must be" in (cups_problem(wrong) or "")
    assert cups_problem("ES003100000000000") is not None
    assert cups_problem("FR0031000000000001" + A[-2:]) is not None


# --- weights to ppm ----------------------------------------------------------------------------


def test_largest_remainder_hand_examples() -> None:
    assert ppm_by_largest_remainder([1, 1, 1]) == [333_334, 333_333, 333_333]
    assert ppm_by_largest_remainder([0, 5]) == [0, PPM]
    assert ppm_by_largest_remainder([1, 2]) == [333_333, 666_667]  # larger remainder first
    with pytest.raises(ValueError, match="positive sum"):
        ppm_by_largest_remainder([0, 0])


@PROPERTY
@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=40).filter(lambda w: sum(w) > 0))
def test_largest_remainder_sums_to_exactly_one_and_stays_within_1_ppm(weights: list[int]) -> None:
    shares = ppm_by_largest_remainder(weights)
    assert sum(shares) == PPM
    total = sum(weights)
    for w, s in zip(weights, shares, strict=True):
        assert abs(Fraction(s) - Fraction(PPM * w, total)) < 1
        assert (w == 0) <= (s == 0)  # a zero weight never gets a share


@PROPERTY
@given(
    st.lists(st.lists(st.integers(0, 1000), min_size=24, max_size=24), min_size=1, max_size=6),
    st.sampled_from([2024, 2026]),
)
def test_daily_schedule_every_hour_sums_to_exactly_one(rows: list[list[int]], year: int) -> None:
    rows[0] = [w or 1 for w in rows[0]]  # somebody has weight in every hour
    schedule = daily_schedule(dict(enumerate(rows, start=1)), year)
    check_schedule(schedule, year)  # raises unless every hour sums to 1,000,000
    assert {len(v) for v in schedule.values()} == {hours_in_year(year)}
    for m, row in enumerate(rows, start=1):  # the same every day
        assert schedule[m][24 * 100 + 7] == schedule[m][7]
        assert (row[7] == 0) <= (schedule[m][7] == 0)


def test_daily_schedule_refuses_an_hour_without_weight() -> None:
    with pytest.raises(CoefficientFileError, match="hour of day 3: every member's weight is 0"):
        daily_schedule({1: [1, 1, 1, 0] + [1] * 20, 2: [0] * 24}, 2026)
    with pytest.raises(CoefficientFileError, match="member 2: needs 24"):
        daily_schedule({1: [1] * 24, 2: [1] * 23}, 2026)


# --- the file ----------------------------------------------------------------------------------


def test_golden_file_of_the_static_community() -> None:
    """The shipped static community's 2026 file: its first two hours line by line, its size
    and its digest (the golden JSON was written from a reviewed export)."""
    golden = json.loads((GOLDEN / "coefficients_sharing_static_8_2026.json").read_text())
    spec = load_community(ROOT / "communities" / "sharing-static-8.toml")
    text = render_coefficients(spec.static_schedule(2026), spec.cups_by_member_id(), 2026)
    lines = text.splitlines()
    assert lines[: len(golden["first_lines"])] == golden["first_lines"]
    assert len(lines) == golden["lines"] == 7 * 8760  # the roof (share 0) is not listed
    assert hashlib.sha256(text.encode()).hexdigest() == golden["sha256"]


def test_render_format_and_leap_year() -> None:
    text = flat_file(2024)
    lines = text.splitlines()
    assert lines[:3] == [f"{A};1;0.500000", f"{B};1;0.300000", f"{C};1;0.200000"]
    assert lines[-1] == f"{C};8784;0.200000"
    assert len(lines) == 3 * 8784 and text.endswith("\n")
    assert format_coefficient(PPM) == "1.000000" and format_coefficient(7) == "0.000007"


def test_render_refuses_a_schedule_that_does_not_sum_to_one_and_missing_cups() -> None:
    hours = hours_in_year(2026)
    short = {1: [999_999] * hours}
    with pytest.raises(CoefficientFileError, match="hour 1: shares sum to 999999 ppm"):
        render_coefficients(short, {1: A}, 2026)
    with pytest.raises(CoefficientFileError, match="member 2: has no CUPS"):
        render_coefficients({1: [PPM - 1] * hours, 2: [1] * hours}, {1: A}, 2026)
    # A member with no share all year is not listed and needs no CUPS.
    alone = render_coefficients({1: [PPM] * hours, 2: [0] * hours}, {1: A}, 2026)
    assert alone.splitlines()[:2] == [f"{A};1;1.000000", f"{A};2;1.000000"]
    with pytest.raises(CoefficientFileError, match="member 1: CUPS ES12: must be"):
        render_coefficients({1: [PPM] * hours}, {1: "ES12"}, 2026)


@PROPERTY
@given(st.integers(1, 5), st.integers(0, 2**32), st.sampled_from([2025, 2028]))
def test_round_trip_gives_the_same_ppm_shares(members: int, seed: int, year: int) -> None:
    """Any schedule (a different split of 1,000,000 in every hour, some members at 0 all
    year) survives export -> import exactly."""
    rng = random.Random(seed)
    hours = hours_in_year(year)
    ids = list(range(10, 10 + members))
    silent = rng.choice(ids) if members > 1 else None  # a pure producer: 0 all year
    schedule: dict[int, list[int]] = {m: [] for m in ids}
    active = [m for m in ids if m != silent]
    for _ in range(hours):
        cuts = sorted(rng.randint(0, PPM) for _ in range(len(active) - 1))
        parts = [b - a for a, b in zip([0, *cuts], [*cuts, PPM], strict=True)]
        for m, p in zip(active, parts, strict=True):
            schedule[m].append(p)
        if silent is not None:
            schedule[silent].append(0)
    cups = {m: cups_for(m) for m in ids}
    text = render_coefficients(schedule, cups, year)
    assert parse_coefficients(text, {c: m for m, c in cups.items()}, year) == schedule


def test_import_accepts_crlf_bom_decimal_comma_and_no_final_newline() -> None:
    text = flat_file()
    variant = "\ufeff" + text.replace(".", ",").replace("\n", "\r\n").removesuffix("\r\n")
    assert parse_coefficients(variant, CUPS, 2026) == parse_coefficients(text, CUPS, 2026)
    assert parse_coefficients(text, CUPS, 2026)[2][4000] == 300_000


def _replace_line(text: str, number: int, new: str | None) -> str:
    lines = text.splitlines()
    if new is None:
        del lines[number - 1]
    else:
        lines[number - 1] = new
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("line", "new", "message"),
    [
        (2, f"{B};1", "line 2: expected CUPS;hour;coefficient, got "),
        (2, f"{B};1;0.3;x", "line 2: expected CUPS;hour;coefficient"),
        (2, f"{cups_for(9)};1;0.300000", f"line 2: CUPS '{cups_for(9)}' is not a member"),
        (2, f"{B};0;0.300000", f"line 2 (CUPS {B}): hour 0 is outside 1..8760 for 2026"),
        (2, f"{B};8761;0.300000", "hour 8761 is outside 1..8760"),
        (2, f"{B};x1;0.300000", f"line 2 (CUPS {B}): hour must be an integer 1..8760"),
        (2, f"{B};1;0.3", f"line 2 (CUPS {B}, hour 1): coefficient must be 0..1 with six"),
        (2, f"{B};1;-0.300000", "coefficient must be 0..1 with six decimals, got '-0.300000'"),
        (2, f"{B};1;1.000001", f"line 2 (CUPS {B}, hour 1): coefficient 1.000001 is more"),
        (2, f"{B};1;0.300000 ", "six decimals"),
        (2, f"{B};2;0.300000", f"line 5: CUPS {B} hour 2 repeated (first on line 2)"),
        (2, None, f"hour 1: CUPS {B} missing"),
        (2, f"{B};1;0.299999", "hour 1: coefficients sum to 0.999999, not 1"),
        (3, f"{C};1;0.200001", "hour 1: coefficients sum to 1.000001, not 1"),
        (2, "", "line 2: expected CUPS;hour;coefficient, got ''"),
    ],
)
def test_import_names_the_line_hour_and_cups(line: int, new: str | None, message: str) -> None:
    text = _replace_line(flat_file(), line, new)
    with pytest.raises(CoefficientFileError) as info:
        parse_coefficients(text, CUPS, 2026)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_import_refuses_an_empty_file_and_a_missing_last_hour() -> None:
    with pytest.raises(CoefficientFileError, match="the file has no lines"):
        parse_coefficients("", CUPS, 2026)
    text = "".join(line + "\n" for line in flat_file().splitlines()[:-3])
    with pytest.raises(CoefficientFileError, match=f"hour 8760: CUPS {A} missing"):
        parse_coefficients(text, CUPS, 2026)


def test_an_imported_schedule_drives_the_static_key() -> None:
    """The file's shares are the static key's shares in ppm: hour 1 of the file is hour 0 of
    `shares_for_hour`, and allocating with them gives floor(E * s_i / 1,000,000)."""
    schedule = parse_coefficients(flat_file(), CUPS, 2026)
    shares = shares_for_hour(schedule, 0)
    members = [SharingMember(1, -1000), SharingMember(2, -1000), SharingMember(3, 1000)]
    allocation = allocate(with_shares(members, shares), Key.STATIC)
    assert [row.allotment_wh for row in allocation.members()] == [500, 300, 200]
