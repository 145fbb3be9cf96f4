"""Clearing by example: the rulebook's worked example in every mode, and edge cases."""

from __future__ import annotations

import random

import pytest
from market_reference import reference_community, reference_walk

from market.clearing import Clearing, Fill, Mode, Pair, clear
from market.orders import InvalidOrderError, Order, Side
from market.verify import verify


def order(order_id: int, side: str, energy_wh: int, price: int) -> Order:
    return Order(order_id, Side(side), energy_wh, price, owner=f"0x{order_id:040x}")


# The rulebook's example: bids #1, #2 and offers #3, #4.
EXAMPLE = [
    order(1, "buy", 3000, 300000),
    order(2, "buy", 2000, 220000),
    order(3, "sell", 2500, 150000),
    order(4, "sell", 2000, 240000),
]


def fills(clearing: Clearing) -> dict[int, tuple[int, int]]:
    return {k: (f.filled_wh, f.amount) for k, f in clearing.fills.items()}


def test_rulebook_example_uniform() -> None:
    result = clear(EXAMPLE, Mode.UNIFORM)
    assert result.pairs == (Pair(1, 3, 2500, 270000), Pair(1, 4, 500, 270000))
    assert result.clearing_price == 270000  # floor((300000 + 240000) / 2)
    assert result.volume_wh == 3000
    assert fills(result) == {
        1: (3000, 810000000),  # 0.81 €
        2: (0, 0),
        3: (2500, 675000000),
        4: (500, 135000000),  # 1500 Wh of #4 left unfilled
    }
    assert result.fills[1] == Fill(1, Side.BUY, 3000, 810000000)
    assert result.fills[4].side is Side.SELL


def test_rulebook_example_pay_as_bid() -> None:
    result = clear(EXAMPLE, Mode.PAY_AS_BID)
    # Same walk, each pair at bid #1's limit 300000.
    assert result.pairs == (Pair(1, 3, 2500, 300000), Pair(1, 4, 500, 300000))
    assert result.clearing_price is None
    assert result.volume_wh == 3000
    assert fills(result) == {
        1: (3000, 900000000),
        2: (0, 0),
        3: (2500, 750000000),
        4: (500, 150000000),
    }


def test_rulebook_example_community() -> None:
    # pc = 240000: eligible bids #1 (D = 3000), eligible offers #3, #4 (S = 4500), V = 3000.
    # Offers: #3 floor(2500 * 3000 / 4500) = 1666, #4 floor(2000 * 3000 / 4500) = 1333;
    # the 1 Wh left over goes to the lowest id, #3.
    result = clear(EXAMPLE, Mode.COMMUNITY, community_price=240000)
    assert result.clearing_price == 240000
    assert result.volume_wh == 3000
    assert result.pairs == ()
    assert fills(result) == {
        1: (3000, 720000000),
        2: (0, 0),  # 220000 < pc: not eligible
        3: (1667, 400080000),
        4: (1333, 319920000),
    }


def test_community_price_stands_without_trades() -> None:
    result = clear([order(1, "buy", 10, 100), order(2, "sell", 10, 300)], Mode.COMMUNITY, 200)
    assert result.clearing_price == 200
    assert result.volume_wh == 0
    assert fills(result) == {1: (0, 0), 2: (0, 0)}


def test_community_leftover_goes_to_lowest_ids() -> None:
    # Bids want 10 Wh in all; three offers of 7 Wh (S = 21): each share is floor(70/21) = 3,
    # 1 Wh is left over, for the lowest id (5 before 8 before 9).
    book = [order(1, "buy", 10, 50), order(9, "sell", 7, 40), order(5, "sell", 7, 40)]
    book.append(order(8, "sell", 7, 40))
    result = clear(book, Mode.COMMUNITY, 45)
    assert fills(result) == {1: (10, 450), 5: (4, 180), 8: (3, 135), 9: (3, 135)}

    # Three bids of 1 Wh share 2 Wh: shares are 0, leftover 2 for ids 2 and 3.
    book = [order(4, "buy", 1, 50), order(2, "buy", 1, 50), order(3, "buy", 1, 50)]
    book.append(order(7, "sell", 2, 10))
    result = clear(book, Mode.COMMUNITY, 30)
    assert fills(result) == {2: (1, 30), 3: (1, 30), 4: (0, 0), 7: (2, 60)}


