"""The numpy clearing core on columns against the rulebook's reference `market.clearing.clear`:
the same price, volume, fills, amounts and pay-as-bid pairs, bit for bit, in every mode."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.clearing import Mode, clear
from market.fastclear import BUY, SELL, ColumnClearing, clear_columns, columns_of
from market.orders import InvalidOrderError, Order, Side

# About 5 s for the property below on this machine.
PROPERTY = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INT64_MAX = 2**63 - 1
SIDE_OF = {BUY: Side.BUY, SELL: Side.SELL}


def order(order_id: int, side: str, energy_wh: int, price: int) -> Order:
    return Order(order_id, Side(side), energy_wh, price, owner=f"0x{order_id:040x}")


def pc_for(mode: Mode, pc: int) -> int | None:
    return pc if mode is Mode.COMMUNITY else None


def assert_same(book: list[Order], mode: Mode, pc: int | None = None) -> ColumnClearing:
    """The core's result on `book`'s columns equals `clear(book)` in every figure."""
    expected = clear(book, mode, pc)
    result = clear_columns(*columns_of(book), mode, pc)
    assert result.mode is mode
    assert result.clearing_price == expected.clearing_price
    assert type(result.clearing_price) is type(expected.clearing_price)
    assert result.volume_wh == expected.volume_wh
    assert type(result.volume_wh) is int
    assert result.ids.tolist() == list(expected.fills)
    got = zip(
        result.sides.tolist(), result.filled_wh.tolist(), result.amounts.tolist(), strict=True
    )
    assert [(SIDE_OF[s], f, a) for s, f, a in got] == [
        (f.side, f.filled_wh, f.amount) for f in expected.fills.values()
    ]
    pairs = result.pairs
    got_pairs = zip(
        pairs.buy_ids.tolist(),
        pairs.sell_ids.tolist(),
        pairs.energy_wh.tolist(),
        pairs.prices.tolist(),
        strict=True,
    )
    if mode is Mode.PAY_AS_BID:
        assert list(got_pairs) == [
            (p.buy_id, p.sell_id, p.energy_wh, p.price) for p in expected.pairs
        ]
    else:
        assert list(got_pairs) == []
    return result


@st.composite
def column_books(draw: Callable[[st.SearchStrategy[Any]], Any]) -> list[Order]:
    """Books with distinct ids in random order (small or up to int64's top); crowded limits
    (ties within and across sides) or wide ones, bids often above offers or not; sometimes one
    side only; Wh and limits up to 2**40 (an order word's bound), which may take amounts beyond
    int64."""
    n = draw(st.integers(0, 30))
    id_top = draw(st.sampled_from([n + 5, INT64_MAX]))
    ids = draw(st.lists(st.integers(0, id_top), min_size=n, max_size=n, unique=True))
    top = draw(st.sampled_from([2, 60, 2**31, 2**40]))
    crossing = draw(st.booleans())  # bids from the upper two thirds, offers from the lower
    limits = {
        Side.BUY: st.integers(top // 3 if crossing else 0, top),
        Side.SELL: st.integers(0, top - top // 3 if crossing else top),
    }
    energy = st.integers(1, draw(st.sampled_from([3, 40, 2**31, 2**40])))
    sides = draw(st.sampled_from([list(Side)] * 4 + [[Side.BUY], [Side.SELL]]))
    book = []
    for order_id in ids:
        side = draw(st.sampled_from(sides))
        book.append(order(order_id, side.value, draw(energy), draw(limits[side])))
    return book


def fits_int64(book: list[Order], mode: Mode, pc: int | None) -> bool:
    """Whether `book` is within the core's int64 bounds (market/fastclear.py's docstring)."""
    expected = clear(book, mode, pc)
    fills = [f.filled_wh for f in expected.fills.values()]
    largest = max(fills, default=0)
    bids = [o.price for o in book if o.side is Side.BUY]
    if mode is Mode.UNIFORM:
        products = [largest * (expected.clearing_price or 0)]
    elif mode is Mode.PAY_AS_BID:
        products = [largest * max(bids, default=0)]
    else:
        assert pc is not None
        eligible = [
            o.energy_wh for o in book if (o.price >= pc if o.side is Side.BUY else o.price <= pc)
        ]
        products = [max(eligible, default=0) * expected.volume_wh, largest * pc]
    products.append(len(book) * max((o.energy_wh for o in book), default=0))
    return max(products) <= INT64_MAX


@PROPERTY
@given(column_books(), st.sampled_from(list(Mode)), st.integers(0, 61), st.data())
def test_the_core_equals_the_reference(
    book: list[Order], mode: Mode, pc: int, data: st.DataObject
) -> None:
    prices = [o.price for o in book]
    wide = data.draw(st.booleans())
    if wide and prices:  # a community price among wide limits, too
        pc = data.draw(st.integers(min(prices), max(prices)))
    if fits_int64(book, mode, pc_for(mode, pc)):
        assert_same(book, mode, pc_for(mode, pc))
    else:
        with pytest.raises(ValueError, match="may not fit int64"):
            clear_columns(*columns_of(book), mode, pc_for(mode, pc))


# The rulebook's example: bids #1, #2 and offers #3, #4.
EXAMPLE = [
    order(1, "buy", 3000, 300000),
    order(2, "buy", 2000, 220000),
    order(3, "sell", 2500, 150000),
    order(4, "sell", 2000, 240000),
]


def test_rulebook_example_in_every_mode() -> None:
    uniform = assert_same(EXAMPLE, Mode.UNIFORM)
    assert uniform.clearing_price == 270000
    assert uniform.filled_wh.tolist() == [3000, 0, 2500, 500]
    assert uniform.amounts.tolist() == [810000000, 0, 675000000, 135000000]
    pay_as_bid = assert_same(EXAMPLE, Mode.PAY_AS_BID)
    assert pay_as_bid.amounts.tolist() == [900000000, 0, 750000000, 150000000]
    assert pay_as_bid.pairs.energy_wh.tolist() == [2500, 500]
    assert pay_as_bid.pairs.prices.tolist() == [300000, 300000]
    community = assert_same(EXAMPLE, Mode.COMMUNITY, 240000)
    assert community.clearing_price == 240000


@pytest.mark.parametrize("mode", list(Mode))
def test_a_big_book_in_id_order_and_shuffled(mode: Mode) -> None:
    """20,000 orders shaped like the benchmark's book (about half crossing)."""
    rng = random.Random(7)
    book = [
        order(
            i + 1,
            "buy" if i % 2 else "sell",
            rng.randint(100, 5000),
            rng.randint(170000, 300000) if i % 2 else rng.randint(80000, 210000),
        )
        for i in range(20_000)
    ]
    pc = pc_for(mode, 190000)
    assert assert_same(book, mode, pc).volume_wh > 0
    rng.shuffle(book)
    assert_same(book, mode, pc)


@pytest.mark.parametrize("mode", [Mode.UNIFORM, Mode.PAY_AS_BID])
@pytest.mark.parametrize(
    "book",
    [
        [],
        [order(1, "buy", 5, 100)],
        [order(1, "buy", 5, 99), order(2, "sell", 5, 100)],  # nothing crosses
        [order(9, "sell", 5, 100), order(3, "buy", 5, 100)],  # equal limits cross
    ],
)
def test_books_with_nothing_or_little_to_clear(book: list[Order], mode: Mode) -> None:
    assert_same(book, mode)


def test_duplicate_ids_raise_like_the_reference() -> None:
    book = [order(7, "buy", 1, 1), order(4, "sell", 1, 1), order(4, "buy", 2, 2)]
    book += [order(7, "sell", 1, 1)]
    with pytest.raises(InvalidOrderError) as expected:
        clear(book, Mode.UNIFORM)
    with pytest.raises(InvalidOrderError) as raised:
        clear_columns(*columns_of(book), Mode.UNIFORM)
    assert raised.value.order_id == expected.value.order_id == 4
    assert raised.value.message == expected.value.message == "duplicate id"


@pytest.mark.parametrize(
    ("column", "value", "order_id"),
    [(0, -1, None), (1, 2, 5), (2, 0, 5), (3, -1, 5)],
)
def test_orders_the_reference_could_not_hold_are_rejected(
    column: int, value: int, order_id: int | None
) -> None:
    cols = columns_of([order(3, "buy", 1, 1), order(5, "sell", 1, 1)])
    cols[column][1] = value
    with pytest.raises(InvalidOrderError) as raised:
        clear_columns(*cols, Mode.UNIFORM)
    assert raised.value.order_id == order_id


def test_columns_must_be_integers_of_one_length() -> None:
    ids, sides, energy, prices = columns_of(EXAMPLE)
    with pytest.raises(ValueError, match="different lengths"):
        clear_columns(ids, sides, energy[:3], prices, Mode.UNIFORM)
    with pytest.raises(ValueError, match="integer"):
        clear_columns(ids, sides, energy.astype(np.float64), prices, Mode.UNIFORM)
    with pytest.raises(ValueError, match="fit int64"):
        clear_columns(ids.astype(np.uint64), sides, energy, prices, Mode.UNIFORM)
    narrow = clear_columns(
        ids.astype(np.int32), sides.astype(np.uint8), energy, prices, Mode.UNIFORM
    )
    assert narrow.volume_wh == 3000


def test_community_price_is_checked_like_the_reference() -> None:
    cols = columns_of(EXAMPLE)
    with pytest.raises(ValueError, match="needs a community_price"):
        clear_columns(*cols, Mode.COMMUNITY)
    with pytest.raises(ValueError, match="only used in community mode"):
        clear_columns(*cols, Mode.UNIFORM, 240000)
    with pytest.raises(ValueError, match="fit int64"):
        clear_columns(*cols, Mode.COMMUNITY, 2**63)


@pytest.mark.parametrize("mode", list(Mode))
def test_amounts_beyond_int64_raise_instead_of_wrapping(mode: Mode) -> None:
    """The reference's Python ints have no bound: 2**40 Wh at 2**40 n€/Wh is 2**80 n€."""
    book = [order(1, "buy", 2**40, 2**40), order(2, "sell", 2**40, 2**40)]
    pc = pc_for(mode, 2**40)
    assert clear(book, mode, pc).fills[1].amount == 2**80
    with pytest.raises(ValueError, match="may not fit int64"):
        clear_columns(*columns_of(book), mode, pc)


def test_a_book_whose_wh_may_not_sum_in_int64_is_refused() -> None:
    book = [order(i, "buy" if i % 2 else "sell", 2**62, 1) for i in range(4)]
    with pytest.raises(ValueError, match="may not fit int64"):
        clear_columns(*columns_of(book), Mode.UNIFORM)
