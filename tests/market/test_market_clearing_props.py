"""Properties of clearing and verification on generated books (hypothesis)."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from market_reference import (
    books,
    max_uniform_volume,
    reference_community,
    reference_walk,
)

from market.clearing import Clearing, Fill, Mode, Pair, clear
from market.orders import Order, Side
from market.verify import verify

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WALK_MODES = st.sampled_from([Mode.UNIFORM, Mode.PAY_AS_BID])
COMMUNITY_PRICES = st.integers(0, 61)


def clear_any(book: list[Order], mode: Mode, pc: int) -> Clearing:
    return clear(book, mode, pc if mode is Mode.COMMUNITY else None)


def verify_any(book: list[Order], result: Clearing, pc: int) -> list[str]:
    return [v.rule for v in verify(book, result, pc if result.mode is Mode.COMMUNITY else None)]


def filled(result: Clearing, side: Side) -> int:
    return sum(f.filled_wh for f in result.fills.values() if f.side is side)


def ahead(a: Order, b: Order) -> bool:
    """a is ahead of b on their (common) side."""
    if a.price != b.price:
        return a.price > b.price if a.side is Side.BUY else a.price < b.price
    return a.id < b.id


@PROPERTY
@given(books(), WALK_MODES)
def test_walk_modes_match_the_literal_rulebook(book: list[Order], mode: Mode) -> None:
    expected = reference_walk(book, pay_as_bid=mode is Mode.PAY_AS_BID)
    result = clear(book, mode)
    assert result.clearing_price == expected.clearing_price
    assert result.volume_wh == expected.volume_wh
    assert {k: (f.filled_wh, f.amount) for k, f in result.fills.items()} == expected.fills
    assert [(p.buy_id, p.sell_id, p.energy_wh, p.price) for p in result.pairs] == expected.pairs


@PROPERTY
@given(books(), COMMUNITY_PRICES)
def test_community_matches_the_literal_rulebook(book: list[Order], pc: int) -> None:
    expected = reference_community(book, pc)
    result = clear(book, Mode.COMMUNITY, pc)
    assert result.clearing_price == pc
    assert result.volume_wh == expected.volume_wh
    assert {k: (f.filled_wh, f.amount) for k, f in result.fills.items()} == expected.fills


@PROPERTY
@given(books(), st.sampled_from(list(Mode)), COMMUNITY_PRICES)
def test_every_order_has_a_fill_and_volumes_balance(book: list[Order], mode: Mode, pc: int) -> None:
    result = clear_any(book, mode, pc)
    assert sorted(result.fills) == sorted(o.id for o in book)
    assert list(result.fills) == sorted(result.fills)
    for o in book:
        assert result.fills[o.id].order_id == o.id
        assert result.fills[o.id].side is o.side
        assert 0 <= result.fills[o.id].filled_wh <= o.energy_wh
    assert filled(result, Side.BUY) == filled(result, Side.SELL) == result.volume_wh


@PROPERTY
@given(books(), st.sampled_from(list(Mode)), COMMUNITY_PRICES)
def test_payments_conserve_exactly(book: list[Order], mode: Mode, pc: int) -> None:
    result = clear_any(book, mode, pc)
    paid = sum(f.amount for f in result.fills.values() if f.side is Side.BUY)
    received = sum(f.amount for f in result.fills.values() if f.side is Side.SELL)
    assert paid == received
    assert sum(p.price * p.energy_wh for p in result.pairs) == (paid if result.pairs else 0)


@PROPERTY
@given(books(), st.sampled_from(list(Mode)), COMMUNITY_PRICES)
def test_every_fill_respects_its_limit(book: list[Order], mode: Mode, pc: int) -> None:
    result = clear_any(book, mode, pc)
    for o in book:
        fill = result.fills[o.id]
        if o.side is Side.BUY:
            assert fill.amount <= o.price * fill.filled_wh
        else:
            assert fill.amount >= o.price * fill.filled_wh
    if mode is Mode.UNIFORM and result.volume_wh:
        p = result.clearing_price
        assert p is not None
        for o in book:
            if result.fills[o.id].filled_wh:
                assert (o.price >= p) if o.side is Side.BUY else (o.price <= p)
                assert result.fills[o.id].amount == p * result.fills[o.id].filled_wh


@PROPERTY
@given(books(), WALK_MODES)
def test_no_crossing_pair_is_left_and_priority_holds(book: list[Order], mode: Mode) -> None:
    result = clear(book, mode)
    rest = [o for o in book if result.fills[o.id].filled_wh < o.energy_wh]
    open_bids = [o.price for o in rest if o.side is Side.BUY]
    open_offers = [o.price for o in rest if o.side is Side.SELL]
    if open_bids and open_offers:
        assert max(open_bids) < min(open_offers)
    for a in book:
        for b in book:
            if a.side is b.side and ahead(a, b) and result.fills[b.id].filled_wh > 0:
                assert result.fills[a.id].filled_wh == a.energy_wh


@PROPERTY
@given(books(max_price=40, max_energy=20))
def test_uniform_volume_is_the_most_one_price_can_clear(book: list[Order]) -> None:
    assert clear(book, Mode.UNIFORM).volume_wh == max_uniform_volume(book)


@PROPERTY
@given(books(), COMMUNITY_PRICES)
def test_community_shares_sum_to_the_volume_and_are_pro_rata(book: list[Order], pc: int) -> None:
    result = clear(book, Mode.COMMUNITY, pc)
    eligible = {
        side: [
            o
            for o in book
            if o.side is side and (o.price >= pc if side is Side.BUY else o.price <= pc)
        ]
        for side in Side
    }
    volume = min(sum(o.energy_wh for o in side) for side in eligible.values())
    assert result.volume_wh == volume
    for side in eligible.values():
        total = sum(o.energy_wh for o in side)
        assert sum(result.fills[o.id].filled_wh for o in side) == volume
        for o in side:
            # Its floor share, plus perhaps one leftover Wh (which goes by id, not by remainder).
            share = o.energy_wh * volume // total
            assert result.fills[o.id].filled_wh in (share, share + 1)
    for o in book:
        if o not in eligible[o.side]:
            assert result.fills[o.id].filled_wh == 0


@PROPERTY
@given(books(), st.sampled_from(list(Mode)), COMMUNITY_PRICES, st.randoms())
def test_input_order_does_not_matter(
    book: list[Order], mode: Mode, pc: int, rnd: random.Random
) -> None:
    shuffled = book[:]
    rnd.shuffle(shuffled)
    a, b = clear_any(book, mode, pc), clear_any(shuffled, mode, pc)
    assert a == b
    assert list(a.fills.items()) == list(b.fills.items())
    assert list(a.pairs) == list(b.pairs)


@PROPERTY
@given(books(), st.sampled_from(list(Mode)), COMMUNITY_PRICES)
def test_verify_accepts_every_clearing(book: list[Order], mode: Mode, pc: int) -> None:
    assert verify_any(book, clear_any(book, mode, pc), pc) == []


def _with_fills(result: Clearing, changes: dict[int, Fill]) -> Clearing:
    return dataclasses.replace(result, fills={**dict(result.fills), **changes})


def _priced(result: Clearing, book: list[Order], order_id: int, wh: int) -> Fill:
    """A fill of `wh` Wh for the order, with the amount the mode's price would give, so that
    only the structural rules can catch the change."""
    order = next(o for o in book if o.id == order_id)
    if result.mode is Mode.PAY_AS_BID:
        old = result.fills[order_id]
        price = old.amount // old.filled_wh if old.filled_wh else order.price
    else:
        assert result.clearing_price is not None
        price = result.clearing_price
    return Fill(order_id, order.side, wh, price * wh)


@PROPERTY
@given(books(), st.sampled_from(list(Mode)), COMMUNITY_PRICES, st.data())
def test_moving_one_wh_between_fills_is_caught(
    book: list[Order], mode: Mode, pc: int, data: st.DataObject
) -> None:
    result = clear_any(book, mode, pc)
    donors = [k for k, f in result.fills.items() if f.filled_wh > 0]
    if not donors:
        return
    donor = data.draw(st.sampled_from(donors))
    side = result.fills[donor].side
    takers = [o.id for o in book if o.side is side and o.id != donor]
    if not takers:
        return
    taker = data.draw(st.sampled_from(takers))
    tampered = _with_fills(
        result,
        {
            donor: _priced(result, book, donor, result.fills[donor].filled_wh - 1),
            taker: _priced(result, book, taker, result.fills[taker].filled_wh + 1),
        },
    )
    assert verify_any(book, tampered, pc) != []


@PROPERTY
@given(books(), st.sampled_from(list(Mode)), COMMUNITY_PRICES, st.sampled_from([-1, 1]))
def test_changing_the_price_by_one_is_caught(
    book: list[Order], mode: Mode, pc: int, delta: int
) -> None:
    result = clear_any(book, mode, pc)
    if result.clearing_price is None:
        tampered = dataclasses.replace(result, clearing_price=delta % 7)
        assert "clearing-price" in verify_any(book, tampered, pc)
        return
    p = result.clearing_price + delta
    repriced = dataclasses.replace(
        result,
        clearing_price=p,
        fills={k: dataclasses.replace(f, amount=p * f.filled_wh) for k, f in result.fills.items()},
        pairs=tuple(dataclasses.replace(pair, price=p) for pair in result.pairs),
    )
    assert verify_any(book, repriced, pc) != []
    assert verify_any(book, dataclasses.replace(result, clearing_price=p), pc) != []


@PROPERTY
@given(books(), st.sampled_from(list(Mode)), COMMUNITY_PRICES, st.data())
def test_changing_an_amount_a_volume_or_a_pair_is_caught(
    book: list[Order], mode: Mode, pc: int, data: st.DataObject
) -> None:
    result = clear_any(book, mode, pc)
    if not book:
        return
    k = data.draw(st.sampled_from(sorted(result.fills)))
    fill = result.fills[k]
    delta = data.draw(st.sampled_from([-1, 1]))
    more = _with_fills(result, {k: dataclasses.replace(fill, amount=fill.amount + delta)})
    assert "amount" in verify_any(book, more, pc)
    bigger = dataclasses.replace(result, volume_wh=result.volume_wh + 1)
    assert "volume-mismatch" in verify_any(book, bigger, pc)
    missing = dataclasses.replace(result, fills={j: f for j, f in result.fills.items() if j != k})
    assert "missing-order" in verify_any(book, missing, pc)
    if result.pairs:
        i = data.draw(st.integers(0, len(result.pairs) - 1))
        pairs = list(result.pairs)
        pairs[i] = dataclasses.replace(pairs[i], energy_wh=pairs[i].energy_wh + delta)
        assert "pairs" in verify_any(book, dataclasses.replace(result, pairs=tuple(pairs)), pc)
        assert "pairs" in verify_any(book, dataclasses.replace(result, pairs=()), pc)
    elif mode is Mode.COMMUNITY:
        fake = (Pair(0, 0, 1, pc),)
        assert "pairs" in verify_any(book, dataclasses.replace(result, pairs=fake), pc)