@pytest.mark.parametrize("mode", [Mode.UNIFORM, Mode.PAY_AS_BID])
def test_no_crossing_means_no_trade_and_no_price(mode: Mode) -> None:
    result = clear([order(1, "buy", 100, 199), order(2, "sell", 100, 200)], mode)
    assert result.clearing_price is None
    assert result.volume_wh == 0
    assert result.pairs == ()
    assert fills(result) == {1: (0, 0), 2: (0, 0)}


@pytest.mark.parametrize("mode", [Mode.UNIFORM, Mode.PAY_AS_BID])
@pytest.mark.parametrize(
    "book",
    [[], [order(1, "buy", 5, 10)], [order(1, "sell", 5, 10), order(2, "sell", 5, 1)]],
)
def test_one_sided_books_do_not_trade(mode: Mode, book: list[Order]) -> None:
    result = clear(book, mode)
    assert (result.clearing_price, result.volume_wh, result.pairs) == (None, 0, ())
    assert set(result.fills) == {o.id for o in book}


def test_equal_limits_trade_at_that_limit() -> None:
    result = clear([order(1, "buy", 5, 100), order(2, "sell", 5, 100)], Mode.UNIFORM)
    assert result.clearing_price == 100
    assert fills(result) == {1: (5, 500), 2: (5, 500)}


def test_midpoint_is_floored() -> None:
    result = clear([order(1, "buy", 5, 101), order(2, "sell", 5, 100)], Mode.UNIFORM)
    assert result.clearing_price == 100


def test_ties_go_to_the_lower_id() -> None:
    book = [
        order(7, "buy", 10, 500),
        order(3, "buy", 10, 500),
        order(5, "buy", 10, 500),
        order(9, "sell", 15, 400),
    ]
    result = clear(book, Mode.UNIFORM)
    assert fills(result) == {3: (10, 4500), 5: (5, 2250), 7: (0, 0), 9: (15, 6750)}
    assert result.pairs == (Pair(3, 9, 10, 450), Pair(5, 9, 5, 450))


def test_price_comes_from_the_last_pair_not_the_best_orders() -> None:
    # Bid 10 fills from two offers; the last pair is (10, 21): p = floor((90 + 60) / 2).
    book = [order(10, "buy", 8, 90), order(20, "sell", 5, 10), order(21, "sell", 5, 60)]
    result = clear(book, Mode.UNIFORM)
    assert result.clearing_price == 75
    assert result.pairs == (Pair(10, 20, 5, 75), Pair(10, 21, 3, 75))


def test_walk_stops_when_a_side_runs_out() -> None:
    # Offers run out first; the last pair is (1, 2): b* = 90, a* = 20.
    book = [order(1, "buy", 50, 90), order(3, "buy", 50, 30), order(2, "sell", 10, 20)]
    result = clear(book, Mode.UNIFORM)
    assert result.clearing_price == 55
    assert fills(result) == {1: (10, 550), 2: (10, 550), 3: (0, 0)}


def test_pay_as_bid_seller_is_paid_each_bids_limit() -> None:
    book = [order(1, "buy", 4, 90), order(2, "buy", 4, 70), order(3, "sell", 6, 50)]
    result = clear(book, Mode.PAY_AS_BID)
    assert result.pairs == (Pair(1, 3, 4, 90), Pair(2, 3, 2, 70))
    assert fills(result) == {1: (4, 360), 2: (2, 140), 3: (6, 500)}


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(InvalidOrderError, match="order 4: duplicate id") as caught:
        clear([order(4, "buy", 1, 1), order(4, "sell", 1, 1)], Mode.UNIFORM)
    assert caught.value.order_id == 4


