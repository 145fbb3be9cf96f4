"""Clearing a slot's book in one of the rulebook's three modes.

`clear` is pure and deterministic: it puts the book in id order before anything else, so the
same orders give the same `Clearing` whatever order they arrive in.

It must clear a million orders in about a second, so it works on columns (plain lists indexed
by an order's position in id order) and creates no object per order: `Clearing.fills` keeps
the columns and builds each `Fill` on access, and in uniform mode `Clearing.pairs` is only
listed when first read (most callers settle fills and never need the pairs). Anyone building a
`Clearing` by hand (tests, a replay from chain events) may pass a plain dict and tuple instead.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import compress, repeat
from operator import attrgetter, ge, gt, is_, le, lt, mul, not_
from typing import overload

from market.orders import Order, Side, sorted_by_id
from market.units import NanoEur, Price, Wh, is_int


class Mode(StrEnum):
    UNIFORM = "uniform"
    PAY_AS_BID = "pay-as-bid"
    COMMUNITY = "community"


@dataclass(frozen=True, slots=True)
class Pair:
    """`energy_wh` traded between a bid and an offer at `price` (uniform: the clearing price;
    pay-as-bid: the bid's limit)."""

    buy_id: int
    sell_id: int
    energy_wh: Wh
    price: Price


@dataclass(frozen=True, slots=True)
class Fill:
    """What one order got: `amount` is what the buyer pays or the seller receives for the
    energy, excluding fees."""

    order_id: int
    side: Side
    filled_wh: Wh
    amount: NanoEur


@dataclass(frozen=True, slots=True)
class Clearing:
    """The result of clearing one slot.

    `fills` has an entry for every order of the book, unfilled ones included (0 Wh, 0 n€).
    `clearing_price` is None when there is no single price: uniform mode without trades, and
    pay-as-bid always. `volume_wh` is the Wh bought, which equals the Wh sold. `pairs` lists
    the walk's pairs in walk order (empty in community mode, where the aggregator is the
    counterparty of every fill).
    """

    mode: Mode
    clearing_price: Price | None
    volume_wh: Wh
    fills: Mapping[int, Fill]
    pairs: Sequence[Pair]


class Fills(Mapping[int, Fill]):
    """Read-only fills keyed by order id, stored as columns in ascending id order."""

    __slots__ = ("_amounts", "_filled", "_ids", "_sides")

    def __init__(
        self,
        ids: Sequence[int],
        sides: Sequence[Side],
        filled: Sequence[Wh],
        amounts: Sequence[NanoEur],
    ) -> None:
        self._ids = tuple(ids)
        self._sides = tuple(sides)
        self._filled = tuple(filled)
        self._amounts = tuple(amounts)

    def __getitem__(self, order_id: int) -> Fill:
        if not isinstance(order_id, int):  # "7" in fills is False, not a TypeError
            raise KeyError(order_id)
        k = bisect_left(self._ids, order_id)
        if k == len(self._ids) or self._ids[k] != order_id:
            raise KeyError(order_id)
        return Fill(order_id, self._sides[k], self._filled[k], self._amounts[k])

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"Fills({dict(self)!r})"


class LazyPairs(Sequence[Pair]):
    """Pairs listed on first access by `compute`, then kept; compares like a tuple."""

    __slots__ = ("_compute", "_pairs")

    def __init__(self, compute: Callable[[], tuple[Pair, ...]]) -> None:
        self._compute = compute
        self._pairs: tuple[Pair, ...] | None = None

    def _listed(self) -> tuple[Pair, ...]:
        if self._pairs is None:
            self._pairs = self._compute()
        return self._pairs

    @overload
    def __getitem__(self, index: int) -> Pair: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Pair, ...]: ...

    def __getitem__(self, index: int | slice) -> Pair | tuple[Pair, ...]:
        return self._listed()[index]

    def __len__(self) -> int:
        return len(self._listed())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return self._listed() == tuple(other)

    def __repr__(self) -> str:
        return f"LazyPairs({self._listed()!r})"


def check_community_price(mode: Mode, community_price: Price | None) -> None:
    """Raise ValueError unless `community_price` is given exactly when `mode` is community.

    Passing it to another mode would be silently ignored, which hides a misconfiguration.
    """
    if mode is Mode.COMMUNITY:
        if community_price is None:
            raise ValueError("community mode needs a community_price")
        if not is_int(community_price) or community_price < 0:
            raise ValueError(
                f"community_price must be a non-negative integer, got {community_price!r}"
            )
    elif community_price is not None:
        raise ValueError(f"community_price is only used in community mode, not {mode}")


