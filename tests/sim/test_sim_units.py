"""Pure parts of the simulation: the community file, integer profiles, agents' orders."""

from __future__ import annotations

from pathlib import Path

import pytest

from market.orders import InvalidOrderError, Side
from market.tariff import Tariff
from sim.agents import (
    BatteryAgent,
    HouseholdAgent,
    OrderPlan,
    ReservationStrategy,
    ShadedStrategy,
    buyer_ceiling,
    check_plan,
    seller_floor,
    split_by_shares,
)
from sim.community import CommunityFileError, load_community, parse_community
from sim.profiles import community_profiles, largest_remainder, per_day_wh

ROOT = Path(__file__).resolve().parents[2]
TARIFF = Tariff(
    retail_price=200_000,
    feed_in_price=70_000,
    grid_fee=100_000,
    p2p_grid_fee=40_000,
    trade_fee_buy=5_000,
    trade_fee_sell=5_000,
    service_fee=0,
    community_price=190_000,
)
MINIMAL = """
name = "t"
start_date = 2026-06-15
[[household]]
name = "a"
annual_kwh = 3500
pv_kwp = 5.0
"""


def test_shipped_communities_load() -> None:
    default = load_community(ROOT / "communities" / "default-20.toml")
    hundred = load_community(ROOT / "communities" / "hundred.toml")
    assert len(default.households) == 20
    assert len(hundred.households) == 100
    assert default.battery is not None and default.battery.lessees


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("annual_kwh = 3500", "annual_kwh = -1"),
        ('name = "a"', "name = 7"),
        ("pv_kwp = 5.0", "pv_kwp = 5.0\nbogus = 1"),
        ("pv_kwp = 5.0", 'pv_kwp = 5.0\nprofile = "p25"'),
        ("pv_kwp = 5.0", 'pv_kwp = 5.0\nprofile = "x99"'),
    ],
)
def test_bad_household_is_named(change: str, message: str) -> None:
    text = MINIMAL.replace(change, message)
    with pytest.raises(CommunityFileError, match=r"bad\.toml: household\[0\] \("):
        parse_community(text, "bad.toml")


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CommunityFileError, match="not valid TOML"):
        parse_community("name = ", "x.toml")
    with pytest.raises(CommunityFileError, match="cannot read"):
        load_community(tmp_path / "missing.toml")
    twice = MINIMAL + '[[household]]\nname = "a"\nannual_kwh = 1\n'
    with pytest.raises(CommunityFileError, match="unique"):
        parse_community(twice)
    lease = MINIMAL + (
        "[battery]\ncapacity_wh = 1000\npower_w = 500\nlease_per_period = 1\n"
        'lessees = [{ household = "a", share_bps = 5000 }]\n'
    )
    with pytest.raises(CommunityFileError, match="10000"):
        parse_community(lease)
    with pytest.raises(CommunityFileError, match="not households"):
        parse_community(lease.replace('"a", share_bps = 5000', '"zz", share_bps = 10000'))
    with pytest.raises(CommunityFileError, match="feed_in_price"):
        parse_community(MINIMAL + "[tariff]\nfeed_in_price = 300000\n")


def test_largest_remainder_keeps_the_total() -> None:
    assert largest_remainder([0.5, 0.5, 0.5, 0.5]) == [1, 1, 0, 0]
    assert largest_remainder([1.2, 2.7, 0.1]) == [1, 3, 0]
    values = [0.3333] * 30
    assert sum(largest_remainder(values)) == round(sum(values))
    with pytest.raises(ValueError):
        largest_remainder([-1.0])


def test_per_day_wh_sums_slots_and_days() -> None:
    # 1 kW for a day of 15-min steps: 24 kWh, 500 Wh per 30-min slot
    assert per_day_wh([1.0] * 96, 15, 30) == [500] * 48
    # hourly steps spread over two slots each
    assert per_day_wh([0.001] * 24, 60, 30) == [1] * 24 + [0] * 24  # ties: earlier slots
    assert sum(per_day_wh([0.0011] * 48, 60, 30)) == 2 * 26  # rounded per day (26.4)


def test_profiles_are_real_and_integer() -> None:
    community = load_community(ROOT / "communities" / "default-20.toml")
    profiles = community_profiles(community, 2)
    h1 = profiles["h001"]
    assert len(h1.load_wh) == len(h1.pv_wh) == 96
    assert all(isinstance(v, int) and v >= 0 for v in h1.load_wh + h1.pv_wh)
    # a June day: 5 kWp make 15..40 kWh, nothing at night; 2,500 kWh/a is 4..10 kWh a day
    assert 15_000 < sum(h1.pv_wh[:48]) < 40_000
    assert h1.pv_wh[0] == 0 and h1.pv_wh[24] > 1_000
    assert 4_000 < sum(h1.load_wh[:48]) < 10_000
    assert sum(profiles["h005"].pv_wh) == 0  # a consumer
    again = community_profiles(community, 2)
    assert again["h002"] == profiles["h002"]  # deterministic


