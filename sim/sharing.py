"""An energy-sharing community's days without a chain: net export per member and slot from the
community file, each slot allocated by `market.sharing`, and the per-member view households
asked for (consumption / covered by the community / from the grid / exported to the community
and to the grid), summed over the run.

Everything past the profiles is integer Wh and pure: `net_exports` turns load and PV per slot
(`sim.profiles`, integer Wh) into each member's metered net export, running home batteries as
the trading simulation does (`sim.agents.HouseholdAgent.deliver`); `allocate_run` allocates
every slot (a static key takes the shares of the hour of the year the slot starts in);
`summarize` sums the figures per member; `format_summary` prints them. `member_net_export_wh`
is the one step that reads the profile data (demandlib, pvlib package data; nothing is
downloaded).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from market.sharing import (
    Allocation,
    Key,
    SharingMember,
    allocate,
    shares_for_hour,
    with_shares,
)
from market.units import Wh
from sim.agents import HouseholdAgent, ReservationStrategy
from sim.community import Community
from sim.profiles import HouseholdProfile


@dataclass(frozen=True, slots=True)
class NetExports:
    """Each member's metered net export (+ export, - import) per slot, Wh, for `days` days
    from `first` (slot 0 starts at 00:00 of `first`)."""

    first: date
    days: int
    slot_minutes: int
    by_member: Mapping[int, tuple[Wh, ...]]
    """Member id (`Community.member_ids`) -> net export per slot."""

    @property
    def slots(self) -> int:
        return self.days * 1440 // self.slot_minutes


def net_exports(
    community: Community, profiles: Mapping[str, HouseholdProfile], days: int, first: date
) -> NetExports:
    """Net export per member and slot from the households' load and PV per slot (integer Wh,
    `sim.profiles`): PV minus load, with a home battery working for self-consumption first
    (charged from surplus, discharged into deficit, empty at the first slot), exactly as in the
    trading simulation. Pure."""
    ids = community.member_ids()
    slots = days * 1440 // community.slot_minutes
    by_member: dict[int, tuple[Wh, ...]] = {}
    for household in community.households:
        profile = profiles[household.name]
        if len(profile.load_wh) < slots or len(profile.pv_wh) < slots:
            raise ValueError(f"{household.name}: profile shorter than {slots} slots")
        agent = HouseholdAgent(household, ReservationStrategy(0), community.slot_minutes)
        flows = (agent.deliver(profile.load_wh[k], profile.pv_wh[k]) for k in range(slots))
        by_member[ids[household.name]] = tuple(f.export_wh - f.import_wh for f in flows)
    return NetExports(first, days, community.slot_minutes, by_member)


def member_net_export_wh(community: Community, days: int = 1) -> NetExports:
    """`days` days of net export per member and slot from the community's start date, on the
    BDEW profiles and pvlib PV of `sim.profiles`. Deterministic: the same file gives the same
    Wh on any machine."""
    from sim.profiles import community_profiles

    return net_exports(community, community_profiles(community, days), days, community.start_date)


def hour_of_year(first: date, slot: int, slot_minutes: int) -> tuple[int, int]:
    """(year, hour of that year from 0) in which slot `slot` of a run starting at 00:00 of
    `first` starts: the hour a static schedule's shares are taken from."""
    minutes = slot * slot_minutes
    day = first + timedelta(days=minutes // 1440)
    return day.year, (day - date(day.year, 1, 1)).days * 24 + minutes % 1440 // 60


def allocate_run(community: Community, exports: NetExports) -> list[Allocation]:
    """Every slot allocated by the community's key (`market.sharing.allocate`), with each
    member's participation factor; a static key uses `Community.static_schedule`."""
    if community.sharing is None:
        raise ValueError(f"{community.name} has no [sharing] section")
    key = community.sharing.key
    ids = community.member_ids()
    pct = {ids[h.name]: h.participation_pct for h in community.households}
    order = sorted(exports.by_member)
    schedules: dict[int, dict[int, list[int]]] = {}
    out: list[Allocation] = []
    for slot in range(exports.slots):
        members = [SharingMember(m, exports.by_member[m][slot], pct[m]) for m in order]
        if key is Key.STATIC:
            year, hour = hour_of_year(exports.first, slot, exports.slot_minutes)
            if year not in schedules:
                schedules[year] = community.static_schedule(year)
            members = with_shares(members, shares_for_hour(schedules[year], hour))
        out.append(allocate(members, key))
    return out


class Flows:
    """What follows from the four metered and shared figures (the fields of its subclasses)."""

    __slots__ = ()
    consumption_wh: Wh
    covered_wh: Wh
    production_wh: Wh
    to_community_wh: Wh

    @property
    def from_grid_wh(self) -> Wh:
        """The residual grid draw: consumption the community did not cover, bought from the
        supplier (G.01 - G.03)."""
        return self.consumption_wh - self.covered_wh

    @property
    def to_grid_wh(self) -> Wh:
        """Production not shared: fed into the grid (P.01)."""
        return self.production_wh - self.to_community_wh


@dataclass(frozen=True, slots=True)
class MemberTotals(Flows):
    """One member's figures summed over a run, Wh (DSO reporting names in brackets)."""

    id: int
    name: str
    participation_pct: int
    consumption_wh: Wh
    """Metered consumption (G.01 of a consumer)."""
    covered_wh: Wh
    """Covered by the community (G.03)."""
    production_wh: Wh
    """Metered production (G.01 of a producer)."""
    to_community_wh: Wh
    """Production credited as shared."""


@dataclass(frozen=True, slots=True)
class SharingSummary:
    community: str
    key: Key
    first: date
    days: int
    slot_minutes: int
    members: tuple[MemberTotals, ...]
    """In ascending member id."""

    @property
    def consumption_wh(self) -> Wh:
        return sum(m.consumption_wh for m in self.members)

    @property
    def covered_wh(self) -> Wh:
        return sum(m.covered_wh for m in self.members)

    @property
    def production_wh(self) -> Wh:
        return sum(m.production_wh for m in self.members)

    @property
    def to_community_wh(self) -> Wh:
        return sum(m.to_community_wh for m in self.members)

    @property
    def self_sufficiency_bps(self) -> int:
        """The members' metered consumption covered by the community, basis points (floored;
        0 with no consumption)."""
        return _bps(self.covered_wh, self.consumption_wh)

    @property
    def self_consumption_bps(self) -> int:
        """The members' metered production shared in the community, basis points (floored)."""
        return _bps(self.to_community_wh, self.production_wh)


def _bps(part: int, whole: int) -> int:
    return 0 if whole == 0 else part * 10_000 // whole


def summary_of(
    community: Community, exports: NetExports, rows: Iterable[tuple[int, Wh, Wh, Wh, Wh]]
) -> SharingSummary:
    """Rows (member id, consumption, allocated, production, credited) summed per member."""
    if community.sharing is None:
        raise ValueError(f"{community.name} has no [sharing] section")
    ids = community.member_ids()
    by_id = {ids[h.name]: h for h in community.households}
    sums: dict[int, list[int]] = {m: [0, 0, 0, 0] for m in sorted(exports.by_member)}
    for member, *figures in rows:
        s = sums[member]
        for i, value in enumerate(figures):
            s[i] += value
    return SharingSummary(
        community=community.name,
        key=community.sharing.key,
        first=exports.first,
        days=exports.days,
        slot_minutes=exports.slot_minutes,
        members=tuple(
            MemberTotals(m, by_id[m].name, by_id[m].participation_pct, s[0], s[1], s[2], s[3])
            for m, s in sums.items()
        ),
    )


SlotRow = tuple[int, int, Wh, Wh, Wh, Wh]
"""One member in one slot: (slot of the run from 0, member id, consumption, allocated,
production, credited), Wh."""


def allocation_rows(allocations: Sequence[Allocation]) -> Iterator[SlotRow]:
    """The run's allocations as rows, slot by slot."""
    for slot, allocation in enumerate(allocations):
        for r in allocation.members():
            yield (slot, r.id, r.consumption_wh, r.allocated_wh, r.production_wh, r.credited_wh)


def summarize(
    community: Community, exports: NetExports, allocations: Sequence[Allocation]
) -> SharingSummary:
    """Each member's figures summed over the run's slots."""
    return summary_of(community, exports, (row[1:] for row in allocation_rows(allocations)))


@dataclass(frozen=True, slots=True)
class SlotTotals(Flows):
    """The community's figures in one slot of the run (or one day: `slot` is then the day), Wh,
    summed over its members."""

    slot: int
    consumption_wh: Wh
    """Metered consumption (G.01)."""
    covered_wh: Wh
    """Covered by the community (G.03)."""
    production_wh: Wh
    to_community_wh: Wh
    """Production credited as shared."""


def slot_totals(rows: Iterable[SlotRow], slots: int) -> tuple[SlotTotals, ...]:
    """Rows summed per slot of the run, for every slot 0..`slots`-1 (a slot without rows is
    all zero)."""
    sums = [[0, 0, 0, 0] for _ in range(slots)]
    for slot, _member, *figures in rows:
        s = sums[slot]
        for i, value in enumerate(figures):
            s[i] += value
    return tuple(SlotTotals(k, *s) for k, s in enumerate(sums))


def daily_totals(slots: Sequence[SlotTotals], slot_minutes: int) -> tuple[SlotTotals, ...]:
    """Slot totals summed per day of the run (`slot` is the day from 0)."""
    per_day = 1440 // slot_minutes
    return tuple(
        SlotTotals(
            day,
            sum(s.consumption_wh for s in chunk),
            sum(s.covered_wh for s in chunk),
            sum(s.production_wh for s in chunk),
            sum(s.to_community_wh for s in chunk),
        )
        for day, chunk in enumerate(slots[i : i + per_day] for i in range(0, len(slots), per_day))
    )


def simulate_sharing(community: Community, days: int = 1) -> SharingSummary:
    """`days` days of the community from its start date: profiles, allocation, totals."""
    exports = member_net_export_wh(community, days)
    return summarize(community, exports, allocate_run(community, exports))


# --- output ------------------------------------------------------------------------------------


def kwh(wh: Wh) -> str:
    """Integer Wh as kWh with three decimals, exactly (`-1500` -> `-1.500`)."""
    sign = "-" if wh < 0 else ""
    return f"{sign}{abs(wh) // 1000}.{abs(wh) % 1000:03d}"


def percent(bps: int) -> str:
    """Basis points as a percentage with two decimals (`1234` -> `12.34 %`)."""
    return f"{bps // 100}.{bps % 100:02d} %"


def format_summary(summary: SharingSummary) -> str:
    """The per-member table and the community's totals, as plain text (kWh)."""
    columns = ("consumption", "covered G.03", "from grid", "production", "to community", "to grid")
    head = f"{'id':>3} {'member':<8} {'part.':>5} " + " ".join(f"{c:>12}" for c in columns)

    def row(values: Sequence[Wh]) -> str:
        return " ".join(f"{kwh(v):>12}" for v in values)

    lines = [
        f"{summary.community}: {summary.days} day(s) from {summary.first.isoformat()}, "
        f"{summary.slot_minutes}-minute slots, key {summary.key.value}; energy in kWh",
        "",
        head,
        "-" * len(head),
    ]
    for m in summary.members:
        figures = (
            m.consumption_wh,
            m.covered_wh,
            m.from_grid_wh,
            m.production_wh,
            m.to_community_wh,
            m.to_grid_wh,
        )
        lines.append(f"{m.id:>3} {m.name:<8} {m.participation_pct:>4}% {row(figures)}")
    consumption, covered = summary.consumption_wh, summary.covered_wh
    production, shared = summary.production_wh, summary.to_community_wh
    totals = (consumption, covered, consumption - covered, production, shared, production - shared)
    lines += [
        "-" * len(head),
        f"{'':>3} {'total':<8} {'':>5} {row(totals)}",
        "",
        f"self-sufficiency (consumption covered by the community, G.03 / G.01): "
        f"{percent(summary.self_sufficiency_bps)}",
        f"production shared in the community: {percent(summary.self_consumption_bps)}",
    ]
    return "\n".join(lines) + "\n"


def summary_to_json(summary: SharingSummary) -> dict[str, Any]:
    """The summary as a JSON-ready dict, integer Wh and basis points."""
    return {
        "community": summary.community,
        "key": summary.key.value,
        "first_day": summary.first.isoformat(),
        "days": summary.days,
        "slot_minutes": summary.slot_minutes,
        "consumption_wh": summary.consumption_wh,
        "covered_wh": summary.covered_wh,
        "production_wh": summary.production_wh,
        "to_community_wh": summary.to_community_wh,
        "self_sufficiency_bps": summary.self_sufficiency_bps,
        "self_consumption_bps": summary.self_consumption_bps,
        "members": {
            str(m.id): {
                "name": m.name,
                "participation_pct": m.participation_pct,
                "consumption_wh": m.consumption_wh,
                "covered_wh": m.covered_wh,
                "from_grid_wh": m.from_grid_wh,
                "production_wh": m.production_wh,
                "to_community_wh": m.to_community_wh,
                "to_grid_wh": m.to_grid_wh,
            }
            for m in summary.members
        },
    }
