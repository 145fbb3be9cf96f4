"""The verifier names the rule each tampered clearing breaks."""

from __future__ import annotations

import dataclasses

import pytest

from market.clearing import Clearing, Fill, Mode, Pair, clear
from market.orders import InvalidOrderError, Order, Side
from market.verify import Violation, verify


def order(order_id: int, side: str, energy_wh: int, price: int) -> Order:
    return Order(order_id, Side(side), energy_wh, price, owner="0x1")


EXAMPLE = [
    order(1, "buy", 3000, 300000),
    order(2, "buy", 2000, 220000),
    order(3, "sell", 2500, 150000),
    order(4, "sell", 2000, 240000),
]
UNIFORM = clear(EXAMPLE, Mode.UNIFORM)
PAY_AS_BID = clear(EXAMPLE, Mode.PAY_AS_BID)
COMMUNITY = clear(EXAMPLE, Mode.COMMUNITY, 240000)


def rules(clearing: Clearing, community_price: int | None = None) -> set[str]:
    return {v.rule for v in verify(EXAMPLE, clearing, community_price)}


def with_fills(clearing: Clearing, *fills: Fill) -> Clearing:
    return dataclasses.replace(
        clearing, fills={**dict(clearing.fills), **{f.order_id: f for f in fills}}
    )


def test_valid_clearings_pass() -> None:
    assert verify(EXAMPLE, UNIFORM) == []
    assert verify(EXAMPLE, PAY_AS_BID) == []
    assert verify(EXAMPLE, COMMUNITY, 240000) == []


def test_violations_carry_rule_order_and_detail() -> None:
    tampered = with_fills(UNIFORM, Fill(3, Side.SELL, 2500, 675000001))
    assert verify(EXAMPLE, tampered) == [
        Violation("amount", 3, "amount 675000001, expected 675000000")
    ]


def test_unknown_missing_and_wrong_side_fills() -> None:
    extra = with_fills(UNIFORM, Fill(99, Side.BUY, 0, 0))
    assert rules(extra) == {"unknown-order"}
    rekeyed = dataclasses.replace(UNIFORM, fills={**dict(UNIFORM.fills), 2: UNIFORM.fills[1]})
    assert "unknown-order" in rules(rekeyed)
    missing = dataclasses.replace(UNIFORM, fills={k: f for k, f in UNIFORM.fills.items() if k != 2})
    assert rules(missing) == {"missing-order"}
    assert "side" in rules(with_fills(UNIFORM, Fill(2, Side.SELL, 0, 0)))


def test_over_and_negative_fills() -> None:
    # #4 gets 2001 Wh of its 2000, #3 gives up 1501 Wh: volumes still balance.
    over = with_fills(
        UNIFORM, Fill(3, Side.SELL, 999, 999 * 270000), Fill(4, Side.SELL, 2001, 2001 * 270000)
    )
    assert "over-fill" in rules(over)
    negative = with_fills(
        UNIFORM, Fill(3, Side.SELL, 3001, 3001 * 270000), Fill(4, Side.SELL, -1, -270000)
    )
    assert "negative-fill" in rules(negative)


def test_volume_mismatch() -> None:
    assert rules(dataclasses.replace(UNIFORM, volume_wh=2999)) == {"volume-mismatch"}
    lopsided = with_fills(UNIFORM, Fill(2, Side.BUY, 1, 270000))
    assert "volume-mismatch" in rules(lopsided)


def test_priority_violation() -> None:
    # #4 gets the Wh #3 should have had: same volume, same price, but #3 is ahead.
    swapped = with_fills(
        UNIFORM, Fill(3, Side.SELL, 1000, 270000000), Fill(4, Side.SELL, 2000, 540000000)
    )
    found = verify(EXAMPLE, swapped)
    assert Violation("priority", 4, "filled while an order ahead is not full") in found


def test_crossing_left_when_the_walk_stops_early() -> None:
    # Only #1 and #3 trade, at their midpoint, although #1 still crosses #4.
    stopped = Clearing(
        Mode.UNIFORM,
        225000,
        2500,
        {
            1: Fill(1, Side.BUY, 2500, 2500 * 225000),
            2: Fill(2, Side.BUY, 0, 0),
            3: Fill(3, Side.SELL, 2500, 2500 * 225000),
            4: Fill(4, Side.SELL, 0, 0),
        },
        (Pair(1, 3, 2500, 225000),),
    )
    assert rules(stopped) == {"crossing-left"}


def test_equal_limits_left_open_still_cross() -> None:
    book = [order(1, "buy", 5, 100), order(2, "sell", 5, 100)]
    idle = Clearing(
        Mode.UNIFORM, None, 0, {1: Fill(1, Side.BUY, 0, 0), 2: Fill(2, Side.SELL, 0, 0)}, ()
    )
    assert [(v.rule, v.order_id) for v in verify(book, idle)] == [("crossing-left", 1)]


