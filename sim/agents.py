"""Agents: what each member orders for a slot and what its meter then measures. Pure.

A household's home energy manager knows its own load and PV for the coming slot (a perfect
one-slot forecast: the profile), runs its home battery for self-consumption first (charge from
surplus, discharge into deficit), then offers what is left over and bids for what is missing. The
*prices* come from a pluggable `Strategy`. Delivery does not depend on the market: a household
exports its surplus and imports its deficit whether or not its orders fill, and the part that did
not trade is settled against the meter (feed-in / retail) by the rulebook.

The community battery is a member with its own wallet. It bids to charge outside the peak hours
and offers to discharge during them; it then charges or discharges exactly what it traded, so its
meter always matches its trades and it never pays imbalance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from market.orders import Order, Side
from market.tariff import Tariff
from market.units import NanoEur, Price, Wh
from sim.community import CommunityBattery, HomeBattery, Household
from sim.community import Strategy as StrategyParams


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """An order an agent wants placed for the slot."""

    side: Side
    energy_wh: Wh
    price: Price


@dataclass(frozen=True, slots=True)
class MeterFlow:
    """What the member's meter measures for the slot."""

    import_wh: Wh
    export_wh: Wh


class Strategy(Protocol):
    """Prices of a household's orders. `offer_price` is the least it accepts for surplus PV,
    `bid_price` the most it pays for energy it is missing; both within the tariff's bounds."""

    def offer_price(self, tariff: Tariff, hour: int) -> Price: ...

    def bid_price(self, tariff: Tariff, hour: int) -> Price: ...


def seller_floor(tariff: Tariff, lcoe: Price) -> Price:
    """The least a PV owner should accept: its cost floor, and never less than what the DSO
    pays at feed-in after the platform fee (selling below it would lose against BaU)."""
    return min(tariff.retail_price, max(lcoe, tariff.feed_in_price + tariff.trade_fee_sell))


def buyer_ceiling(tariff: Tariff) -> Price:
    """The most a buyer should pay: retail (the rulebook's bound), and never more than what
    grid energy costs it all in minus the fees on a local purchase."""
    all_in_grid = tariff.retail_price + tariff.grid_fee - tariff.buy_fee_rate
    return max(tariff.feed_in_price, min(tariff.retail_price, all_in_grid))


@dataclass(frozen=True, slots=True)
class ReservationStrategy:
    """The default: offer at the seller's floor, bid at the buyer's ceiling. Every trade then
    leaves both sides at least as well off as BaU, and the uniform price splits the gain."""

    lcoe: Price

    def offer_price(self, tariff: Tariff, hour: int) -> Price:
        return seller_floor(tariff, self.lcoe)

    def bid_price(self, tariff: Tariff, hour: int) -> Price:
        return buyer_ceiling(tariff)


@dataclass(frozen=True, slots=True)
class ShadedStrategy:
    """Asks for part of the gain in the limit itself: offers and bids `shade_bps` of the way
    from the reservation price towards the other side's (10000 = the other side's)."""

    lcoe: Price
    shade_bps: int

    def offer_price(self, tariff: Tariff, hour: int) -> Price:
        low, high = seller_floor(tariff, self.lcoe), buyer_ceiling(tariff)
        return low + max(0, high - low) * self.shade_bps // 10_000

    def bid_price(self, tariff: Tariff, hour: int) -> Price:
        low, high = seller_floor(tariff, self.lcoe), buyer_ceiling(tariff)
        return high - max(0, high - low) * self.shade_bps // 10_000


def check_plan(tariff: Tariff, role: str, plan: OrderPlan) -> None:
    """The rulebook's checks on an order (market.orders, market.tariff) and the contracts' role
    rule (consumers only buy). Raises InvalidOrderError / ValueError."""
    order = Order(id=0, side=plan.side, energy_wh=plan.energy_wh, price=plan.price, owner="")
    tariff.check_price_bounds(order)
    if role == "consumer" and plan.side is Side.SELL:
        raise ValueError("a consumer may only buy")