@dataclass(frozen=True, slots=True)
class _Book:
    """The book as columns; position k is the k-th order in ascending id order."""

    ids: list[int]
    sides: list[Side]
    energy: list[Wh]
    prices: list[Price]

    @classmethod
    def of(cls, orders: Iterable[Order]) -> _Book:
        by_id = sorted_by_id(orders)
        return cls(
            ids=list(map(attrgetter("id"), by_id)),
            sides=list(map(attrgetter("side"), by_id)),
            energy=list(map(attrgetter("energy_wh"), by_id)),
            prices=list(map(attrgetter("price"), by_id)),
        )

    def side(self, side: Side) -> _SideBook:
        mine = list(map(is_, self.sides, repeat(side)))
        return _SideBook(
            side=side,
            positions=list(compress(range(len(mine)), mine)),
            prices=list(compress(self.prices, mine)),
            energy=list(compress(self.energy, mine)),
        )

    def fills(self, filled: Sequence[Wh], amounts: Sequence[NanoEur]) -> Fills:
        return Fills(self.ids, self.sides, filled, amounts)

    def pairs(
        self, steps: Iterable[tuple[int, int, Wh]], price_of: Callable[[int], Price]
    ) -> tuple[Pair, ...]:
        """Pairs from walk steps (bid position, offer position, Wh); `price_of(bid position)`
        gives the pair's price."""
        return tuple(Pair(self.ids[b], self.ids[a], q, price_of(b)) for b, a, q in steps)


@dataclass(frozen=True, slots=True)
class _SideBook:
    """One side's orders as columns, in ascending id order; `positions` are in the book."""

    side: Side
    positions: list[int]
    prices: list[Price]
    energy: list[Wh]

    def ranked(self) -> list[int]:
        """Book positions best first: bids by price descending, offers by price ascending,
        ties by id ascending."""
        order = sorted(
            range(len(self.positions)),
            key=self.prices.__getitem__,
            # Stable, also with reverse=True (equal keys keep their original order), so ties
            # stay in id order.
            reverse=self.side is Side.BUY,
        )
        return [self.positions[i] for i in order]


def clear(orders: Iterable[Order], mode: Mode, community_price: Price | None = None) -> Clearing:
    """Clear one slot's book by the rulebook.

    `community_price` is the aggregator's price `pc`, required in community mode and rejected
    otherwise. Raises InvalidOrderError for duplicate ids and ValueError for a bad
    `community_price`.
    """
    check_community_price(mode, community_price)
    book = _Book.of(orders)
    bids = book.side(Side.BUY)
    offers = book.side(Side.SELL)
    if mode is Mode.COMMUNITY:
        assert community_price is not None  # checked above
        return _clear_community(book, bids, offers, community_price)
    return _clear_walk(book, bids, offers, mode)


def _clear_walk(book: _Book, bids: _SideBook, offers: _SideBook, mode: Mode) -> Clearing:
    """Uniform and pay-as-bid: the same walk, priced differently."""
    end = _walk_end(bids, offers)
    if end is None:  # no pair formed: no trades and no clearing price
        nothing = [0] * len(book.ids)
        return Clearing(mode, None, 0, book.fills(nothing, nothing), ())
    filled = [0] * len(book.ids)
    _fill_walk(bids, end.volume, end.bid_limit, filled)
    _fill_walk(offers, end.volume, end.offer_limit, filled)

    if mode is Mode.UNIFORM:
        price = (end.bid_limit + end.offer_limit) // 2
        return Clearing(
            mode,
            price,
            end.volume,
            book.fills(filled, list(map(mul, filled, repeat(price)))),
            LazyPairs(lambda: book.pairs(_walk_steps(bids, offers, filled), lambda _: price)),
        )

    # Pay-as-bid: each pair trades at its bid's limit; the buyer pays it, the seller gets it.
    steps = _walk_steps(bids, offers, filled)
    amounts = [0] * len(filled)
    for b, a, q in steps:
        amounts[b] += book.prices[b] * q
        amounts[a] += book.prices[b] * q
    return Clearing(
        mode,
        None,
        end.volume,
        book.fills(filled, amounts),
        book.pairs(steps, book.prices.__getitem__),
    )


