"""The sharing community files and the chain-free sharing run (sim/sharing.py): net export per
member and slot, the allocation of a run with both keys, the per-member totals and their
printout, and `gridshare simulate-sharing`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from market.sharing import PPM, Key, SharingMember, allocate
from sim.community import CommunityFileError, load_community, parse_community
from sim.profiles import HouseholdProfile
from sim.sharing import (
    NetExports,
    allocate_run,
    format_summary,
    hour_of_year,
    kwh,
    member_net_export_wh,
    net_exports,
    percent,
    summarize,
    summary_to_json,
)
from sim.sharingreport import offline_report, write_sharing_report

ROOT = Path(__file__).resolve().parents[2]
GRIDSHARE = Path(sys.executable).parent / "gridshare"

SMALL = """
name = "small"
start_date = 2026-06-15
slot_minutes = 60

[sharing]
key = "dynamic"

[[household]]
name = "pv"
annual_kwh = 3000
pv_kwp = 5.0

[[household]]
name = "home"
annual_kwh = 3000
participation_pct = 50

[[household]]
name = "store"
annual_kwh = 3000
pv_kwp = 2.0
battery = { capacity_wh = 1000, power_w = 600 }
"""


def small_profiles(slots: int) -> dict[str, HouseholdProfile]:
    sun = [0] * 8 + [1500] * 8 + [0] * 8
    return {
        "pv": HouseholdProfile([200] * slots, (sun * 2)[:slots]),
        "home": HouseholdProfile([400] * slots, [0] * slots),
        "store": HouseholdProfile([300] * slots, [round(s * 0.4) for s in (sun * 2)[:slots]]),
    }


def test_sharing_20_is_what_the_issue_asks_for() -> None:
    spec = load_community(ROOT / "communities" / "sharing-20.toml")
    assert len(spec.households) == 20 and spec.slot_minutes == 15
    assert spec.sharing is not None and spec.sharing.key is Key.DYNAMIC
    assert {h.profile for h in spec.households} == {"h25", "p25", "s25"}
    assert sum(h.participation_pct < 100 for h in spec.households) >= 3
    assert sum(h.pv_kwp > 0 for h in spec.households) >= 5
    assert len(spec.cups_by_member_id()) == 20
    static = load_community(ROOT / "communities" / "sharing-static-8.toml")
    assert static.sharing is not None and static.sharing.key is Key.STATIC


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('key = "dynamic"', 'key = "fair"'),
        ("participation_pct = 50", "participation_pct = 0"),
        ("participation_pct = 50", "participation_pct = 101"),
        ("participation_pct = 50", 'cups = "ES0031000000000001AA"'),
        ("participation_pct = 50", "share_weight = 3"),
        ("participation_pct = 50", "share_weights = [1, 2]"),
    ],
)
def test_bad_sharing_fields_are_refused(change: str, message: str) -> None:
    with pytest.raises(CommunityFileError, match=r"x\.toml: "):
        parse_community(SMALL.replace(change, message), "x.toml")


def test_static_key_needs_weights_and_the_sharing_section() -> None:
    static = SMALL.replace('key = "dynamic"', 'key = "static"')
    with pytest.raises(CommunityFileError, match="pv: the static key needs share_weight"):
        parse_community(static)
    weights = static.replace('name = "pv"\n', 'name = "pv"\nshare_weight = 0\n').replace(
        'name = "home"\n', 'name = "home"\nshare_weights = [' + "1, " * 23 + "0]\n"
    )
    with pytest.raises(CommunityFileError, match="store: the static key needs"):
        parse_community(weights)
    both = weights.replace('name = "store"\n', 'name = "store"\nshare_weight = 1\n')
    spec = parse_community(both)
    schedule = spec.static_schedule(2026)
    assert schedule[1][0] == 0 and schedule[2][0] + schedule[3][0] == PPM
    assert schedule[2][23] == 0 and schedule[3][23] == PPM  # home's weight is 0 at 23:00
    no_section = SMALL.replace('[sharing]\nkey = "dynamic"\n', "")
    with pytest.raises(CommunityFileError, match="need a \\[sharing\\] section"):
        parse_community(no_section)
    with pytest.raises(CommunityFileError, match="only used by the static key"):
        parse_community(SMALL.replace("participation_pct = 50", "share_weight = 1"))


def test_net_exports_run_home_batteries_for_self_consumption() -> None:
    spec = parse_community(SMALL)
    exports = net_exports(spec, small_profiles(24), 1, spec.start_date)
    assert exports.slots == 24
    assert exports.by_member[1][0] == -200 and exports.by_member[1][10] == 1300
    assert exports.by_member[2] == (-400,) * 24
    store = exports.by_member[3]
    # 600 Wh of PV against 300 Wh load: the battery takes the 300 surplus until it is full
    # (1,000 Wh after 4 slots: 300, 300, 300, 100), then exports; at night it covers the load
    # until empty.
    assert store[8:13] == (0, 0, 0, 200, 300)
    assert store[16:21] == (0, 0, 0, -300 + 100, -300)


def test_hour_of_year_is_the_hour_the_slot_starts_in() -> None:
    assert hour_of_year(date(2026, 6, 15), 0, 15) == (2026, 165 * 24)
    assert hour_of_year(date(2026, 6, 15), 3, 15) == (2026, 165 * 24)  # 00:45
    assert hour_of_year(date(2026, 6, 15), 4, 15) == (2026, 165 * 24 + 1)
    assert hour_of_year(date(2026, 12, 31), 95, 15) == (2026, 8759)
    assert hour_of_year(date(2026, 12, 31), 96, 15) == (2027, 0)


def test_a_run_allocates_every_slot_and_the_totals_add_up() -> None:
    spec = parse_community(SMALL)
    exports = net_exports(spec, small_profiles(48), 2, spec.start_date)
    allocations = allocate_run(spec, exports)
    assert len(allocations) == 48
    # The same as allocating one slot by hand, with the participation factor.
    slot = allocations[10]
    assert slot.community_production_wh == 1300 + 0  # the store's surplus is in its battery
    home = slot.member(2)
    assert home.participating_consumption_wh == 200 and home.allocated_wh == 200
    summary = summarize(spec, exports, allocations)
    assert summary.covered_wh == summary.to_community_wh == sum(a.allocated_wh for a in allocations)
    for m in summary.members:
        assert 0 <= m.covered_wh <= m.consumption_wh and 0 <= m.to_community_wh <= m.production_wh
    home_totals = summary.members[1]
    assert home_totals.consumption_wh == 400 * 48
    assert home_totals.covered_wh == 200 * 16  # half of its load, in the 16 sunny slots
    assert summary.self_sufficiency_bps == summary.covered_wh * 10_000 // summary.consumption_wh
    text = format_summary(summary)
    assert "self-sufficiency" in text and kwh(home_totals.covered_wh) in text
    data = summary_to_json(summary)
    assert data["members"]["2"]["from_grid_wh"] == 400 * 48 - 200 * 16
    assert data["covered_wh"] == summary.covered_wh


def test_the_sharing_report_shows_the_runs_figures_exactly(tmp_path: Path) -> None:
    """The report's per-slot and per-day figures are the allocations' sums: covered + grid draw
    = consumption in every slot and in total, exactly (integer Wh); its HTML shows the totals and
    references PNG plots written beside it."""
    spec = parse_community(SMALL)
    exports = net_exports(spec, small_profiles(48), 2, spec.start_date)
    allocations = allocate_run(spec, exports)
    report = offline_report(spec, exports, allocations)
    summary = summarize(spec, exports, allocations)
    assert report.summary == summary
    assert len(report.slots) == 48 and len(report.days) == 2
    for slot, allocation in zip(report.slots, allocations, strict=True):
        assert slot.consumption_wh == sum(allocation.consumption_wh)
        assert slot.covered_wh == allocation.allocated_wh
        assert slot.covered_wh + slot.from_grid_wh == slot.consumption_wh
        assert slot.to_community_wh + slot.to_grid_wh == slot.production_wh
    for period in (report.slots, report.days):
        assert sum(s.consumption_wh for s in period) == summary.consumption_wh
        assert sum(s.covered_wh for s in period) == summary.covered_wh
        assert sum(s.from_grid_wh for s in period) == summary.consumption_wh - summary.covered_wh
        assert sum(s.to_community_wh for s in period) == summary.to_community_wh
        assert sum(s.production_wh for s in period) == summary.production_wh
        assert all(
            type(v) is int
            for s in period
            for v in (s.consumption_wh, s.covered_wh, s.production_wh, s.to_community_wh)
        )
    # Bills: the rule's money, each member no worse off than BaU (the shipped tariff's prices).
    assert set(report.bills) == {"pv", "home", "store"}
    assert all(b.savings == b.bau_cost - b.net_cost >= 0 for b in report.bills.values())
    assert report.bills["home"].savings > 0  # covered by the community in the sunny slots

    path = write_sharing_report(report, tmp_path / "out")
    page = path.read_text(encoding="utf-8")
    images = re.findall(r'<img alt="[^"]*" src="([^"]+)"', page)
    assert images == ["coverage.png", "members.png", "bills.png"]
    for name in images:
        assert (path.parent / name).read_bytes().startswith(b"\x89PNG")
    total = re.search(r'<tr data-member="total">(.*?)</tr>', page)
    assert total is not None
    assert re.findall(r"<td>([^<]*)</td>", total.group(1))[1:4] == [
        kwh(summary.consumption_wh),
        kwh(summary.covered_wh),
        kwh(summary.consumption_wh - summary.covered_wh),
    ]
    assert percent(summary.self_sufficiency_bps) in page and "not run (no chain)" in page


def test_static_run_takes_each_hours_shares() -> None:
    static = (
        SMALL.replace('key = "dynamic"', 'key = "static"')
        .replace('name = "pv"\n', 'name = "pv"\nshare_weight = 0\n')
        .replace('name = "home"\n', 'name = "home"\nshare_weight = 1\n')
        .replace('name = "store"\n', 'name = "store"\nshare_weight = 3\n')
    )
    spec = parse_community(static)
    exports = net_exports(spec, small_profiles(24), 1, spec.start_date)
    allocations = allocate_run(spec, exports)
    e = allocations[10].community_production_wh
    home = allocations[10].member(2)
    assert home.allotment_wh == e * 250_000 // PPM
    assert home.allocated_wh == min(home.participating_consumption_wh, home.allotment_wh)
    assert allocations[10].key is Key.STATIC


def test_formatting_is_exact() -> None:
    assert kwh(0) == "0.000" and kwh(1234567) == "1234.567" and kwh(-1500) == "-1.500"
    assert percent(2428) == "24.28 %" and percent(5) == "0.05 %"


def test_sharing_20_day_on_real_profiles() -> None:
    """One day of sharing-20 on the BDEW 2025 profiles and pvlib: integer Wh per 15-minute slot
    for every member, p25 / s25 members only import, and the allocation is consistent."""
    spec = load_community(ROOT / "communities" / "sharing-20.toml")
    exports = member_net_export_wh(spec, 1)
    assert isinstance(exports, NetExports) and exports.slots == 96
    assert sorted(exports.by_member) == list(range(1, 21))
    for h, m in zip(spec.households, sorted(exports.by_member), strict=True):
        row = exports.by_member[m]
        assert len(row) == 96 and all(type(v) is int for v in row)
        if h.profile in ("p25", "s25"):
            assert max(row) <= 0 and min(row) < 0
        if h.pv_kwp > 0:
            assert max(row) > 0
    allocations = allocate_run(spec, exports)
    assert allocations[48].community_production_wh > 0  # noon
    assert allocations[0].community_production_wh == 0  # midnight
    pct = {k: h.participation_pct for k, h in enumerate(spec.households, start=1)}
    for k, allocation in enumerate(allocations):
        members = [SharingMember(m, exports.by_member[m][k], pct[m]) for m in range(1, 21)]
        assert allocation == allocate(members, Key.DYNAMIC)


def test_simulate_sharing_command(tmp_path: Path) -> None:
    community = str(ROOT / "communities" / "sharing-20.toml")
    out = tmp_path / "report"
    result = subprocess.run(
        [str(GRIDSHARE), "simulate-sharing", community, "--json", "--out", str(out)],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode().endswith(f"report: {out / 'report.html'}\n")
    assert (out / "coverage.png").is_file()
    data = json.loads(result.stdout)
    assert data["key"] == "dynamic" and data["slot_minutes"] == 15 and len(data["members"]) == 20
    members = data["members"].values()
    assert data["covered_wh"] == sum(m["covered_wh"] for m in members) == data["to_community_wh"]
    assert 0 < data["self_sufficiency_bps"] < 10_000
    for m in members:
        assert m["consumption_wh"] == m["covered_wh"] + m["from_grid_wh"]
        assert m["production_wh"] == m["to_community_wh"] + m["to_grid_wh"]
    bad = subprocess.run(
        [str(GRIDSHARE), "simulate-sharing", str(ROOT / "communities" / "default-20.toml")],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and bad.stderr.decode().count("\n") == 1
    assert b"no [sharing] section" in bad.stderr