@dataclass
class HouseholdAgent:
    household: Household
    strategy: Strategy
    slot_minutes: int
    soc_wh: Wh = 0

    @property
    def role(self) -> str:
        return self.household.role

    def _battery_step(self, net_wh: Wh) -> Wh:
        """Energy into (+) or out of (-) the home battery for a net PV surplus `net_wh`."""
        battery: HomeBattery | None = self.household.battery
        if battery is None:
            return 0
        limit = battery.power_w * self.slot_minutes // 60
        if net_wh > 0:
            return min(net_wh, limit, battery.capacity_wh - self.soc_wh)
        return -min(-net_wh, limit, self.soc_wh)

    def plan(self, load_wh: Wh, pv_wh: Wh) -> MeterFlow:
        """What the meter will measure this slot (the battery works for self-consumption)."""
        net = pv_wh - load_wh
        net -= self._battery_step(net)
        return MeterFlow(import_wh=max(0, -net), export_wh=max(0, net))

    def orders(self, tariff: Tariff, hour: int, load_wh: Wh, pv_wh: Wh) -> list[OrderPlan]:
        flow = self.plan(load_wh, pv_wh)
        plans: list[OrderPlan] = []
        if flow.export_wh > 0 and self.role != "consumer":
            plans.append(
                OrderPlan(Side.SELL, flow.export_wh, self.strategy.offer_price(tariff, hour))
            )
        if flow.import_wh > 0:
            plans.append(OrderPlan(Side.BUY, flow.import_wh, self.strategy.bid_price(tariff, hour)))
        for p in plans:
            check_plan(tariff, self.role, p)
        return plans

    def deliver(self, load_wh: Wh, pv_wh: Wh) -> MeterFlow:
        """Run the slot: the battery moves, and the meter reads the rest."""
        net = pv_wh - load_wh
        step = self._battery_step(net)
        self.soc_wh += step
        net -= step
        return MeterFlow(import_wh=max(0, -net), export_wh=max(0, net))


def _clip(tariff: Tariff, price: Price) -> Price:
    """`price` moved into the rulebook's bounds [feed_in_price, retail_price]."""
    return max(tariff.feed_in_price, min(tariff.retail_price, price))


@dataclass
class BatteryAgent:
    """The DSO's community battery: charges from local surplus, sells at peak."""

    battery: CommunityBattery
    params: StrategyParams
    slot_minutes: int
    soc_wh: Wh = 0
    stock_cost: NanoEur = 0
    """What the energy now stored cost (n€): the battery's inventory at cost."""

    role = "battery"

    @property
    def power_wh(self) -> Wh:
        return self.battery.power_w * self.slot_minutes // 60

    def in_peak(self, hour: int) -> bool:
        start, end = self.params.peak_hours
        return start <= hour < end

    def orders(self, tariff: Tariff, hour: int) -> list[OrderPlan]:
        if self.in_peak(hour):
            energy = min(self.power_wh, self.soc_wh)
            price = max(
                tariff.feed_in_price, min(tariff.retail_price, self.params.battery_sell_price)
            )
            plans = [OrderPlan(Side.SELL, energy, price)] if energy > 0 else []
        else:
            energy = min(self.power_wh, self.battery.capacity_wh - self.soc_wh)
            price = max(
                tariff.feed_in_price, min(tariff.retail_price, self.params.battery_buy_price)
            )
            plans = [OrderPlan(Side.BUY, energy, price)] if energy > 0 else []
        for p in plans:
            check_plan(tariff, self.role, p)
        return plans

    def deliver(self, bought_wh: Wh, sold_wh: Wh, bought_cost: NanoEur = 0) -> MeterFlow:
        """Charge what was bought, discharge what was sold: the meter matches the trades.
        `bought_cost` (energy and fees paid) is added to the stock's cost; a sale takes out
        its average cost (floored), so the stock is valued at what it cost."""
        if sold_wh > self.soc_wh or self.soc_wh + bought_wh - sold_wh > self.battery.capacity_wh:
            raise ValueError(f"battery cannot deliver bought {bought_wh} / sold {sold_wh} Wh")
        if sold_wh:
            self.stock_cost -= self.stock_cost * sold_wh // self.soc_wh
        self.stock_cost += bought_cost
        self.soc_wh += bought_wh - sold_wh
        net = sold_wh - bought_wh
        return MeterFlow(import_wh=max(0, -net), export_wh=max(0, net))


def split_by_shares(amount: int, shares_bps: list[int]) -> list[int]:
    """Split `amount` (may be negative) in proportion to `shares_bps` (summing to 10000):
    floored toward zero, the leftover units one each in list order, so exactly `amount` is split."""
    if sum(shares_bps) != 10_000 or any(s <= 0 for s in shares_bps):
        raise ValueError("shares must be positive and add up to 10000 bps")
    sign = -1 if amount < 0 else 1
    magnitude = abs(amount)
    parts = [magnitude * s // 10_000 for s in shares_bps]
    for i in range(magnitude - sum(parts)):
        parts[i % len(parts)] += 1
    return [sign * p for p in parts]


def make_strategy(params: StrategyParams) -> Strategy:
    return ReservationStrategy(params.lcoe_price)
