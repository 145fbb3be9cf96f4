"""Money after clearing: fees, order settlement, imbalance, business as usual, debt, bills.

Sign convention: a *cost* is in n€ and positive when the member pays, negative when the member
receives. Amounts named `paid`, `received`, `credit`, `charge` or `fee` are never negative.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

from market.clearing import Fill
from market.orders import Order, Side
from market.tariff import Tariff
from market.units import NanoEur, Wh


@dataclass(frozen=True, slots=True)
class Fees:
    """Fees on one fill: platform fees go to the DSO's fee account, network charges to its
    network account, so each can be reported on its own."""

    platform: NanoEur
    network: NanoEur

    @property
    def total(self) -> NanoEur:
        return self.platform + self.network


def trade_fees(tariff: Tariff, side: Side, filled_wh: Wh) -> Fees:
    """A buyer pays `trade_fee_buy` and the reduced `p2p_grid_fee` per Wh bought; a seller
    pays `trade_fee_sell` per Wh sold."""
    if side is Side.BUY:
        return Fees(tariff.trade_fee_buy * filled_wh, tariff.p2p_grid_fee * filled_wh)
    return Fees(tariff.trade_fee_sell * filled_wh, 0)


@dataclass(frozen=True, slots=True)
class OrderSettlement:
    """How one order's fill moves tokens.

    A buy escrowed `escrow` when placed; the member pays `paid_by_member` (energy plus fees)
    out of it and gets the rest back as `received_by_member`, so
    escrow == paid_by_member + received_by_member. A sell escrows and pays nothing and
    receives the energy amount less its platform fee.
    """

    order_id: int
    side: Side
    filled_wh: Wh
    amount: NanoEur
    """For the energy, excluding fees (the fill's amount)."""
    escrow: NanoEur
    paid_by_member: NanoEur
    received_by_member: NanoEur
    platform_fee: NanoEur
    network_fee: NanoEur


def settle_order(tariff: Tariff, order: Order, fill: Fill) -> OrderSettlement:
    """Settle one order's fill under the tariff in force for its slot.

    Raises ValueError if the fill does not belong to the order, over-fills it, has a negative
    amount or pays worse than its limit, and InvalidOrderError if the order is outside the
    tariff's price bounds. A verified clearing never does any of that, and these checks are
    what keep the escrow covering the payment and a seller's proceeds non-negative.
    """
    if fill.order_id != order.id or fill.side != order.side:
        raise ValueError(f"fill {fill} does not belong to order {order.id}")
    if not 0 <= fill.filled_wh <= order.energy_wh:
        raise ValueError(f"order {order.id}: filled {fill.filled_wh} of {order.energy_wh} Wh")
    tariff.check_price_bounds(order)
    at_limit = order.price * fill.filled_wh
    beyond_limit = fill.amount > at_limit if order.side is Side.BUY else fill.amount < at_limit
    if fill.amount < 0 or beyond_limit:
        raise ValueError(f"order {order.id}: amount {fill.amount} is beyond its limit price")

    fees = trade_fees(tariff, order.side, fill.filled_wh)
    if order.side is Side.BUY:
        escrow = tariff.escrow_for(order)
        paid = fill.amount + fees.total
        received = escrow - paid
    else:
        escrow = 0
        paid = 0
        received = fill.amount - fees.total
    return OrderSettlement(
        order_id=order.id,
        side=order.side,
        filled_wh=fill.filled_wh,
        amount=fill.amount,
        escrow=escrow,
        paid_by_member=paid,
        received_by_member=received,
        platform_fee=fees.platform,
        network_fee=fees.network,
    )


@dataclass(frozen=True, slots=True)
class Imbalance:
    """A member's deviation from its traded position in one slot, settled with the DSO."""

    deviation_wh: Wh
    """d = m - s: metered net export minus traded net sale."""
    credit: NanoEur
    """d >= 0: the DSO buys d Wh at feed_in_price."""
    energy_charge: NanoEur
    """d < 0: retail_price * |d|, the energy part of the charge."""
    network_charge: NanoEur
    """d < 0: grid_fee * |d|, the network part of the charge."""

    @property
    def cost(self) -> NanoEur:
        return self.energy_charge + self.network_charge - self.credit


def imbalance(tariff: Tariff, metered_net_export_wh: Wh, traded_net_sold_wh: Wh) -> Imbalance:
    """Settle d = m - s: a surplus is sold to the DSO at the feed-in price, a shortfall is
    bought from it at retail price plus the grid fee."""
    d = metered_net_export_wh - traded_net_sold_wh
    if d >= 0:
        return Imbalance(d, credit=d * tariff.feed_in_price, energy_charge=0, network_charge=0)
    return Imbalance(
        d,
        credit=0,
        energy_charge=-d * tariff.retail_price,
        network_charge=-d * tariff.grid_fee,
    )


def bau_cost(tariff: Tariff, metered_net_export_wh: Wh) -> NanoEur:
    """The member's cost without the local market (business as usual): all of its net export
    sold to the DSO at feed-in, all of its net import bought at retail price plus grid fee."""
    return imbalance(tariff, metered_net_export_wh, 0).cost


@dataclass(frozen=True, slots=True)
class ChargeOutcome:
    balance: NanoEur
    debt: NanoEur
    collected: NanoEur
    """What the balance covered; the rest of the charge became debt."""


@dataclass(frozen=True, slots=True)
class TopUpOutcome:
    balance: NanoEur
    debt: NanoEur
    debt_paid: NanoEur
    """The part of the top-up that went to the debt before the balance."""


def _check_account(balance: NanoEur, debt: NanoEur, amount: NanoEur) -> None:
    # A balance and a debt may both be positive: debt is paid from top-ups (and on request), while
    # trade proceeds simply add to the balance, which the next charge then draws on first.
    if balance < 0 or debt < 0 or amount < 0:
        raise ValueError(f"negative balance {balance}, debt {debt} or amount {amount}")


def apply_charge(balance: NanoEur, debt: NanoEur, charge: NanoEur) -> ChargeOutcome:
    """Take `charge` from a prepaid balance; a balance never goes below zero, so what it
    cannot cover is recorded as debt."""
    _check_account(balance, debt, charge)
    collected = min(balance, charge)
    return ChargeOutcome(balance - collected, debt + charge - collected, collected)


def apply_top_up(balance: NanoEur, debt: NanoEur, amount: NanoEur) -> TopUpOutcome:
    """Add `amount` (a top-up): debt is paid first, from the whole balance the top-up leaves
    (as EnergyToken.topUp does), and the rest stays in the balance."""
    _check_account(balance, debt, amount)
    debt_paid = min(debt, balance + amount)
    return TopUpOutcome(balance + amount - debt_paid, debt - debt_paid, debt_paid)


def profit_pool(platform_fees: NanoEur, share_bps: int) -> NanoEur:
    """The part of a period's platform-fee income shared with members (floored)."""
    if platform_fees < 0 or not 0 <= share_bps <= 10_000:
        raise ValueError(f"fees {platform_fees} or share {share_bps} bps out of range")
    return platform_fees * share_bps // 10_000


def profit_shares(
    pool: NanoEur, exports_wh: list[Wh], total_wh: Wh | None = None, before_wh: Wh = 0
) -> list[NanoEur]:
    """Split `pool` in proportion to each member's metered export over `total_wh` (default: the
    sum of `exports_wh`), members in ascending address order. With `c` the export of the members
    before, a member's share is `floor(pool * (c + export) / total) - floor(pool * c / total)`:
    within one n€ of the exact proportion, computable a chunk of members at a time from the running
    `c` (as ProfitSharing.closePeriod does), and summing to exactly `pool` when `total_wh` is the
    members' whole export (less the part of members missing from `exports_wh`, e.g. left during
    the period). `before_wh` is the running `c` of a chunk that continues earlier ones. With no
    export at all, nothing is shared."""
    total = sum(exports_wh) if total_wh is None else total_wh
    if pool < 0 or before_wh < 0 or any(e < 0 for e in exports_wh):
        raise ValueError("negative pool or export")
    if total < before_wh + sum(exports_wh):
        raise ValueError(
            f"total export {total} Wh below the members' {before_wh + sum(exports_wh)}"
        )
    if total == 0 or pool == 0:
        return [0] * len(exports_wh)
    shares: list[NanoEur] = []
    running = before_wh
    for e in exports_wh:
        shares.append(pool * (running + e) // total - pool * running // total)
        running += e
    return shares


@dataclass(frozen=True, slots=True)
class Bill:
    """A member's bill for one slot (`bill`) or a period (`sum_bills`), in n€.

    `net_cost` is what the member actually spent (negative: earned), `bau_cost` what it would
    have spent without the local market, and `savings` the difference: the NEMoGrid
    objective, which the market must make positive.
    """

    bought_wh: Wh
    sold_wh: Wh
    metered_net_export_wh: Wh
    energy_bought: NanoEur
    """Paid for energy bought in the market, fees excluded."""
    energy_sold: NanoEur
    """Received for energy sold in the market, before the seller's fee."""
    platform_fees: NanoEur
    network_fees: NanoEur
    """Network charges on energy bought locally (p2p_grid_fee)."""
    imbalance_credit: NanoEur
    imbalance_energy_charge: NanoEur
    imbalance_network_charge: NanoEur
    service_fee: NanoEur
    """Charged once per period, so zero on a slot's bill."""
    bau_cost: NanoEur

    @property
    def imbalance_cost(self) -> NanoEur:
        return self.imbalance_energy_charge + self.imbalance_network_charge - self.imbalance_credit

    @property
    def net_cost(self) -> NanoEur:
        return (
            self.energy_bought
            - self.energy_sold
            + self.platform_fees
            + self.network_fees
            + self.imbalance_cost
            + self.service_fee
        )

    @property
    def savings(self) -> NanoEur:
        return self.bau_cost - self.net_cost


def bill(tariff: Tariff, metered_net_export_wh: Wh, settlements: Iterable[OrderSettlement]) -> Bill:
    """One member's bill for one slot from its settled orders in that slot and its metered
    net export m (Wh, + export, - import)."""
    settled = list(settlements)
    bought = [s for s in settled if s.side is Side.BUY]
    sold = [s for s in settled if s.side is Side.SELL]
    bought_wh = sum(s.filled_wh for s in bought)
    sold_wh = sum(s.filled_wh for s in sold)
    deviation = imbalance(tariff, metered_net_export_wh, sold_wh - bought_wh)
    return Bill(
        bought_wh=bought_wh,
        sold_wh=sold_wh,
        metered_net_export_wh=metered_net_export_wh,
        energy_bought=sum(s.amount for s in bought),
        energy_sold=sum(s.amount for s in sold),
        platform_fees=sum(s.platform_fee for s in settled),
        network_fees=sum(s.network_fee for s in settled),
        imbalance_credit=deviation.credit,
        imbalance_energy_charge=deviation.energy_charge,
        imbalance_network_charge=deviation.network_charge,
        service_fee=0,
        bau_cost=bau_cost(tariff, metered_net_export_wh),
    )


def sum_bills(bills: Iterable[Bill], service_fee: NanoEur) -> Bill:
    """A period's bill: the sum of its slot bills plus the period's `service_fee`, once.

    Summing bills that already carry service fees (periods into a year) adds theirs too; pass
    service_fee=0 then. BaU carries no service fee: without the community there is none.
    """
    listed = list(bills)
    total = Bill(**{f.name: sum(getattr(b, f.name) for b in listed) for f in fields(Bill)})
    return replace(total, service_fee=total.service_fee + service_fee)
