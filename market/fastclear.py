"""Clearing a slot's book given as numpy columns: the same results as `market.clearing.clear`,
bit for bit, in a fraction of its time on big books.

`market.clearing.clear` stays the rulebook's reference: it is what the rulebook's text is tested
against, and this core is tested against it (tests/market/test_market_fastclear.py) in every mode
on generated books. The book comes as four equal-length integer columns (numpy arrays; int64 is
taken as is, other integer types that fit are converted): order ids, sides (`BUY` 0 or `SELL` 1,
the order word's side bit), energy in Wh and limit prices in n€/Wh, in any order. No `Order`
object is built: turning a million of them into columns costs more than clearing the columns.
Ids must fit int64, which a direct order's id does but a signed intent's (its 256-bit struct
hash) does not.

Everything is int64 and stays exact within these bounds, checked before any product or sum
could overflow (ValueError beyond them; `clear` has none, its integers are Python's):

* the number of orders × the largest order's Wh < 2**63, so that a side's Wh summed fits;
* uniform: the largest fill × the clearing price < 2**63; pay-as-bid: the largest fill × the
  best bid's limit < 2**63 (an offer's amount is at most its fill times the highest bid limit
  it pairs with); community: the largest eligible order's Wh × the volume < 2**63 (the pro
  rata share's numerator) and the largest fill × `pc` < 2**63; `pc` itself must fit int64.

On-chain order words hold 40-bit Wh and prices, so a book of fewer than 8 million orders is
inside the first bound; at 0.25 €/kWh a fill may be up to 36 TWh, and any community book with
less than 3 GWh eligible on a side is inside the pro rata bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from market.clearing import Mode, check_community_price
from market.orders import InvalidOrderError, Order, Side
from market.units import Price, Wh

BUY = 0
SELL = 1
_INT64_MAX = int(np.iinfo(np.int64).max)

Column: TypeAlias = NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class ColumnPairs:
    """Pay-as-bid's pairs in walk order, as columns: `energy_wh` traded between `buy_ids` and
    `sell_ids` at `prices` (the bid's limit)."""

    buy_ids: Column
    sell_ids: Column
    energy_wh: Column
    prices: Column


@dataclass(frozen=True, slots=True, eq=False)
class ColumnClearing:
    """The result of `clear_columns`, as `market.clearing.Clearing` gives it but in columns.

    `ids` is the book's ids ascending; `sides`, `filled_wh` and `amounts` (n€, what the buyer
    pays or the seller receives) are aligned with it, unfilled orders included. `clearing_price`
    and `volume_wh` are as in `Clearing`. `pairs` is listed in pay-as-bid mode only, where it
    sets the amounts; in uniform mode (where `clear` lists its pairs only when read) and in
    community mode it is empty.
    """

    mode: Mode
    clearing_price: Price | None
    volume_wh: Wh
    ids: Column
    sides: Column
    filled_wh: Column
    amounts: Column
    pairs: ColumnPairs


def columns_of(orders: Sequence[Order]) -> tuple[Column, Column, Column, Column]:
    """`orders` as the core takes them (ids, sides, Wh, limits), in their order: what a caller
    holding `Order` objects pays before clearing (a million take longer than the clearing)."""
    return (
        np.array([o.id for o in orders], dtype=np.int64),
        np.array([BUY if o.side is Side.BUY else SELL for o in orders], dtype=np.int64),
        np.array([o.energy_wh for o in orders], dtype=np.int64),
        np.array([o.price for o in orders], dtype=np.int64),
    )


def clear_columns(
    ids: ArrayLike,
    sides: ArrayLike,
    energy_wh: ArrayLike,
    prices: ArrayLike,
    mode: Mode,
    community_price: Price | None = None,
) -> ColumnClearing:
    """Clear one slot's book, given as columns, by the rulebook: the same price, volume, fills,
    amounts and (pay-as-bid) pairs as `market.clearing.clear` on the same orders.

    Raises InvalidOrderError for an order `market.orders.Order` would reject (negative id or
    price, non-positive Wh, a side other than 0 or 1) and for duplicate ids, and ValueError for
    columns that are not 1-D integer arrays of one length, a bad `community_price`, or a book
    beyond the int64 bounds in the module's docstring.
    """
    check_community_price(mode, community_price)
    book = _Columns.of(ids, sides, energy_wh, prices)
    if mode is Mode.COMMUNITY:
        assert community_price is not None  # checked above
        return _clear_community(book, community_price)
    return _clear_walk(book, mode)


def _column(name: str, values: ArrayLike) -> Column:
    column = np.asarray(values)
    if column.ndim != 1 or column.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a 1-D integer array, got {column.dtype} {column.shape}")
    try:
        return column.astype(np.int64, casting="safe", copy=False)
    except TypeError:  # uint64: values may not fit
        raise ValueError(f"{name} must fit int64, got {column.dtype}") from None


def _first_id(ids: Column, bad: NDArray[np.bool_]) -> int:
    return int(ids[np.flatnonzero(bad)[0]])


@dataclass(frozen=True, slots=True)
class _Columns:
    """The validated book; position k is the k-th order in ascending id order."""

    ids: Column
    sides: Column
    buy: NDArray[np.bool_]
    energy: Column
    prices: Column

    @classmethod
    def of(
        cls, ids: ArrayLike, sides: ArrayLike, energy_wh: ArrayLike, prices: ArrayLike
    ) -> _Columns:
        columns = [
            _column(name, values)
            for name, values in (
                ("ids", ids),
                ("sides", sides),
                ("energy_wh", energy_wh),
                ("prices", prices),
            )
        ]
        if len({len(c) for c in columns}) > 1:
            raise ValueError(f"columns of different lengths: {[len(c) for c in columns]}")
        i, s, e, p = columns
        if (i < 0).any():
            bad = _first_id(i, i < 0)
            raise InvalidOrderError(None, f"id must be a non-negative integer, got {bad}")
        if ((s != BUY) & (s != SELL)).any():
            raise InvalidOrderError(_first_id(i, (s != BUY) & (s != SELL)), "side must be 0 or 1")
        if (e <= 0).any():
            raise InvalidOrderError(_first_id(i, e <= 0), "energy_wh must be a positive integer")
        if (p < 0).any():
            raise InvalidOrderError(_first_id(i, p < 0), "price must be a non-negative integer")
        if len(e) and int(e.max()) * len(e) > _INT64_MAX:
            raise ValueError("the book's Wh may not fit int64: count × largest order >= 2**63")
        # A book from the chain comes in id order: one comparison pass then proves there is
        # nothing to sort and no duplicate.
        if len(i) > 1 and not (i[1:] > i[:-1]).all():
            order = np.argsort(i, kind="stable")
            i, s, e, p = i[order], s[order], e[order], p[order]
            same = np.flatnonzero(i[1:] == i[:-1])
            if len(same):
                raise InvalidOrderError(int(i[same[0]]), "duplicate id")
        return cls(i, s, s == BUY, e, p)

    def result(
        self,
        mode: Mode,
        price: Price | None,
        volume: Wh,
        filled: Column,
        amounts: Column,
        pairs: ColumnPairs | None = None,
    ) -> ColumnClearing:
        no_pairs = np.zeros(0, dtype=np.int64)
        return ColumnClearing(
            mode,
            price,
            volume,
            self.ids,
            self.sides,
            filled,
            amounts,
            pairs if pairs is not None else ColumnPairs(no_pairs, no_pairs, no_pairs, no_pairs),
        )


def _check_product(what: str, a: int, b: int) -> None:
    if a * b > _INT64_MAX:
        raise ValueError(f"{what} may not fit int64: {a} × {b} >= 2**63")


def _clear_walk(book: _Columns, mode: Mode) -> ColumnClearing:
    """Uniform and pay-as-bid: the rulebook's walk, as `clear` computes it (`_walk_end`,
    `_fill_walk`, `_walk_steps`), without sorting the book."""
    nothing = np.zeros(len(book.ids), dtype=np.int64)
    end = _walk_end(book)
    if end is None:  # no pair formed: no trades and no clearing price
        return book.result(mode, None, 0, nothing, nothing)
    volume, bid_limit, offer_limit = end
    # Orders with a better limit than their side's order in the last pair are full; the orders
    # at that limit share the rest in id order (the ranking's tie-break), as in `_fill_walk`.
    filled = np.where(
        book.buy & (book.prices > bid_limit) | ~book.buy & (book.prices < offer_limit),
        book.energy,
        0,
    )
    for side, limit in ((book.buy, bid_limit), (~book.buy, offer_limit)):
        at = np.flatnonzero(side & (book.prices == limit))
        rest = volume - int(filled.sum(where=side))
        energy = book.energy[at]
        filled[at] = np.clip(rest - (np.cumsum(energy) - energy), 0, energy)
    largest = int(filled.max())

    if mode is Mode.UNIFORM:
        price = (bid_limit + offer_limit) // 2  # (b* + a*) // 2
        _check_product("an amount", largest, price)
        return book.result(mode, price, volume, filled, filled * price)

    # Pay-as-bid: each pair trades at its bid's limit. The walk pairs the filled prefixes of
    # both rankings Wh by Wh, so its pairs are the pieces between consecutive ends of filled
    # orders on either side (`_walk_steps` replays the same walk pair by pair).
    bids = _ranked(book, book.buy & (filled > 0), descending=True)
    offers = _ranked(book, ~book.buy & (filled > 0), descending=False)
    bid_prices = book.prices[bids]
    _check_product("an amount", largest, int(bid_prices[0]))
    bid_ends, offer_ends = np.cumsum(filled[bids]), np.cumsum(filled[offers])
    # Both end at the volume; merging two sorted runs is what a stable sort does fastest.
    ends = np.sort(np.concatenate([bid_ends, offer_ends]), kind="stable")
    ends = ends[np.diff(ends, prepend=0) != 0]
    energy = np.diff(ends, prepend=0)
    pair_bid = np.searchsorted(bid_ends, ends)  # the order whose Wh hold the piece's end
    pair_offer = np.searchsorted(offer_ends, ends)
    pair_prices = bid_prices[pair_bid]
    amounts = nothing.copy()
    amounts[bids] = filled[bids] * bid_prices
    # Every filled offer has at least one pair and the pairs go through the offers in ranking
    # order, so each offer's amount is the sum over one run of pairs.
    runs = np.flatnonzero(np.diff(pair_offer, prepend=-1))
    amounts[offers] = np.add.reduceat(energy * pair_prices, runs)
    pairs = ColumnPairs(book.ids[bids[pair_bid]], book.ids[offers[pair_offer]], energy, pair_prices)
    return book.result(mode, None, volume, filled, amounts, pairs)


def _ranked(book: _Columns, mask: NDArray[np.bool_], *, descending: bool) -> Column:
    """The positions in `mask`, by limit (descending for bids), ties by id: positions are in id
    order and the sort is stable. Prices are >= 0, so negating them cannot overflow."""
    positions = np.flatnonzero(mask)
    prices = book.prices[positions]
    return positions[np.argsort(-prices if descending else prices, kind="stable")]


def _walk_end(book: _Columns) -> tuple[Wh, Price, Price] | None:
    """(V, b*, a*): the Wh the walk pairs and the limits of the bid and the offer in its last
    pair, or None if it forms no pair. `clear`'s `_walk_end` explains the aggregate curves
    D(t) and S(t), t0 and why V = max(S(t0), D(t0 + 1))."""
    bid_prices, offer_prices = book.prices[book.buy], book.prices[~book.buy]
    if not len(bid_prices) or not len(offer_prices):
        return None
    best_bid, best_offer = int(bid_prices.max()), int(offer_prices.min())
    if best_bid < best_offer:
        return None
    t0, supply, demand_above = _crossing(
        bid_prices,
        book.energy[book.buy],
        offer_prices,
        book.energy[~book.buy],
        best_offer - 1,
        best_bid + 1,
    )
    volume = max(supply, demand_above)
    bid_limit = int(bid_prices[bid_prices > t0].min()) if demand_above == volume else t0
    offer_limit = int(offer_prices[offer_prices <= t0].max()) if supply == volume else t0 + 1
    return volume, bid_limit, offer_limit


def _crossing(
    bid_prices: Column,
    bid_energy: Column,
    offer_prices: Column,
    offer_energy: Column,
    low: Price,
    high: Price,
) -> tuple[Price, Wh, Wh]:
    """(t0, S(t0), D(t0 + 1)) where t0 is the highest price t with D(t) >= S(t), given `low`
    and `high` with S(low) == 0 and D(high) == 0 < S(high): `clear`'s `_crossing`, a search
    that splits at about the median limit left and sets aside the orders that can no longer
    change D or S between the bounds, so the work halves every round."""
    demand_high = 0
    supply_low = 0
    while high - low > 1:
        t = _median_limit(bid_prices, offer_prices, low, high)
        bid_in = bid_prices >= t
        offer_in = offer_prices <= t
        demand = demand_high + int(bid_energy.sum(where=bid_in))
        supply = supply_low + int(offer_energy.sum(where=offer_in))
        if demand >= supply:
            low, supply_low = t, supply
            keep_bids, keep_offers = bid_in, ~offer_in
        else:
            high, demand_high = t, demand
            keep_bids, keep_offers = ~bid_in, offer_in
        bid_prices, bid_energy = bid_prices[keep_bids], bid_energy[keep_bids]
        offer_prices, offer_energy = offer_prices[keep_offers], offer_energy[keep_offers]
    return low, supply_low, demand_high


def _median_limit(bid_prices: Column, offer_prices: Column, low: Price, high: Price) -> Price:
    """About the median of the limits left (from a sample of them), kept strictly between
    `low` and `high` so that every round narrows the search."""
    step = max(1, (len(bid_prices) + len(offer_prices)) // 64)
    sample = np.sort(np.concatenate([bid_prices[::step], offer_prices[::step]]))
    pivot = int(sample[len(sample) // 2]) if len(sample) else (low + high) // 2
    return min(max(pivot, low + 1), high - 1)


def _clear_community(book: _Columns, community_price: Price) -> ColumnClearing:
    """Community: every eligible order trades at `pc` with the aggregator, pro rata per side
    (`clear`'s `_clear_community` and `_pro_rata`)."""
    if community_price > _INT64_MAX:
        raise ValueError(f"community_price must fit int64, got {community_price}")
    bids = np.flatnonzero(book.buy & (book.prices >= community_price))
    offers = np.flatnonzero(~book.buy & (book.prices <= community_price))
    demand, supply = int(book.energy[bids].sum()), int(book.energy[offers].sum())
    volume = min(demand, supply)
    filled = np.zeros(len(book.ids), dtype=np.int64)
    if volume:
        for eligible, total in ((bids, demand), (offers, supply)):
            energy = book.energy[eligible]
            _check_product("a pro rata share's numerator", int(energy.max()), volume)
            share = energy * volume // total
            # The Wh left over go one each to the first orders in id order (fewer than there
            # are orders: each floor drops less than 1 Wh).
            share[: volume - int(share.sum())] += 1
            filled[eligible] = share
        _check_product("an amount", int(filled.max()), community_price)
    return book.result(Mode.COMMUNITY, community_price, volume, filled, filled * community_price)