def test_community_price_is_required_in_community_mode_only() -> None:
    with pytest.raises(ValueError, match="needs a community_price"):
        clear(EXAMPLE, Mode.COMMUNITY)
    with pytest.raises(ValueError, match="only used in community mode"):
        clear(EXAMPLE, Mode.UNIFORM, community_price=240000)
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="non-negative integer"):
            clear(EXAMPLE, Mode.COMMUNITY, community_price=bad)  # type: ignore[arg-type]


def test_fills_mapping_behaves_like_a_dict() -> None:
    result = clear(EXAMPLE, Mode.UNIFORM)
    assert list(result.fills) == [1, 2, 3, 4]
    assert len(result.fills) == 4
    assert 5 not in result.fills
    assert "1" not in result.fills  # type: ignore[comparison-overlap]  # a str key, on purpose
    with pytest.raises(KeyError):
        result.fills[5]
    assert result.fills == {k: result.fills[k] for k in (4, 3, 2, 1)}


def test_clearings_compare_equal_to_hand_built_ones() -> None:
    result = clear(EXAMPLE, Mode.UNIFORM)
    by_hand = Clearing(
        Mode.UNIFORM,
        270000,
        3000,
        {
            1: Fill(1, Side.BUY, 3000, 810000000),
            2: Fill(2, Side.BUY, 0, 0),
            3: Fill(3, Side.SELL, 2500, 675000000),
            4: Fill(4, Side.SELL, 500, 135000000),
        },
        (Pair(1, 3, 2500, 270000), Pair(1, 4, 500, 270000)),
    )
    assert result == by_hand
    assert by_hand == result
    assert result.pairs[1:] == (Pair(1, 4, 500, 270000),)


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_large_random_books_match_the_literal_rulebook(mode: Mode, seed: int) -> None:
    """Thousands of orders with many price ties, against the step-by-step rulebook."""
    rng = random.Random(seed)
    levels = [rng.randint(50000, 350000) for _ in range(rng.choice([5, 300, 5000]))]
    ids = rng.sample(range(100000), 6000)
    book = [
        order(i, rng.choice(["buy", "sell"]), rng.randint(1, 10000), rng.choice(levels))
        for i in ids
    ]
    pc = rng.choice(levels)
    if mode is Mode.COMMUNITY:
        expected = reference_community(book, pc)
        result = clear(book, mode, pc)
    else:
        expected = reference_walk(book, pay_as_bid=mode is Mode.PAY_AS_BID)
        result = clear(book, mode)
    assert result.clearing_price == expected.clearing_price
    assert result.volume_wh == expected.volume_wh
    assert fills(result) == expected.fills
    assert [(p.buy_id, p.sell_id, p.energy_wh, p.price) for p in result.pairs] == expected.pairs
    assert verify(book, result, pc if mode is Mode.COMMUNITY else None) == []


@pytest.mark.parametrize(
    "prices",
    [(300000, 50000), (10**12, 0), (0, 10**12), (7, 7), (10**30, 10**30 - 1)],
    ids=["two-levels", "far-apart", "never-cross", "one-level", "huge"],
)
@pytest.mark.parametrize("mode", [Mode.UNIFORM, Mode.PAY_AS_BID])
def test_clustered_and_extreme_prices(prices: tuple[int, int], mode: Mode) -> None:
    bid_price, offer_price = prices
    rng = random.Random(7)
    book = [
        order(
            i, "buy" if i % 3 else "sell", rng.randint(1, 50), bid_price if i % 3 else offer_price
        )
        for i in range(3000)
    ]
    expected = reference_walk(book, pay_as_bid=mode is Mode.PAY_AS_BID)
    result = clear(book, mode)
    assert (result.clearing_price, result.volume_wh) == (
        expected.clearing_price,
        expected.volume_wh,
    )
    assert fills(result) == expected.fills
    assert verify(book, result) == []
