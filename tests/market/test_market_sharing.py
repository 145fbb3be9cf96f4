"""Energy sharing (market/sharing.py): worked examples, an independent reference in fractions,
properties on generated slots, static schedules and money."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.sharing import (
    MAX_ENERGY_WH,
    PPM,
    Allocation,
    Key,
    MemberAllocation,
    SharingInputError,
    SharingMember,
    SharingTariff,
    _hand_out,
    allocate,
    allocate_reference,
    member_money,
    shares_for_hour,
    slot_money,
    validate_members,
    with_shares,
)

PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TARIFF = SharingTariff(
    sharing_price=150000,
    retail_price=300000,
    grid_fee=90000,
    feed_in_price=80000,
    p2p_grid_fee=30000,
    trade_fee_buy=5000,
    trade_fee_sell=4000,
)


def M(member_id: int, m: int, f: int = 100, s: int | None = None) -> SharingMember:
    return SharingMember(member_id, m, f, s)


def rows(allocation: Allocation) -> dict[int, MemberAllocation]:
    return {row.id: row for row in allocation.members()}


# --- worked by hand ---------------------------------------------------------------------------


def test_dynamic_by_hand_with_a_leftover() -> None:
    # c = 100, 100, 30; C = 100, floor(100*50/100) = 50, 30; D = 180.
    # G = 101, floor(50*3/100) = 1; E = 102 < D.
    # a = floor(100*102/180) = 56, floor(50*102/180) = 28, floor(30*102/180) = 17: sum 101;
    # the 1 Wh left over goes to the lowest id below its C: member 1 -> 57.
    # A = 102 = E, so every producer is credited all of G: r = 101, 1.
    members = [M(1, -100), M(2, -100, 50), M(3, -30), M(4, 101), M(5, 50, 3)]
    got = allocate(members)
    assert (got.community_production_wh, got.community_demand_wh, got.allocated_wh) == (
        102,
        180,
        102,
    )
    r = rows(got)
    assert [r[i].allocated_wh for i in (1, 2, 3)] == [57, 28, 17]
    assert [r[i].allotment_wh for i in (1, 2, 3)] == [57, 28, 17]  # G.02 includes the leftover
    assert [r[i].participating_consumption_wh for i in (1, 2, 3)] == [100, 50, 30]
    assert [r[i].credited_wh for i in (4, 5)] == [101, 1]
    assert [r[i].surplus_wh for i in (4, 5)] == [0, 49]  # P.01 = g - r, the whole g counts
    assert r[5].participating_production_wh == 1
    assert list(got.members()) == allocate_reference(members)


def test_dynamic_covers_everyone_when_production_suffices() -> None:
    # E = 300 >= D = 150: a = C. G.02 stays the key's pro-rata floor(E*C/D) = 200, 100.
    got = rows(allocate([M(1, -100), M(2, -50), M(3, 300)]))
    assert (got[1].allocated_wh, got[2].allocated_wh) == (100, 50)
    assert (got[1].allotment_wh, got[2].allotment_wh) == (200, 100)
    assert (got[3].credited_wh, got[3].surplus_wh) == (150, 150)


def test_static_by_hand_with_producer_leftovers() -> None:
    # E = 70 + 30 + 1 = 101. Allotments floor(101*0.5) = 50, floor(101*0.3) = 30;
    # a = min(10, 50) = 10, min(1000, 30) = 30; A = 40 (member 1's 40 unused Wh stay surplus).
    # r = floor(40*70/101) = 27, floor(40*30/101) = 11, floor(40*1/101) = 0: sum 38;
    # the 2 Wh left over go to members 3 and 4 (ascending id, both below G): 28, 12, 0.
    members = [
        M(1, -10, s=500000),
        M(2, -1000, s=300000),
        M(3, 70, s=0),
        M(4, 30, s=0),
        M(5, 1, s=0),
    ]
    got = allocate(members, Key.STATIC)
    assert (got.community_production_wh, got.community_demand_wh, got.allocated_wh) == (
        101,
        1010,
        40,
    )
    r = rows(got)
    assert [(r[i].allotment_wh, r[i].allocated_wh) for i in (1, 2)] == [(50, 10), (30, 30)]
    assert [r[i].credited_wh for i in (3, 4, 5)] == [28, 12, 0]
    assert [r[i].surplus_wh for i in (3, 4, 5)] == [42, 18, 1]
    assert list(got.members()) == allocate_reference(members, Key.STATIC)


def test_leftovers_go_pass_after_pass() -> None:
    given_wh, cap = [0, 0, 5, 0], [3, 1, 5, 2]
    _hand_out(given_wh, cap, 5)  # pass 1: ids 0, 1, 3; pass 2: ids 0, 3
    assert given_wh == [2, 1, 5, 2]


def test_no_production_or_no_demand() -> None:
    only_consumers = rows(allocate([M(1, -10), M(2, -20)]))
    assert {(r.allotment_wh, r.allocated_wh) for r in only_consumers.values()} == {(0, 0)}
    only_producers = rows(allocate([M(1, 10), M(2, 20, 50)]))
    assert [(r.credited_wh, r.surplus_wh) for r in only_producers.values()] == [(0, 10), (0, 20)]
    empty = allocate([])
    assert (empty.community_production_wh, empty.allocated_wh, empty.ids) == (0, 0, ())


def test_input_order_does_not_matter() -> None:
    members = [M(9, -100), M(2, 40), M(5, -7), M(1, 13)]
    assert allocate(members) == allocate(sorted(members, key=lambda m: m.id))
    assert allocate(members).ids == (1, 2, 5, 9)
    assert allocate(members).member(5).allocated_wh == rows(allocate(members))[5].allocated_wh
    with pytest.raises(KeyError):
        allocate(members).member(3)


# --- invalid input ----------------------------------------------------------------------------

INVALID: list[tuple[list[SharingMember], Key, str]] = [
    ([M(1, -5), M(1, 5)], Key.DYNAMIC, "member 1: duplicate id"),
    ([M(1, -5, 0)], Key.DYNAMIC, "member 1: participation_pct must be an integer 1..100, got 0"),
    (
        [M(1, -5, 101)],
        Key.DYNAMIC,
        "member 1: participation_pct must be an integer 1..100, got 101",
    ),
    (
        [M(1, True)],
        Key.DYNAMIC,
        "member 1: net_export_wh must be an integer within ±2**40, got True",
    ),
    (
        [M(1, MAX_ENERGY_WH + 1)],
        Key.DYNAMIC,
        "member 1: net_export_wh must be an integer within ±2**40, got 1099511627777",
    ),
    ([M(-1, 5)], Key.DYNAMIC, "member id must be an integer 0..2**63-1, got -1"),
    (
        [M(2**63, 5)],
        Key.DYNAMIC,
        "member id must be an integer 0..2**63-1, got 9223372036854775808",
    ),
    ([M(1, 5, s=3)], Key.DYNAMIC, "member 1: share_ppm is only used by the static key"),
    ([M(1, 5)], Key.STATIC, "member 1: the static key needs share_ppm"),
    (
        [M(1, 5, s=PPM + 1)],
        Key.STATIC,
        "member 1: share_ppm must be an integer 0..1000000, got 1000001",
    ),
    (
        [M(3, -5, s=600000), M(1, 5, s=300000), M(2, 5, s=200000)],
        Key.STATIC,
        "member 3: shares sum to 1100000 ppm up to this member, more than 1000000",
    ),
    (
        [M(1, 10**40)],
        Key.DYNAMIC,
        "member 1: net_export_wh must be an integer within ±2**40, got a number too large",
    ),
]


@pytest.mark.parametrize(("members", "key", "message"), INVALID, ids=[m for *_, m in INVALID])
def test_invalid_members(members: list[SharingMember], key: Key, message: str) -> None:
    with pytest.raises(SharingInputError) as caught:
        allocate(members, key)
    assert str(caught.value) == message
    with pytest.raises(SharingInputError):
        validate_members(members, key)
    with pytest.raises(SharingInputError):
        allocate_reference(members, key)


@pytest.mark.parametrize("bad_id", ["7", None, 1.5, True])
def test_ids_that_are_not_integers(bad_id: object) -> None:
    members = [M(3, -5), M(bad_id, 5), M(1, 2)]  # type: ignore[arg-type]
    with pytest.raises(SharingInputError, match=r"member id must be an integer 0\.\.2\*\*63-1"):
        allocate(members)


def test_int_subclasses_pass_the_member_by_member_check() -> None:
    class Wh(int):
        pass

    members = [M(1, Wh(-10)), M(2, Wh(4), Wh(50))]
    assert allocate(members) == allocate([M(1, -10), M(2, 4, 50)])


def test_key_must_be_a_key() -> None:
    with pytest.raises(SharingInputError, match="key must be 'dynamic' or 'static'"):
        allocate([M(1, 5)], "dynamic")  # type: ignore[arg-type]


# --- an independent reference: fractions, a dict per member, a queue for leftovers ------------


@dataclass
class Ref:
    e: int
    d: int
    a: dict[int, int]
    g02: dict[int, int]
    r: dict[int, int]


def hand_out_round_robin(got: dict[int, int], cap: dict[int, int], leftover: int) -> None:
    queue = [i for i in sorted(got) if got[i] < cap[i]]
    while leftover:
        i = queue.pop(0)
        got[i] += 1
        leftover -= 1
        if got[i] < cap[i]:
            queue.append(i)  # its next Wh comes in the next pass


def fraction_reference(members: list[SharingMember], key: Key) -> Ref:
    big_c = {
        m.id: math.floor(Fraction(max(-m.net_export_wh, 0) * m.participation_pct, 100))
        for m in members
    }
    big_g = {
        m.id: math.floor(Fraction(max(m.net_export_wh, 0) * m.participation_pct, 100))
        for m in members
    }
    e, d = sum(big_g.values()), sum(big_c.values())
    if key is Key.DYNAMIC:
        g02 = {i: math.floor(Fraction(e * c, d)) if d else 0 for i, c in big_c.items()}
        if e >= d:
            a = dict(big_c)
        else:
            a = dict(g02)
            hand_out_round_robin(a, big_c, e - sum(a.values()))
            g02 = dict(a)
    else:
        g02 = {m.id: math.floor(Fraction(e) * Fraction(m.share_ppm or 0, PPM)) for m in members}
        a = {i: min(big_c[i], g02[i]) for i in big_c}
    total = sum(a.values())
    r = {i: math.floor(Fraction(total * g, e)) if e else 0 for i, g in big_g.items()}
    hand_out_round_robin(r, big_g, total - sum(r.values()))
    return Ref(e, d, a, g02, r)


@st.composite
def slots(draw: st.DrawFn, key: Key | None = None) -> tuple[list[SharingMember], Key]:
    chosen = key or draw(st.sampled_from(list(Key)))
    ids = draw(st.lists(st.integers(0, 2**63 - 1) | st.integers(0, 50), unique=True, max_size=25))
    energy = st.integers(-5000, 5000) | st.sampled_from([0, 1, -1, MAX_ENERGY_WH, -MAX_ENERGY_WH])
    nets = [draw(energy) for _ in ids]
    pcts = [draw(st.integers(1, 100) | st.just(100)) for _ in ids]
    shares: list[int | None] = [None] * len(ids)
    if chosen is Key.STATIC:
        raw = [draw(st.integers(0, PPM)) for _ in ids]
        total = sum(raw)
        shares = [s * PPM // total if total > PPM else s for s in raw]
    return [SharingMember(*fields) for fields in zip(ids, nets, pcts, shares, strict=True)], chosen


@PROPERTY
@given(slots())
def test_agrees_with_the_fraction_reference(slot: tuple[list[SharingMember], Key]) -> None:
    members, key = slot
    got = allocate(members, key)
    ref = fraction_reference(members, key)
    r = rows(got)
    assert (got.community_production_wh, got.community_demand_wh) == (ref.e, ref.d)
    assert {i: x.allocated_wh for i, x in r.items()} == ref.a
    assert {i: x.allotment_wh for i, x in r.items()} == ref.g02
    assert {i: x.credited_wh for i, x in r.items()} == ref.r
    assert list(got.members()) == allocate_reference(members, key)


@PROPERTY
@given(slots())
def test_allocation_properties(slot: tuple[list[SharingMember], Key]) -> None:
    members, key = slot
    got = allocate(members, key)
    e, d = got.community_production_wh, got.community_demand_wh
    share = {m.id: m.share_ppm for m in members}
    allocated = credited = 0
    for row in got.members():
        allocated += row.allocated_wh
        credited += row.credited_wh
        assert 0 <= row.allocated_wh <= row.allotment_wh  # G.03 <= G.02
        assert row.allocated_wh <= row.participating_consumption_wh  # G.03 <= G.01T
        assert row.participating_consumption_wh <= row.consumption_wh
        assert row.participating_production_wh <= row.production_wh
        assert 0 <= row.credited_wh <= row.participating_production_wh
        assert row.surplus_wh == row.production_wh - row.credited_wh
        assert row.consumption_wh == 0 or row.production_wh == 0
        if key is Key.DYNAMIC and e >= d:
            assert row.allocated_wh == row.participating_consumption_wh
        if key is Key.STATIC:
            assert row.allotment_wh == e * (share[row.id] or 0) // PPM
            assert row.allocated_wh <= e * (share[row.id] or 0) // PPM
    assert allocated == credited == got.allocated_wh
    assert got.allocated_wh <= min(e, d)
    if key is Key.DYNAMIC:
        assert got.allocated_wh == min(e, d)  # nothing lost to flooring
    if e and got.allocated_wh == e:
        assert all(row.surplus_wh == row.production_wh - row.participating_production_wh
                   for row in got.members())  # fmt: skip


@PROPERTY
@given(slots(Key.DYNAMIC), st.randoms(use_true_random=False))
def test_member_order_and_fast_path_agree(
    slot: tuple[list[SharingMember], Key], rng: random.Random
) -> None:
    members, key = slot
    shuffled = list(members)
    rng.shuffle(shuffled)
    assert allocate(shuffled, key) == allocate(members, key)


# --- static schedules ---------------------------------------------------------------------------


def test_shares_for_the_hour_a_slot_starts_in() -> None:
    hours = 8760
    schedule = {
        7: [(h % 24) * 10_000 for h in range(hours)],
        3: [500_000] * hours,
        5: [0] * hours,
    }
    # 2 Jan, 10:45 (a 15-minute slot): hour 24 + 10 = 34 of the year.
    hour = (24 * 3600 + 10 * 3600 + 45 * 60) // 3600
    assert shares_for_hour(schedule, hour) == {3: 500_000, 5: 0, 7: 100_000}
    members = with_shares([M(3, -1000), M(5, 400), M(7, -50)], shares_for_hour(schedule, hour))
    got = rows(allocate(members, Key.STATIC))
    assert (got[3].allotment_wh, got[3].allocated_wh) == (200, 200)
    assert (got[7].allotment_wh, got[7].allocated_wh) == (40, 40)
    assert (got[5].credited_wh, got[5].surplus_wh) == (240, 160)
    with pytest.raises(SharingInputError, match="member 3: schedule has 8760 hours, none for"):
        shares_for_hour(schedule, hours)
    with pytest.raises(SharingInputError, match="hour must be a non-negative integer"):
        shares_for_hour(schedule, -1)
    with pytest.raises(SharingInputError, match="member 9: has a share but is not in the slot"):
        with_shares([M(3, 1)], {3: 1, 9: 1})
    with pytest.raises(SharingInputError, match="member 4: the static key needs share_ppm"):
        with_shares([M(4, 1)], {})


def test_a_schedule_hour_over_a_million_ppm_is_refused() -> None:
    members = with_shares([M(1, -1), M(2, -1)], shares_for_hour({1: [700_000], 2: [400_000]}, 0))
    with pytest.raises(SharingInputError, match="member 2: shares sum to 1100000 ppm"):
        allocate(members, Key.STATIC)


# --- money ----------------------------------------------------------------------------------------


def test_money_by_hand() -> None:
    # Member 1 consumes 100 Wh, 57 allocated; member 4 produces 101, all credited;
    # member 5 produces 50, 1 credited, 49 fed in.
    members = [M(1, -100), M(2, -100, 50), M(3, -30), M(4, 101), M(5, 50, 3)]
    money = {m.id: m for m in slot_money(TARIFF, allocate(members)).members}
    consumer = money[1]
    assert consumer.net_cost == (150000 + 30000 + 5000) * 57 + (300000 + 90000) * 43
    assert consumer.platform_fees == 5000 * 57
    assert consumer.network_charges == 30000 * 57 + 90000 * 43
    assert consumer.bau_cost == 100 * 390000
    assert consumer.savings == 100 * 390000 - consumer.net_cost
    assert money[5].net_cost == -((150000 - 4000) * 1 + 80000 * 49)
    assert money[5].bau_cost == -50 * 80000
    assert money[5].platform_fees == 4000


def tariff_with(**changes: object) -> SharingTariff:
    fields: dict[str, object] = {
        "sharing_price": 150000,
        "retail_price": 300000,
        "grid_fee": 1,
        "feed_in_price": 80000,
        "p2p_grid_fee": 1,
        "trade_fee_buy": 1,
        "trade_fee_sell": 1,
        **changes,
    }
    return SharingTariff(**fields)  # type: ignore[arg-type]


def test_tariff_is_checked() -> None:
    assert tariff_with().sharing_price == 150000
    assert tariff_with(sharing_price=80000).sharing_price == 80000  # the bounds are inclusive
    assert tariff_with(sharing_price=300000).sharing_price == 300000
    with pytest.raises(SharingInputError, match="feed_in_price <= sharing_price <= retail"):
        tariff_with(sharing_price=300001)
    with pytest.raises(SharingInputError, match="feed_in_price <= sharing_price <= retail"):
        tariff_with(sharing_price=79999)
    with pytest.raises(SharingInputError, match="tariff: grid_fee must be an integer"):
        tariff_with(grid_fee=1.5)
    with pytest.raises(SharingInputError, match="tariff: trade_fee_buy must be an integer"):
        tariff_with(trade_fee_buy=True)
    with pytest.raises(SharingInputError, match="tariff: retail_price must be an integer"):
        tariff_with(retail_price=2**40 + 1)
    with pytest.raises(SharingInputError, match="need trade_fee_sell <= sharing_price"):
        tariff_with(feed_in_price=0, sharing_price=10, trade_fee_sell=11)


@st.composite
def tariffs(draw: st.DrawFn) -> SharingTariff:
    feed_in = draw(st.integers(0, 300_000))
    retail = draw(st.integers(feed_in, 400_000))
    sharing = draw(st.integers(feed_in, retail))
    return SharingTariff(
        sharing_price=sharing,
        retail_price=retail,
        grid_fee=draw(st.integers(0, 100_000)),
        feed_in_price=feed_in,
        p2p_grid_fee=draw(st.integers(0, 100_000)),
        trade_fee_buy=draw(st.integers(0, 10_000)),
        trade_fee_sell=draw(st.integers(0, sharing)),
    )


@PROPERTY
@given(slots(), tariffs())
def test_money_is_conserved(slot: tuple[list[SharingMember], Key], tariff: SharingTariff) -> None:
    """What consumers pay == what producers receive for shared energy + platform fees + network
    charges + the DSO's grid energy sales - the DSO's feed-in payments. Written out:

    sum_i [(sp + p2p + fb) a_i + (retail + grid) (c_i - a_i)]
      == sum_j [(sp - fs) r_j + feed_in (g_j - r_j)]
         + (fb sum a_i + fs sum r_j) + (p2p sum a_i + grid sum (c_i - a_i))
         + retail sum (c_i - a_i) - feed_in sum (g_j - r_j)
    """
    members, key = slot
    allocation = allocate(members, key)
    money = slot_money(tariff, allocation)
    t = tariff
    consumers_pay = producers_receive = 0
    for row, m in zip(allocation.members(), money.members, strict=True):
        a, c, r, g = row.allocated_wh, row.consumption_wh, row.credited_wh, row.production_wh
        pays = (t.sharing_price + t.p2p_grid_fee + t.trade_fee_buy) * a + (
            t.retail_price + t.grid_fee
        ) * (c - a)
        receives = (t.sharing_price - t.trade_fee_sell) * r + t.feed_in_price * (g - r)
        assert m.net_cost == pays - receives
        assert m.bau_cost == (
            -g * t.feed_in_price if g else c * (t.retail_price + t.grid_fee)
        )  # billing.bau_cost's rule
        assert receives >= 0
        consumers_pay += pays
        producers_receive += receives
    assert consumers_pay == (
        producers_receive
        + money.platform_fees
        + money.network_charges
        + money.grid_energy_sold
        - money.feed_in_paid
    )
    assert money.dso_net_income == sum(m.net_cost for m in money.members)
    assert money.platform_fees == t.trade_fee_buy * allocation.allocated_wh + (
        t.trade_fee_sell * allocation.allocated_wh
    )


@PROPERTY
@given(slots(), tariffs())
def test_no_member_pays_more_than_bau_when_sharing_is_cheaper(
    slot: tuple[list[SharingMember], Key], tariff: SharingTariff
) -> None:
    """If a shared Wh costs a consumer no more than a grid Wh, and earns a producer no less
    than feed-in, every member is at least as well off as without the community."""
    members, key = slot
    t = tariff
    consumer_ok = t.sharing_price + t.p2p_grid_fee + t.trade_fee_buy <= t.retail_price + t.grid_fee
    producer_ok = t.sharing_price - t.trade_fee_sell >= t.feed_in_price
    money = slot_money(tariff, allocate(members, key))
    if consumer_ok and producer_ok:
        assert all(m.savings >= 0 for m in money.members)


def test_bau_agrees_with_billing() -> None:
    from market.billing import bau_cost
    from market.tariff import Tariff

    tariff = Tariff(
        retail_price=TARIFF.retail_price,
        feed_in_price=TARIFF.feed_in_price,
        grid_fee=TARIFF.grid_fee,
        p2p_grid_fee=TARIFF.p2p_grid_fee,
        trade_fee_buy=TARIFF.trade_fee_buy,
        trade_fee_sell=TARIFF.trade_fee_sell,
        service_fee=0,
        community_price=TARIFF.sharing_price,
    )
    allocation = allocate([M(1, -120), M(2, 75, 40), M(3, 0)])
    for row in allocation.members():
        m = row.production_wh - row.consumption_wh
        assert member_money(TARIFF, row).bau_cost == bau_cost(tariff, m)
