"""The flexibility rules (market/flexibility.py): merit order, its verifier, baseline, delivery."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.flexibility import (
    BaselineMethod,
    Direction,
    FlexibilityError,
    FlexOffer,
    MeanOfLastDays,
    accept,
    baseline_slots,
    delivered_wh,
    flex_payment,
    flex_penalty,
    settle_offer,
    verify_acceptance,
)

OFFERS = st.lists(
    st.tuples(st.integers(1, 5_000), st.integers(0, 300_000)), min_size=0, max_size=12
)


def _offers(raw: list[tuple[int, int]]) -> list[FlexOffer]:
    return [FlexOffer(i, f"m{i}", q, p) for i, (q, p) in enumerate(raw)]


def test_merit_order_example() -> None:
    offers = _offers([(2000, 150_000), (1000, 100_000), (3000, 150_000), (500, 400_000)])
    # #1 (100k) full, then #0 (150k, lower id than #2) full, then #2 partial; #3 above max.
    assert accept(offers, 4000, 300_000) == (2000, 1000, 1000, 0)
    assert accept(offers, 10_000, 300_000) == (2000, 1000, 3000, 0)
    assert accept(offers, 10_000, 400_000) == (2000, 1000, 3000, 500)
    assert accept(offers, 500, 99_999) == (0, 0, 0, 0)


@settings(max_examples=300, deadline=None)
@given(raw=OFFERS, quantity=st.integers(1, 20_000), max_price=st.integers(0, 300_000))
def test_accept_properties(raw: list[tuple[int, int]], quantity: int, max_price: int) -> None:
    offers = _offers(raw)
    acc = accept(offers, quantity, max_price)
    verify_acceptance(offers, quantity, max_price, acc)
    eligible = [o for o in offers if o.price <= max_price]
    assert sum(acc) == min(quantity, sum(o.quantity_wh for o in eligible))
    for o, a in zip(offers, acc, strict=True):
        assert 0 <= a <= o.quantity_wh
        if o.price > max_price:
            assert a == 0
    # No accepted offer is behind one that was not fully accepted.
    partial = [(o.price, o.id) for o, a in zip(offers, acc, strict=True) if a < o.quantity_wh]
    partial = [k for k in partial if k[0] <= max_price]
    for o, a in zip(offers, acc, strict=True):
        if a and partial:
            assert (o.price, o.id) <= min(partial)


@settings(max_examples=300, deadline=None)
@given(
    raw=OFFERS.filter(lambda r: len(r) >= 1),
    quantity=st.integers(1, 20_000),
    max_price=st.integers(0, 300_000),
    index=st.integers(0, 11),
    delta=st.integers(-3_000, 3_000).filter(lambda d: d != 0),
)
def test_every_tampered_acceptance_is_refused(
    raw: list[tuple[int, int]], quantity: int, max_price: int, index: int, delta: int
) -> None:
    offers = _offers(raw)
    good = list(accept(offers, quantity, max_price))
    bad = list(good)
    bad[index % len(bad)] += delta
    with pytest.raises(FlexibilityError):
        verify_acceptance(offers, quantity, max_price, bad)


def test_tamper_cases_are_named() -> None:
    offers = _offers([(2000, 100_000), (2000, 200_000), (2000, 300_000)])

    def name(acc: list[int], max_price: int = 250_000) -> str:
        with pytest.raises(FlexibilityError) as err:
            verify_acceptance(offers, 3000, max_price, acc)
        return err.value.name

    verify_acceptance(offers, 3000, 250_000, [2000, 1000, 0])
    assert name([2000, 1000]) == "FlexibilityAcceptanceLength"
    assert name([2001, 999, 0]) == "FlexibilityOverAccepted"
    assert name([1000, 2000, 0]) == "FlexibilityNotMeritOrder"
    assert name([2000, 500, 0]) == "FlexibilityWrongVolume"
    assert name([2000, 0, 1000], max_price=300_000) == "FlexibilityNotMeritOrder"
    assert name([2000, 1000, 1]) == "FlexibilityAboveMaxPrice"


def test_baseline_mean_and_rounding() -> None:
    method = MeanOfLastDays()
    history = [100, 101, None, 103, 104, 105, 999]  # 999 is the 6th day with a reading: unused
    assert method(history, Direction.REDUCE_IMPORT) == (100 + 101 + 103 + 104 + 105) // 5
    assert method([1, 2], Direction.REDUCE_IMPORT) == 1  # 1.5 down: favours no claim
    assert method([1, 2], Direction.REDUCE_EXPORT) == 2  # 1.5 up
    assert method([-1, -2], Direction.REDUCE_IMPORT) == -2  # -1.5 down
    assert method([-1, -2], Direction.REDUCE_EXPORT) == -1  # -1.5 up


def test_baseline_edge_cases() -> None:
    method = MeanOfLastDays()
    assert method([], Direction.REDUCE_IMPORT) is None  # new member: no day yet
    assert method([None] * 10, Direction.REDUCE_IMPORT) is None  # never a reading in this slot
    assert method([None, 300], Direction.REDUCE_IMPORT) == 300  # one day only: that day
    # Only the lookback window counts: a reading 11 days back is too old.
    assert method([None] * 10 + [500], Direction.REDUCE_IMPORT) is None
    assert MeanOfLastDays(days=2, lookback_days=3)([4, None, 8, 100], Direction.REDUCE_IMPORT) == 6


@given(
    history=st.lists(st.one_of(st.none(), st.integers(-10_000, 10_000)), max_size=12),
    direction=st.sampled_from(Direction),
)
def test_baseline_between_min_and_max(history: list[int | None], direction: Direction) -> None:
    base = MeanOfLastDays()(history, direction)
    used = [v for v in history[:10] if v is not None][:5]
    if not used:
        assert base is None
    else:
        assert base is not None and min(used) <= base <= max(used)


def test_baseline_slots() -> None:
    assert baseline_slots(48 * 12 + 7, 1800) == [48 * (12 - d) + 7 for d in range(1, 11)]
    assert baseline_slots(96 + 3, 900, 3) == [3]  # slot 3 - 96 < 0 does not exist
    with pytest.raises(FlexibilityError):
        baseline_slots(10, 7 * 60 + 1)


@given(
    baseline=st.integers(-20_000, 20_000),
    metered=st.integers(-20_000, 20_000),
    accepted=st.integers(1, 10_000),
    direction=st.sampled_from(Direction),
    price=st.integers(0, 10**6),
    penalty=st.integers(0, 10**6),
)
def test_delivery_payment_penalty(
    baseline: int, metered: int, accepted: int, direction: Direction, price: int, penalty: int
) -> None:
    done = delivered_wh(direction, baseline, metered, accepted)
    assert 0 <= done <= accepted
    raw = baseline - metered if direction is Direction.REDUCE_IMPORT else metered - baseline
    assert done == raw or (raw < 0 and done == 0) or (raw > accepted and done == accepted)
    out = settle_offer(direction, accepted, price, penalty, metered, [baseline])
    assert out.measured and out.delivered_wh == done
    assert out.payment == flex_payment(price, done) == price * done
    assert out.penalty == flex_penalty(penalty, accepted, done) == penalty * (accepted - done)


def test_under_delivery_and_unmeasured() -> None:
    # Baseline 1000 Wh import; asked to reduce by 600; metered 700: delivered 300 of 600.
    out = settle_offer(Direction.REDUCE_IMPORT, 600, 120_000, 50_000, 700, [1000] * 5)
    assert (out.delivered_wh, out.payment, out.penalty) == (300, 36_000_000, 15_000_000)
    # Export peak: baseline −2000 (exporting), metered −1500: 500 Wh less export.
    out = settle_offer(Direction.REDUCE_EXPORT, 800, 90_000, 10_000, -1500, [-2000])
    assert (out.delivered_wh, out.payment, out.penalty) == (500, 45_000_000, 3_000_000)
    # No reading in the delivered slot, or no baseline: neither paid nor penalised.
    for metered, history in ((None, [1000]), (700, [None, None])):
        out = settle_offer(Direction.REDUCE_IMPORT, 600, 1, 1, metered, history)
        assert not out.measured and (out.payment, out.penalty, out.delivered_wh) == (0, 0, 0)


def test_baseline_is_pluggable() -> None:
    class LastDay:
        def __call__(self, history: Sequence[int | None], direction: Direction) -> int | None:
            return next((v for v in history if v is not None), None)

    method: BaselineMethod = LastDay()
    out = settle_offer(Direction.REDUCE_IMPORT, 100, 1, 1, 0, [None, 80, 1000], method)
    assert out.baseline_wh == 80 and out.delivered_wh == 80
