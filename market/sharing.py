"""Energy sharing: a slot's community production allocated to its members' consumption by a key.

The rulebook's mode `sharing` (section "Energy sharing"): no orders, only meter readings. For each
member `i` with net metered export `m_i` and participation factor `f_i` (percent, 1..100):

* consumption `c_i = max(-m_i, 0)`, production `g_i = max(m_i, 0)`;
* participating energy `C_i = floor(c_i * f_i / 100)`, `G_i = floor(g_i * f_i / 100)`;
* community production `E = sum G_i`, community demand `D = sum C_i`;
* key `dynamic`: `a_i = C_i` if `E >= D`, else `floor(C_i * E / D)` plus the Wh left over, one
  each to members with `a_i < C_i` in ascending id, pass after pass;
* key `static`: `a_i = min(C_i, floor(E * s_i / 1,000,000))`, `s_i` the member's share in ppm;
* producers: `A = sum a_i`, `r_j = floor(A * G_j / E)` (0 when `E = 0`) plus the Wh left over,
  one each to producers with `r_j < G_j` in ascending id; surplus `g_j - r_j` goes to the grid.

Integer Wh throughout; every floor's remainder is handed out, so `sum a_i == sum r_j` exactly.

Two implementations of the same rule live here. `allocate` is the API: it validates, sorts by id
once and runs `allocate_columns`, a tight version on parallel int lists (100,000 members in well
under 0.2 s on one core). `allocate_reference` is the rule written out member by member for
reading; the tests check that both agree.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from itertools import compress, count, islice, pairwise
from operator import attrgetter, lt

from market.units import NanoEur, Price, Wh, is_int

PPM = 1_000_000
"""Static shares are in parts per million; they sum to at most this."""
MAX_ENERGY_WH = 2**40
"""Bound on |net_export_wh| per member and slot (about 1.1 TWh: far beyond any meter)."""
MAX_MEMBER_ID = 2**63 - 1
MAX_PRICE = 2**40
"""Bound on every tariff field, as for the on-chain tariff (n€/Wh)."""


class Key(StrEnum):
    """How community production is allotted to members."""

    DYNAMIC = "dynamic"
    """In proportion to participating consumption (the default)."""
    STATIC = "static"
    """Fixed shares in ppm (possibly a schedule of shares per hour of the year)."""


class SharingInputError(ValueError):
    """Input the rule cannot allocate. The message is one line and names the member at fault
    (`member_id` is None when the problem is not one member's, e.g. the tariff)."""

    def __init__(self, member_id: int | None, message: str) -> None:
        self.member_id = member_id
        self.message = message
        super().__init__(message if member_id is None else f"member {member_id}: {message}")


@dataclass(frozen=True, slots=True)
class SharingMember:
    """One metering point's input for one slot."""

    id: int
    net_export_wh: Wh
    """m_i: + export, - import."""
    participation_pct: int = 100
    """f_i: the percentage of the metering point that takes part in this community."""
    share_ppm: int | None = None
    """s_i for the static key (required there); must be None for the dynamic key."""


@dataclass(frozen=True, slots=True)
class MemberAllocation:
    """One member's figures for one slot. The DSO reporting names are given per field."""

    id: int
    consumption_wh: Wh
    """c_i (consumer G.01)."""
    production_wh: Wh
    """g_i (producer G.01)."""
    participating_consumption_wh: Wh
    """C_i (consumer G.01T)."""
    participating_production_wh: Wh
    """G_i (producer G.01T)."""
    allotment_wh: Wh
    """The key's allotment before the cap at C_i (consumer G.02); see `allocate_columns`."""
    allocated_wh: Wh
    """a_i (consumer G.03)."""
    credited_wh: Wh
    """r_j: the member's production credited as shared."""
    surplus_wh: Wh
    """g_j - r_j, sold to the grid (producer P.01)."""


@dataclass(frozen=True, slots=True)
class Allocation:
    """A slot's allocation, stored as columns aligned with `ids` (ascending), so that 100,000
    members cost a handful of tuples rather than 100,000 objects; `member` and `members` give
    the per-member view."""

    key: Key
    community_production_wh: Wh
    """E = sum G_i."""
    community_demand_wh: Wh
    """D = sum C_i."""
    allocated_wh: Wh
    """A = sum a_i = sum r_j."""
    ids: tuple[int, ...]
    consumption_wh: tuple[Wh, ...]
    production_wh: tuple[Wh, ...]
    participating_consumption_wh: tuple[Wh, ...]
    participating_production_wh: tuple[Wh, ...]
    allotment_wh: tuple[Wh, ...]
    allocated_wh_by_member: tuple[Wh, ...]
    credited_wh: tuple[Wh, ...]

    def _row(self, k: int) -> MemberAllocation:
        return MemberAllocation(
            id=self.ids[k],
            consumption_wh=self.consumption_wh[k],
            production_wh=self.production_wh[k],
            participating_consumption_wh=self.participating_consumption_wh[k],
            participating_production_wh=self.participating_production_wh[k],
            allotment_wh=self.allotment_wh[k],
            allocated_wh=self.allocated_wh_by_member[k],
            credited_wh=self.credited_wh[k],
            surplus_wh=self.production_wh[k] - self.credited_wh[k],
        )

    def members(self) -> Iterator[MemberAllocation]:
        """Every member's figures, in ascending id."""
        return map(self._row, range(len(self.ids)))

    def member(self, member_id: int) -> MemberAllocation:
        """One member's figures; KeyError if the member is not in the slot."""
        lo, hi = 0, len(self.ids)
        while lo < hi:  # binary search: ids are ascending
            mid = (lo + hi) // 2
            if self.ids[mid] < member_id:
                lo = mid + 1
            else:
                hi = mid
        if lo == len(self.ids) or self.ids[lo] != member_id:
            raise KeyError(member_id)
        return self._row(lo)


@dataclass(frozen=True, slots=True)
class Columns:
    """`allocate_columns`'s result: lists aligned with its input (ascending id)."""

    community_production_wh: Wh
    community_demand_wh: Wh
    allocated_wh: Wh
    consumption_wh: list[Wh]
    production_wh: list[Wh]
    participating_consumption_wh: list[Wh]
    participating_production_wh: list[Wh]
    allotment_wh: list[Wh]
    allocated_wh_by_member: list[Wh]
    credited_wh: list[Wh]


# --- validation ------------------------------------------------------------------------------


def short_repr(value: object) -> str:
    """A value for an error message, cut short: a 4,000-digit number must not flood the line."""
    if isinstance(value, int) and not -(10**30) < value < 10**30:
        return "a number too large"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_members(members: Sequence[SharingMember], key: Key) -> None:
    """Raise SharingInputError unless every member's fields are valid for `key`.

    Ids are integers 0..2**63-1 and unique; |net_export_wh| <= 2**40; participation_pct is an
    integer 1..100; the static key needs share_ppm (0..1,000,000) on every member and the shares
    sum to at most 1,000,000 (the error names the member, in ascending id, at which the running
    sum passes it); the dynamic key refuses share_ppm rather than ignore it, because a share sent
    with the dynamic key is a sign the caller meant the static one.
    """
    if not isinstance(key, Key):
        raise SharingInputError(None, f"key must be 'dynamic' or 'static', got {short_repr(key)}")
    for member in members:
        mid = member.id
        if not is_int(mid) or not 0 <= mid <= MAX_MEMBER_ID:
            raise SharingInputError(
                None, f"member id must be an integer 0..2**63-1, got {short_repr(mid)}"
            )
        m = member.net_export_wh
        if not is_int(m) or abs(m) > MAX_ENERGY_WH:
            raise SharingInputError(
                mid, f"net_export_wh must be an integer within ±2**40, got {short_repr(m)}"
            )
        f = member.participation_pct
        if not is_int(f) or not 1 <= f <= 100:
            raise SharingInputError(
                mid, f"participation_pct must be an integer 1..100, got {short_repr(f)}"
            )
        s = member.share_ppm
        if key is Key.DYNAMIC:
            if s is not None:
                raise SharingInputError(mid, "share_ppm is only used by the static key")
        elif s is None:
            raise SharingInputError(mid, "the static key needs share_ppm")
        elif not is_int(s) or not 0 <= s <= PPM:
            raise SharingInputError(
                mid, f"share_ppm must be an integer 0..1000000, got {short_repr(s)}"
            )
    ids = sorted(member.id for member in members)
    for previous, current in pairwise(ids):
        if previous == current:
            raise SharingInputError(current, "duplicate id")
    if key is Key.STATIC:
        total = 0
        for member in sorted(members, key=lambda x: x.id):
            total += member.share_ppm or 0
            if total > PPM:
                raise SharingInputError(
                    member.id,
                    f"shares sum to {total} ppm up to this member, more than {PPM}",
                )


# --- the rule, fast: parallel int lists -------------------------------------------------------


def _hand_out(given: list[Wh], cap: list[Wh], leftover: Wh) -> None:
    """Add the `leftover` Wh one each to the entries with given < cap, in list order (ascending
    id), pass after pass, until none is left. The caller guarantees sum(cap - given) >= leftover
    (in fact one pass always suffices: each floor loses less than 1 Wh, and only entries
    whose floor lost something are below their cap; the loop is the rulebook's wording)."""
    while leftover > 0:
        handed = 0
        # compress/map run in C and stop at the leftover-th open entry.
        for k in islice(compress(count(), map(lt, given, cap)), leftover):
            given[k] += 1
            handed += 1
        if handed == 0:
            raise AssertionError("leftover Wh with nobody below their cap")
        leftover -= handed


def allocate_columns(
    net_export_wh: Sequence[Wh],
    participation_pct: Sequence[int],
    share_ppm: Sequence[int] | None,
    key: Key,
) -> Columns:
    """The rule on parallel lists already in ascending member id and already validated.

    `share_ppm` is required for the static key and ignored for the dynamic one.

    G.02 (`allotment_wh`), where the rulebook leaves a choice: for the dynamic key it is
    `floor(E * C_i / D)` (0 when `D = 0`) plus the leftover Wh the member received. When
    `E < D` that is exactly `a_i`. When `E >= D` no leftover pass runs (everyone is covered) and
    G.02 stays `floor(E * C_i / D)`, which may exceed `C_i`: the key's pro-rata allotment
    before the cap, the same formula in both cases, so `G.03 <= G.02` always holds. For the
    static key G.02 is `floor(E * s_i / 1,000,000)`.
    """
    c = [-m if m < 0 else 0 for m in net_export_wh]
    g = [m if m > 0 else 0 for m in net_export_wh]
    cc = [x * f // 100 for x, f in zip(c, participation_pct, strict=True)]
    gg = [x * f // 100 for x, f in zip(g, participation_pct, strict=True)]
    e, d = sum(gg), sum(cc)

    if key is Key.DYNAMIC:
        if d == 0:
            allotment = [0] * len(cc)
            a = list(cc)  # all zero
        elif e >= d:
            allotment = [x * e // d for x in cc]
            a = list(cc)
        else:
            a = [x * e // d for x in cc]
            _hand_out(a, cc, e - sum(a))
            allotment = list(a)
    else:
        if share_ppm is None:
            raise SharingInputError(None, "the static key needs share_ppm")
        allotment = [e * s // PPM for s in share_ppm]
        a = [x if x < y else y for x, y in zip(allotment, cc, strict=True)]

    total = sum(a)
    if e == 0:
        r = [0] * len(gg)
    elif total == e:
        r = list(gg)
    else:
        r = [total * x // e for x in gg]
        _hand_out(r, gg, total - sum(r))
    return Columns(e, d, total, c, g, cc, gg, allotment, a, r)


def _columns_valid(
    ids: list[int], nets: list[int], pcts: list[int], shares: list[int | None], key: Key
) -> bool:
    """Whether the columns (ids strictly ascending already checked by the caller) pass every
    check of `validate_members`; done with C-level builtins, because a loop over 100,000
    members in Python would cost more than the allocation itself. On False the caller runs
    `validate_members` for the error message."""
    if not isinstance(key, Key) or not ids:
        return isinstance(key, Key)
    int_only = {int}
    if not (set(map(type, ids)) | set(map(type, nets)) | set(map(type, pcts))) <= int_only:
        return False
    if ids[0] < 0 or ids[-1] > MAX_MEMBER_ID:
        return False
    if min(nets) < -MAX_ENERGY_WH or max(nets) > MAX_ENERGY_WH:
        return False
    if min(pcts) < 1 or max(pcts) > 100:
        return False
    if key is Key.DYNAMIC:
        return shares.count(None) == len(shares)
    if not set(map(type, shares)) <= int_only:
        return False  # None or a non-integer
    ints = [s or 0 for s in shares]
    return min(ints) >= 0 and sum(ints) <= PPM


def _strictly_ascending(ids: list[int]) -> bool:
    try:
        return all(map(lt, ids, islice(ids, 1, None)))  # in C: no Python loop over members
    except TypeError:  # an id that is no number; validate_members words the error
        return False


def allocate(members: Sequence[SharingMember], key: Key = Key.DYNAMIC) -> Allocation:
    """Validate the slot's members (SharingInputError, see `validate_members`) and allocate
    them by `key`. The members may come in any order; the result is in ascending id."""
    ordered = list(members)
    ids = [m.id for m in ordered]
    strictly_ascending = _strictly_ascending(ids)
    if not strictly_ascending:  # sort by id (the usual case is that they come sorted)
        try:
            ordered.sort(key=attrgetter("id"))
        except TypeError:  # an id that does not compare with ints
            validate_members(members, key)
            raise
        ids = [m.id for m in ordered]
        strictly_ascending = _strictly_ascending(ids)  # False now means a duplicate id
    nets = [m.net_export_wh for m in ordered]
    pcts = [m.participation_pct for m in ordered]
    shares = [m.share_ppm for m in ordered]
    if not (strictly_ascending and _columns_valid(ids, nets, pcts, shares, key)):
        # The fast check is conservative (an int subclass other than bool fails it): the
        # member-by-member check decides, and words the error.
        validate_members(members, key)
    cols = allocate_columns(
        nets, pcts, [s or 0 for s in shares] if key is Key.STATIC else None, key
    )
    return Allocation(
        key=key,
        community_production_wh=cols.community_production_wh,
        community_demand_wh=cols.community_demand_wh,
        allocated_wh=cols.allocated_wh,
        ids=tuple(ids),
        consumption_wh=tuple(cols.consumption_wh),
        production_wh=tuple(cols.production_wh),
        participating_consumption_wh=tuple(cols.participating_consumption_wh),
        participating_production_wh=tuple(cols.participating_production_wh),
        allotment_wh=tuple(cols.allotment_wh),
        allocated_wh_by_member=tuple(cols.allocated_wh_by_member),
        credited_wh=tuple(cols.credited_wh),
    )


# --- the rule, readable: member by member (the reference `allocate` is tested against) -------


def allocate_reference(
    members: Sequence[SharingMember], key: Key = Key.DYNAMIC
) -> list[MemberAllocation]:
    """The rulebook's wording, one member at a time, in ascending id. Slow; for tests."""
    validate_members(members, key)
    ordered = sorted(members, key=lambda x: x.id)
    big_c: dict[int, int] = {}
    big_g: dict[int, int] = {}
    for m in ordered:
        big_c[m.id] = max(-m.net_export_wh, 0) * m.participation_pct // 100
        big_g[m.id] = max(m.net_export_wh, 0) * m.participation_pct // 100
    e = sum(big_g.values())
    d = sum(big_c.values())

    allotted: dict[int, int] = {}
    allocated: dict[int, int] = {}
    for m in ordered:
        if key is Key.DYNAMIC:
            allotted[m.id] = 0 if d == 0 else e * big_c[m.id] // d
            allocated[m.id] = big_c[m.id] if e >= d else allotted[m.id]
        else:
            allotted[m.id] = e * (m.share_ppm or 0) // PPM
            allocated[m.id] = min(big_c[m.id], allotted[m.id])
    if key is Key.DYNAMIC and e < d:
        leftover = e - sum(allocated.values())
        while leftover > 0:
            for m in ordered:
                if leftover > 0 and allocated[m.id] < big_c[m.id]:
                    allocated[m.id] += 1
                    allotted[m.id] += 1
                    leftover -= 1

    total = sum(allocated.values())
    credited = {m.id: (0 if e == 0 else total * big_g[m.id] // e) for m in ordered}
    leftover = total - sum(credited.values())
    while leftover > 0:
        for m in ordered:
            if leftover > 0 and credited[m.id] < big_g[m.id]:
                credited[m.id] += 1
                leftover -= 1

    return [
        MemberAllocation(
            id=m.id,
            consumption_wh=max(-m.net_export_wh, 0),
            production_wh=max(m.net_export_wh, 0),
            participating_consumption_wh=big_c[m.id],
            participating_production_wh=big_g[m.id],
            allotment_wh=allotted[m.id],
            allocated_wh=allocated[m.id],
            credited_wh=credited[m.id],
            surplus_wh=max(m.net_export_wh, 0) - credited[m.id],
        )
        for m in ordered
    ]


# --- static schedules -------------------------------------------------------------------------


def shares_for_hour(schedule: Mapping[int, Sequence[int]], hour: int) -> dict[int, int]:
    """The static shares in force in hour `hour` of the year (0 = the year's first hour).

    `schedule` maps each member id to its shares in ppm, one per hour of the year (Spain's
    coefficients: 8,760 values, 8,784 in a leap year). A slot uses the shares of the hour it
    starts in: the caller passes `hour = (slot start - start of the year) // 3600`, so a
    15-minute slot starting at 10:45 takes the 10:00 hour's shares. Every member's list must
    cover `hour`; the shares' sum is checked by `allocate` like any static key.
    """
    if not is_int(hour) or hour < 0:
        raise SharingInputError(
            None, f"hour must be a non-negative integer, got {short_repr(hour)}"
        )
    shares: dict[int, int] = {}
    for member_id in sorted(schedule):
        hours = schedule[member_id]
        if hour >= len(hours):
            raise SharingInputError(
                member_id, f"schedule has {len(hours)} hours, none for hour {hour}"
            )
        shares[member_id] = hours[hour]
    return shares


def with_shares(members: Sequence[SharingMember], shares: Mapping[int, int]) -> list[SharingMember]:
    """The members with their static shares set from `shares` (by id); a member without a
    share, or a share for an unknown member, is a SharingInputError."""
    ids = {m.id for m in members}
    for member_id in sorted(shares):
        if member_id not in ids:
            raise SharingInputError(member_id, "has a share but is not in the slot")
    out = []
    for m in members:
        if m.id not in shares:
            raise SharingInputError(m.id, "the static key needs share_ppm")
        out.append(SharingMember(m.id, m.net_export_wh, m.participation_pct, shares[m.id]))
    return out


# --- money ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SharingTariff:
    """The tariff fields the sharing mode uses, all n€/Wh (a local view, so that this module
    does not depend on the shape of `market.tariff.Tariff`)."""

    sharing_price: Price
    retail_price: Price
    grid_fee: Price
    feed_in_price: Price
    p2p_grid_fee: Price
    trade_fee_buy: Price
    trade_fee_sell: Price

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not is_int(value) or not 0 <= value <= MAX_PRICE:
                raise SharingInputError(
                    None,
                    f"tariff: {field.name} must be an integer 0..2**40, got {short_repr(value)}",
                )
        if not self.feed_in_price <= self.sharing_price <= self.retail_price:
            raise SharingInputError(
                None,
                f"tariff: need feed_in_price <= sharing_price <= retail_price, got "
                f"{self.feed_in_price}, {self.sharing_price}, {self.retail_price}",
            )
        if self.trade_fee_sell > self.sharing_price:
            # A producer's credited Wh earn sharing_price - trade_fee_sell: never negative.
            raise SharingInputError(
                None,
                f"tariff: need trade_fee_sell <= sharing_price, got {self.trade_fee_sell} > "
                f"{self.sharing_price}",
            )


@dataclass(frozen=True, slots=True)
class MemberMoney:
    """One member's money for one slot, n€. A member either consumes or produces in a slot, so
    at most one of the two sides is non-zero."""

    id: int
    shared_energy_cost: NanoEur
    """sharing_price * a_i: paid for allocated Wh."""
    grid_energy_cost: NanoEur
    """retail_price * (c_i - a_i): paid to the DSO for the rest of the consumption."""
    shared_energy_revenue: NanoEur
    """sharing_price * r_j: received for credited Wh (before the platform fee)."""
    feed_in_revenue: NanoEur
    """feed_in_price * (g_j - r_j): received from the DSO for the surplus."""
    platform_fees: NanoEur
    """trade_fee_buy * a_i + trade_fee_sell * r_j: to the DSO's fee account."""
    network_charges: NanoEur
    """p2p_grid_fee * a_i + grid_fee * (c_i - a_i): to the DSO's network account."""
    bau_cost: NanoEur
    """Without the community: c_i * (retail_price + grid_fee) - g_i * feed_in_price."""

    @property
    def net_cost(self) -> NanoEur:
        """What the member pays, less what it receives (negative: it earned).

        For a consumer this is the rulebook's `(sharing_price + p2p_grid_fee + trade_fee_buy) *
        a_i + (retail_price + grid_fee) * (c_i - a_i)`; for a producer minus
        `(sharing_price - trade_fee_sell) * r_j + feed_in_price * (g_j - r_j)`.
        """
        return (
            self.shared_energy_cost
            + self.grid_energy_cost
            + self.platform_fees
            + self.network_charges
            - self.shared_energy_revenue
            - self.feed_in_revenue
        )

    @property
    def savings(self) -> NanoEur:
        """BaU cost - actual cost; positive when sharing made the member better off."""
        return self.bau_cost - self.net_cost


def member_money(tariff: SharingTariff, row: MemberAllocation) -> MemberMoney:
    """The money of one member's allocation under `tariff`."""
    a, r = row.allocated_wh, row.credited_wh
    c, g = row.consumption_wh, row.production_wh
    return MemberMoney(
        id=row.id,
        shared_energy_cost=tariff.sharing_price * a,
        grid_energy_cost=tariff.retail_price * (c - a),
        shared_energy_revenue=tariff.sharing_price * r,
        feed_in_revenue=tariff.feed_in_price * (g - r),
        platform_fees=tariff.trade_fee_buy * a + tariff.trade_fee_sell * r,
        network_charges=tariff.p2p_grid_fee * a + tariff.grid_fee * (c - a),
        bau_cost=c * (tariff.retail_price + tariff.grid_fee) - g * tariff.feed_in_price,
    )


@dataclass(frozen=True, slots=True)
class SlotMoney:
    """A slot's money, member by member and in total for the DSO's two accounts."""

    members: tuple[MemberMoney, ...]
    platform_fees: NanoEur
    """To the DSO's fee account."""
    network_charges: NanoEur
    """To the DSO's network account."""
    grid_energy_sold: NanoEur
    """retail_price * sum(c_i - a_i): the DSO's energy sales."""
    feed_in_paid: NanoEur
    """feed_in_price * sum(g_j - r_j): what the DSO pays for the community's surplus."""

    @property
    def dso_net_income(self) -> NanoEur:
        """Equals sum(net_cost) over the members: shared energy moves between members only
        (sharing_price * A paid and received), everything else is the DSO's."""
        return self.platform_fees + self.network_charges + self.grid_energy_sold - self.feed_in_paid


def slot_money(tariff: SharingTariff, allocation: Allocation) -> SlotMoney:
    """Every member's money for the slot, and the DSO's totals."""
    rows = tuple(member_money(tariff, row) for row in allocation.members())
    return SlotMoney(
        members=rows,
        platform_fees=sum(m.platform_fees for m in rows),
        network_charges=sum(m.network_charges for m in rows),
        grid_energy_sold=sum(m.grid_energy_cost for m in rows),
        feed_in_paid=sum(m.feed_in_revenue for m in rows),
    )
