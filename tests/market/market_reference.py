"""Test helpers: the rulebook transcribed literally (slow, obviously right) and hypothesis
strategies for books.

`market.clearing` computes the walk's outcome from aggregate curves for speed; these
references step through it exactly as the rulebook words it, so the tests can compare the
two on any book.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from market.orders import Order, Side
from market.tariff import Tariff
from market.units import NANO_PER_EUR

# The tariff the market tests share: wide enough bounds for the rulebook's example prices.
TARIFF = Tariff(
    retail_price=300000,
    feed_in_price=80000,
    grid_fee=90000,
    p2p_grid_fee=30000,
    trade_fee_buy=5000,
    trade_fee_sell=4000,
    service_fee=2 * NANO_PER_EUR,
    community_price=250000,
)


@dataclass
class Reference:
    clearing_price: int | None
    volume_wh: int
    fills: dict[int, tuple[int, int]]  # id -> (filled_wh, amount)
    pairs: list[tuple[int, int, int, int]] = field(default_factory=list)


def reference_walk(orders: list[Order], pay_as_bid: bool) -> Reference:
    """Uniform (pay_as_bid=False) and pay-as-bid, step by step."""
    bids = sorted((o for o in orders if o.side is Side.BUY), key=lambda o: (-o.price, o.id))
    offers = sorted((o for o in orders if o.side is Side.SELL), key=lambda o: (o.price, o.id))
    remaining = {o.id: o.energy_wh for o in orders}
    walk: list[tuple[Order, Order, int]] = []
    i = j = 0
    while i < len(bids) and j < len(offers) and bids[i].price >= offers[j].price:
        bid, offer = bids[i], offers[j]
        q = min(remaining[bid.id], remaining[offer.id])
        walk.append((bid, offer, q))
        remaining[bid.id] -= q
        remaining[offer.id] -= q
        if remaining[bid.id] == 0:
            i += 1
        if remaining[offer.id] == 0:
            j += 1
    if pay_as_bid:
        price = None
        pairs = [(b.id, a.id, q, b.price) for b, a, q in walk]
    else:
        price = (walk[-1][0].price + walk[-1][1].price) // 2 if walk else None
        pairs = [(b.id, a.id, q, price) for b, a, q in walk if price is not None]
    fills = {o.id: (o.energy_wh - remaining[o.id], 0) for o in orders}
    for buy_id, sell_id, q, p in pairs:
        for order_id in (buy_id, sell_id):
            filled, amount = fills[order_id]
            fills[order_id] = (filled, amount + p * q)
    return Reference(price, sum(q for _, _, q, _ in pairs), fills, pairs)


def reference_community(orders: list[Order], pc: int) -> Reference:
    """Community mode, including the rulebook's "skipping full ones" and repeated rounds."""
    fills = {o.id: 0 for o in orders}
    bids = sorted((o for o in orders if o.side is Side.BUY and o.price >= pc), key=lambda o: o.id)
    offers = sorted(
        (o for o in orders if o.side is Side.SELL and o.price <= pc), key=lambda o: o.id
    )
    volume = min(sum(o.energy_wh for o in bids), sum(o.energy_wh for o in offers))
    for side in (bids, offers):
        total = sum(o.energy_wh for o in side)
        for o in side:
            fills[o.id] = o.energy_wh * volume // total
        leftover = volume - sum(fills[o.id] for o in side)
        while leftover:
            for o in side:
                if leftover and fills[o.id] < o.energy_wh:
                    fills[o.id] += 1
                    leftover -= 1
    return Reference(pc, volume, {k: (f, f * pc) for k, f in fills.items()})


def max_uniform_volume(orders: list[Order]) -> int:
    """Brute force: the most Wh that can trade at one price t, max over t of
    min(bid Wh with limit >= t, offer Wh with limit <= t), trying every t in range."""
    if not orders:
        return 0
    prices = [o.price for o in orders]
    best = 0
    for t in range(min(prices), max(prices) + 1):
        demand = sum(o.energy_wh for o in orders if o.side is Side.BUY and o.price >= t)
        supply = sum(o.energy_wh for o in orders if o.side is Side.SELL and o.price <= t)
        best = max(best, min(demand, supply))
    return best


@st.composite
def books(
    draw: Callable[[st.SearchStrategy[Any]], Any],
    max_orders: int = 25,
    max_price: int = 60,
    max_energy: int = 40,
) -> list[Order]:
    """Books with distinct ids (not in id order), crowded prices so ties are common."""
    n = draw(st.integers(min_value=0, max_value=max_orders))
    ids = draw(st.lists(st.integers(0, 10 * max_orders + 10), min_size=n, max_size=n, unique=True))
    price_ceiling = draw(st.sampled_from([3, max_price]))  # 3: mostly ties
    return [
        Order(
            id=order_id,
            side=draw(st.sampled_from(Side)),
            energy_wh=draw(st.integers(1, max_energy)),
            price=draw(st.integers(0, price_ceiling)),
            owner=f"0x{order_id:040x}",
        )
        for order_id in ids
    ]