def test_filling_past_the_walk_breaks_limits() -> None:
    # Extending the fills to bid #2 (220000) against #4 (240000), priced consistently.
    past = Clearing(
        Mode.UNIFORM,
        230000,
        4500,
        {
            1: Fill(1, Side.BUY, 3000, 3000 * 230000),
            2: Fill(2, Side.BUY, 1500, 1500 * 230000),
            3: Fill(3, Side.SELL, 2500, 2500 * 230000),
            4: Fill(4, Side.SELL, 2000, 2000 * 230000),
        },
        (Pair(1, 3, 2500, 230000), Pair(1, 4, 500, 230000), Pair(2, 4, 1500, 230000)),
    )
    assert rules(past) == {"limit"}


def test_clearing_price() -> None:
    assert rules(dataclasses.replace(UNIFORM, clearing_price=270001)) >= {"clearing-price"}
    assert rules(dataclasses.replace(PAY_AS_BID, clearing_price=300000)) == {"clearing-price"}
    assert rules(dataclasses.replace(COMMUNITY, clearing_price=239999), 240000) == {
        "clearing-price"
    }
    nothing = clear(EXAMPLE[1:2] + EXAMPLE[3:], Mode.UNIFORM)
    assert nothing.clearing_price is None
    priced = dataclasses.replace(nothing, clearing_price=230000)
    assert {v.rule for v in verify(EXAMPLE[1:2] + EXAMPLE[3:], priced)} == {"clearing-price"}


def test_pairs() -> None:
    assert verify(EXAMPLE, dataclasses.replace(UNIFORM, pairs=())) == [
        Violation("pairs", None, "pair 0: got no pair, the walk gives (1, 3, 2500)")
    ]
    reordered = (UNIFORM.pairs[1], UNIFORM.pairs[0])
    assert rules(dataclasses.replace(UNIFORM, pairs=reordered)) == {"pairs"}
    cheap = (Pair(1, 3, 2500, 270000), Pair(1, 4, 500, 269999))
    assert rules(dataclasses.replace(UNIFORM, pairs=cheap)) == {"pairs"}
    # Pay-as-bid pairs trade at the bid's limit; the amounts are checked from the walk.
    at_offer = (Pair(1, 3, 2500, 150000), Pair(1, 4, 500, 240000))
    assert rules(dataclasses.replace(PAY_AS_BID, pairs=at_offer)) == {"pairs"}
    assert rules(dataclasses.replace(COMMUNITY, pairs=UNIFORM.pairs), 240000) == {"pairs"}


def test_pay_as_bid_amounts_come_from_the_walk() -> None:
    # Seller #3 paid at #3's own limit instead of bid #1's.
    tampered = with_fills(PAY_AS_BID, Fill(3, Side.SELL, 2500, 2500 * 150000))
    assert rules(tampered) == {"amount"}


def test_community_pro_rata_and_eligibility() -> None:
    # The leftover Wh given to #4 instead of the lower id #3.
    wrong_leftover = with_fills(
        COMMUNITY,
        Fill(3, Side.SELL, 1666, 1666 * 240000),
        Fill(4, Side.SELL, 1334, 1334 * 240000),
    )
    found = verify(EXAMPLE, wrong_leftover, 240000)
    assert [v.rule for v in found] == ["pro-rata"]
    assert found[0].order_id == 4
    skewed = with_fills(
        COMMUNITY,
        Fill(3, Side.SELL, 1700, 1700 * 240000),
        Fill(4, Side.SELL, 1300, 1300 * 240000),
    )
    assert rules(skewed, 240000) == {"pro-rata"}
    # #2 (220000) is not eligible at pc = 240000.
    ineligible = with_fills(
        COMMUNITY, Fill(1, Side.BUY, 2999, 2999 * 240000), Fill(2, Side.BUY, 1, 240000)
    )
    assert "limit" in rules(ineligible, 240000)
    assert rules(dataclasses.replace(COMMUNITY, volume_wh=2000), 240000) == {"volume-mismatch"}


def test_community_price_must_match_the_mode() -> None:
    with pytest.raises(ValueError, match="needs a community_price"):
        verify(EXAMPLE, COMMUNITY)
    with pytest.raises(ValueError, match="only used in community mode"):
        verify(EXAMPLE, UNIFORM, 240000)


def test_duplicate_ids_in_the_book_are_an_error() -> None:
    with pytest.raises(InvalidOrderError):
        verify([*EXAMPLE, order(1, "sell", 1, 1)], UNIFORM)