@dataclass(frozen=True, slots=True)
class _WalkEnd:
    volume: Wh
    bid_limit: Price
    """b*: the limit of the bid in the walk's last pair."""
    offer_limit: Price
    """a*: the limit of the offer in the walk's last pair."""


def _walk_end(bids: _SideBook, offers: _SideBook) -> _WalkEnd | None:
    """Where the rulebook's walk stops (None if it forms no pair), without walking.

    Stepping through a million orders pair by pair is too slow in Python, so this computes
    the walk's outcome from the aggregate curves D(t) = bid Wh with limit >= t and
    S(t) = offer Wh with limit <= t.

    The walk pairs the x-th Wh of the ranked bids with the x-th Wh of the ranked offers while
    the bid's limit >= the offer's limit; down the rankings bid limits never rise and offer
    limits never fall, so it pairs the Wh before the first x that fails. That count is
    V = max over t of min(D(t), S(t)): with t = a*, the bids and offers holding the V paired
    Wh all have limits >= b* >= a* and <= a* respectively, so min(D(a*), S(a*)) >= V; and for
    any t with y = min(D(t), S(t)) > 0, the y-th bid Wh has a limit >= t >= the y-th offer
    Wh's limit, so the walk gets past y - 1 and V >= y.

    D - S never rises with t. With t0 the highest t where D(t) >= S(t): for t <= t0,
    min(D(t), S(t)) <= S(t) <= S(t0) = min(D(t0), S(t0)); for t > t0, min(D(t), S(t)) =
    D(t) <= D(t0 + 1). So V = max(S(t0), D(t0 + 1)).

    The last pair's bid holds the V-th bid Wh, so b* is the highest t with D(t) >= V: t0 if
    D(t0 + 1) < V, otherwise the lowest bid limit above t0 (D stays V up to it). Likewise
    a*, the lowest t with S(t) >= V, is t0 + 1 if S(t0) < V, otherwise the highest offer
    limit <= t0.
    """
    if not bids.positions or not offers.positions:
        return None
    best_bid, best_offer = max(bids.prices), min(offers.prices)
    if best_bid < best_offer:
        return None
    t0, supply, demand_above = _crossing(bids, offers, best_offer - 1, best_bid + 1)
    volume = max(supply, demand_above)
    # (min/max over compress() rather than a generator: these scan half a million orders.)
    bid_limit = (
        min(compress(bids.prices, map(gt, bids.prices, repeat(t0))))
        if demand_above == volume
        else t0
    )
    offer_limit = (
        max(compress(offers.prices, map(le, offers.prices, repeat(t0))))
        if supply == volume
        else t0 + 1
    )
    return _WalkEnd(volume, bid_limit, offer_limit)


def _crossing(bids: _SideBook, offers: _SideBook, low: Price, high: Price) -> tuple[Price, Wh, Wh]:
    """(t0, S(t0), D(t0 + 1)) where t0 is the highest price t with D(t) >= S(t), given
    `low` and `high` with S(low) == 0 and D(high) == 0 < S(high).

    A search for t between `low` (D >= S holds) and `high` (it fails). Only orders whose
    limits lie between the bounds can still change D or S inside them, so each round sets
    the others aside in running totals. Each round splits at about the median limit of the
    orders left (not at the middle of the price range, which on clustered prices would take
    a round per bit of the range over the same orders), so the work halves every round.
    """
    bid_prices, bid_energy = bids.prices, bids.energy
    offer_prices, offer_energy = offers.prices, offers.energy
    # For every low < t < high: D(t) = demand_high + Wh of the kept bids with limit >= t,
    # and S(t) = supply_low + Wh of the kept offers with limit <= t.
    demand_high = 0
    supply_low = 0
    while high - low > 1:
        t = _median_limit(bid_prices, offer_prices, low, high)
        bid_in = list(map(ge, bid_prices, repeat(t)))
        offer_in = list(map(le, offer_prices, repeat(t)))
        demand = demand_high + sum(compress(bid_energy, bid_in))
        supply = supply_low + sum(compress(offer_energy, offer_in))
        if demand >= supply:
            low, supply_low = t, supply
            keep_bids, keep_offers = bid_in, list(map(not_, offer_in))
        else:
            high, demand_high = t, demand
            keep_bids, keep_offers = list(map(not_, bid_in)), offer_in
        bid_prices = list(compress(bid_prices, keep_bids))
        bid_energy = list(compress(bid_energy, keep_bids))
        offer_prices = list(compress(offer_prices, keep_offers))
        offer_energy = list(compress(offer_energy, keep_offers))
    return low, supply_low, demand_high