def test_strategy_bounds_keep_trades_above_bau() -> None:
    floor, ceiling = seller_floor(TARIFF, 10_000), buyer_ceiling(TARIFF)
    assert floor == 75_000  # feed-in + the seller's fee: never worse than feed-in
    assert ceiling == 200_000  # retail (the rulebook's bound) < retail + grid fee - fees
    shaded = ShadedStrategy(90_000, 2500)
    assert 90_000 < shaded.offer_price(TARIFF, 12) < shaded.bid_price(TARIFF, 12) < 200_000


def test_household_battery_self_consumption_first() -> None:
    community = parse_community(MINIMAL + "battery = { capacity_wh = 3000, power_w = 4000 }\n")
    agent = HouseholdAgent(community.households[0], ReservationStrategy(90_000), 30)
    # 5 kWh surplus: 2 kWh into the battery (power limit 4 kW · 0.5 h), 3 kWh offered
    orders = agent.orders(TARIFF, 12, load_wh=1_000, pv_wh=6_000)
    assert orders == [OrderPlan(Side.SELL, 3_000, 90_000)]
    assert agent.deliver(1_000, 6_000).export_wh == 3_000
    assert agent.soc_wh == 2_000
    # evening: 2.5 kWh load, the battery covers 2 kWh, 500 Wh bid at retail
    assert agent.orders(TARIFF, 20, 2_500, 0) == [OrderPlan(Side.BUY, 500, 200_000)]
    assert agent.deliver(2_500, 0).import_wh == 500 and agent.soc_wh == 0


def test_consumer_never_sells_and_prices_are_checked() -> None:
    consumer = parse_community(MINIMAL.replace("pv_kwp = 5.0", "")).households[0]
    agent = HouseholdAgent(consumer, ReservationStrategy(90_000), 30)
    assert [o.side for o in agent.orders(TARIFF, 12, 500, 0)] == [Side.BUY]
    with pytest.raises(ValueError, match="only buy"):
        check_plan(TARIFF, "consumer", OrderPlan(Side.SELL, 1, 100_000))
    with pytest.raises(InvalidOrderError, match="outside"):
        check_plan(TARIFF, "prosumer", OrderPlan(Side.BUY, 1, 250_000))


def test_community_battery_buys_off_peak_sells_at_peak() -> None:
    text = MINIMAL + "[battery]\ncapacity_wh = 10000\npower_w = 8000\nlease_per_period = 0\n"
    community = parse_community(text)
    assert community.battery is not None
    agent = BatteryAgent(community.battery, community.strategy, 30)
    assert agent.orders(TARIFF, 12) == [OrderPlan(Side.BUY, 4_000, 110_000)]
    assert agent.orders(TARIFF, 18) == []  # empty at peak: nothing to sell
    assert agent.deliver(bought_wh=3_000, sold_wh=0).import_wh == 3_000
    assert agent.orders(TARIFF, 18) == [OrderPlan(Side.SELL, 3_000, 180_000)]
    with pytest.raises(ValueError):
        agent.deliver(0, 5_000)
    params = community.strategy.model_copy(update={"battery_sell_price": 999_999})
    priced = BatteryAgent(community.battery, params, 30, soc_wh=1_000)
    assert priced.orders(TARIFF, 18)[0].price == 200_000  # clipped to retail


def test_split_by_shares_is_exact() -> None:
    assert split_by_shares(10, [5000, 5000]) == [5, 5]
    assert split_by_shares(7, [3333, 3333, 3334]) == [3, 2, 2]
    assert split_by_shares(-7, [5000, 5000]) == [-4, -3]
    with pytest.raises(ValueError):
        split_by_shares(1, [5000])


def test_default_community_members_pay_no_more_than_bau() -> None:
    """The seed's claim, on the dry run (the same agents and rulebook as the chain run, which
    tests/sim/test_sim_chain.py shows gives identical bills): three June days."""
    from sim.offline import dry_run
    from sim.report import household_rows

    community = load_community(ROOT / "communities" / "default-20.toml")
    result = dry_run(community, community_profiles(community, 3), 3)
    worse = [(r.name, r.reason()) for r in household_rows(result) if r.pays_more_than_bau]
    assert worse == []
    assert all(p.battery_result > 0 for p in result.periods)


def test_hundred_names_who_pays_more_and_why() -> None:
    """In the 100-household community one prosumager's surplus rarely fills (ties at the same
    price go to lower ids: an intent's id is its struct hash, so who loses the ties is fixed by
    the signed terms, not by placement order); the report says so."""
    from sim.offline import dry_run
    from sim.report import household_rows

    community = load_community(ROOT / "communities" / "hundred.toml")
    result = dry_run(community, community_profiles(community, 1), 1)
    worse = [r for r in household_rows(result) if r.pays_more_than_bau]
    assert [r.name for r in worse] == ["h049"]
    assert "service fee" in worse[0].reason()