def _median_limit(
    bid_prices: list[Price], offer_prices: list[Price], low: Price, high: Price
) -> Price:
    """About the median of the limits left (from a sample of them), kept strictly between
    `low` and `high` so that every round narrows the search."""
    step = max(1, (len(bid_prices) + len(offer_prices)) // 64)
    sample = sorted(bid_prices[::step] + offer_prices[::step])
    pivot = sample[len(sample) // 2] if sample else (low + high) // 2
    return min(max(pivot, low + 1), high - 1)


def _fill_walk(side: _SideBook, volume: Wh, last_limit: Price, filled: list[Wh]) -> None:
    """Fill the prefix of `volume` Wh of one side's ranking, given the limit of its order in
    the last pair: orders with a better limit are full, orders at that limit share the rest
    in id order (the ranking's tie-break), the others get nothing."""
    better = gt if side.side is Side.BUY else lt
    left = volume
    for k, p, e in zip(side.positions, side.prices, side.energy, strict=True):
        if better(p, last_limit):
            filled[k] = e
            left -= e
    for k, p, e in zip(side.positions, side.prices, side.energy, strict=True):
        if p == last_limit and left:
            filled[k] = min(e, left)
            left -= filled[k]


def _walk_steps(bids: _SideBook, offers: _SideBook, filled: list[Wh]) -> list[tuple[int, int, Wh]]:
    """The walk's pairs as (bid position, offer position, Wh), in walk order.

    Replays the walk over the filled Wh alone: the filled orders are a prefix of each ranking
    and both prefixes hold the same Wh, so each step pairs q = min(remaining) and the walk
    ends exactly when both are used up.
    """
    ranked_bids = bids.ranked()
    ranked_offers = offers.ranked()
    steps: list[tuple[int, int, Wh]] = []
    i = j = 0
    rest_bid = filled[ranked_bids[0]]
    rest_offer = filled[ranked_offers[0]]
    while rest_bid and rest_offer:
        b, a = ranked_bids[i], ranked_offers[j]
        q = min(rest_bid, rest_offer)
        steps.append((b, a, q))
        rest_bid -= q
        rest_offer -= q
        if rest_bid == 0:
            i += 1
            rest_bid = filled[ranked_bids[i]] if i < len(ranked_bids) else 0
        if rest_offer == 0:
            j += 1
            rest_offer = filled[ranked_offers[j]] if j < len(ranked_offers) else 0
    return steps


def _clear_community(
    book: _Book, bids: _SideBook, offers: _SideBook, community_price: Price
) -> Clearing:
    """Community: every eligible order trades at `pc` with the aggregator, pro rata per side."""
    eligible_bids = [
        (k, e)
        for k, p, e in zip(bids.positions, bids.prices, bids.energy, strict=True)
        if p >= community_price
    ]
    eligible_offers = [
        (k, e)
        for k, p, e in zip(offers.positions, offers.prices, offers.energy, strict=True)
        if p <= community_price
    ]
    volume = min(sum(e for _, e in eligible_bids), sum(e for _, e in eligible_offers))
    filled = [0] * len(book.ids)
    _pro_rata(eligible_bids, volume, filled)
    _pro_rata(eligible_offers, volume, filled)
    return Clearing(
        Mode.COMMUNITY,
        community_price,
        volume,
        book.fills(filled, list(map(mul, filled, repeat(community_price)))),
        (),
    )


def _pro_rata(eligible: list[tuple[int, Wh]], volume: Wh, filled: list[Wh]) -> None:
    """Share `volume` over one side's eligible (position, Wh), given in ascending id order.

    Each order gets floor(q * V / T); the L Wh left over go one each to the first L orders.
    The rulebook says to skip full orders (and so, implicitly, to go round again), but
    neither can happen. Each floor drops less than 1 Wh, so L < the number of orders and one
    round suffices. If V < T, floor(q * V / T) <= q * V / T < q, so no order is full before
    its extra Wh and none exceeds q after it; if V == T every share is exact and L == 0.
    """
    if volume == 0:
        return
    total = sum(e for _, e in eligible)
    for k, e in eligible:
        filled[k] = e * volume // total
    leftover = volume - sum(filled[k] for k, _ in eligible)
    for k, _ in eligible[:leftover]:
        filled[k] += 1
