"""Fees, order settlement, imbalance, BaU, debt and bills."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from market_reference import TARIFF

from market.billing import (
    Bill,
    ChargeOutcome,
    Fees,
    Imbalance,
    TopUpOutcome,
    apply_charge,
    apply_top_up,
    bau_cost,
    bill,
    imbalance,
    profit_pool,
    profit_shares,
    settle_order,
    sum_bills,
    trade_fees,
)
from market.clearing import Fill, Mode, clear
from market.orders import InvalidOrderError, Order, Side
from market.units import NANO_PER_EUR

EXAMPLE = [
    Order(1, Side.BUY, 3000, 300000, "0xa"),
    Order(2, Side.BUY, 2000, 220000, "0xb"),
    Order(3, Side.SELL, 2500, 150000, "0xc"),
    Order(4, Side.SELL, 2000, 240000, "0xd"),
]
UNIFORM = clear(EXAMPLE, Mode.UNIFORM)


def test_trade_fees() -> None:
    assert trade_fees(TARIFF, Side.BUY, 100) == Fees(platform=500000, network=3000000)
    assert trade_fees(TARIFF, Side.SELL, 100) == Fees(platform=400000, network=0)
    assert trade_fees(TARIFF, Side.BUY, 100).total == 3500000
    assert trade_fees(TARIFF, Side.BUY, 0) == Fees(0, 0)


def test_settle_the_rulebook_example() -> None:
    buyer = settle_order(TARIFF, EXAMPLE[0], UNIFORM.fills[1])
    assert buyer.escrow == (300000 + 35000) * 3000 == 1005000000
    assert buyer.amount == 810000000
    assert (buyer.platform_fee, buyer.network_fee) == (15000000, 90000000)
    assert buyer.paid_by_member == 915000000
    assert buyer.received_by_member == 90000000  # the escrow refund
    assert buyer.escrow == buyer.paid_by_member + buyer.received_by_member

    unfilled = settle_order(TARIFF, EXAMPLE[1], UNIFORM.fills[2])
    assert (unfilled.escrow, unfilled.paid_by_member) == (510000000, 0)
    assert unfilled.received_by_member == 510000000  # all of it back

    seller = settle_order(TARIFF, EXAMPLE[2], UNIFORM.fills[3])
    assert (seller.escrow, seller.paid_by_member) == (0, 0)
    assert (seller.platform_fee, seller.network_fee) == (10000000, 0)
    assert seller.received_by_member == 675000000 - 10000000

    settled = [settle_order(TARIFF, o, UNIFORM.fills[o.id]) for o in EXAMPLE]
    paid = sum(s.paid_by_member for s in settled)
    to_sellers = sum(s.received_by_member for s in settled if s.side is Side.SELL)
    fees = sum(s.platform_fee + s.network_fee for s in settled)
    assert paid == to_sellers + fees == 915000000


def test_settle_order_rejects_fills_the_contract_would_reject() -> None:
    buy = EXAMPLE[0]
    with pytest.raises(ValueError, match="does not belong"):
        settle_order(TARIFF, buy, UNIFORM.fills[2])
    with pytest.raises(ValueError, match="does not belong"):
        settle_order(TARIFF, buy, Fill(1, Side.SELL, 0, 0))
    with pytest.raises(ValueError, match="filled 3001 of 3000 Wh"):
        settle_order(TARIFF, buy, Fill(1, Side.BUY, 3001, 0))
    with pytest.raises(ValueError, match="beyond its limit"):
        settle_order(TARIFF, buy, Fill(1, Side.BUY, 3000, 300000 * 3000 + 1))
    with pytest.raises(ValueError, match="beyond its limit"):
        settle_order(TARIFF, EXAMPLE[2], Fill(3, Side.SELL, 2500, 150000 * 2500 - 1))
    with pytest.raises(ValueError, match="beyond its limit"):
        settle_order(TARIFF, buy, Fill(1, Side.BUY, 0, -1))
    cheap = Order(9, Side.SELL, 10, 79999, "0x1")
    with pytest.raises(InvalidOrderError, match="outside the tariff's bounds"):
        settle_order(TARIFF, cheap, Fill(9, Side.SELL, 0, 0))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(Side), st.integers(1, 5000), st.integers(80000, 300000)),
        max_size=20,
    ),
    st.sampled_from(list(Mode)),
)
def test_settlement_never_overdraws_escrow_and_conserves_tokens(
    specs: list[tuple[Side, int, int]], mode: Mode
) -> None:
    book = [Order(i, side, wh, price, "0x1") for i, (side, wh, price) in enumerate(specs)]
    pc = TARIFF.community_price if mode is Mode.COMMUNITY else None
    result = clear(book, mode, pc)
    settled = [settle_order(TARIFF, o, result.fills[o.id]) for o in book]
    for s in settled:
        assert min(s.escrow, s.paid_by_member, s.received_by_member) >= 0
        if s.side is Side.BUY:
            assert s.escrow == s.paid_by_member + s.received_by_member
    # Tokens in (buyers' payments) == tokens out (sellers' proceeds + the DSO's fees).
    paid = sum(s.paid_by_member for s in settled)
    to_sellers = sum(s.received_by_member for s in settled if s.side is Side.SELL)
    assert paid == to_sellers + sum(s.platform_fee + s.network_fee for s in settled)


def test_imbalance_surplus_is_bought_at_feed_in() -> None:
    assert imbalance(TARIFF, 1000, 500) == Imbalance(500, 40000000, 0, 0)
    assert imbalance(TARIFF, 1000, 500).cost == -40000000
    assert imbalance(TARIFF, 500, 500) == Imbalance(0, 0, 0, 0)


def test_imbalance_shortfall_is_charged_retail_plus_grid_fee() -> None:
    # Imported 200 Wh and had sold 300 Wh: d = -500.
    deviation = imbalance(TARIFF, -200, 300)
    assert deviation == Imbalance(-500, 0, 150000000, 45000000)
    assert deviation.cost == 500 * (300000 + 90000)


def test_bau_cost() -> None:
    assert bau_cost(TARIFF, 1000) == -80000000  # exports sold at feed-in: negative cost
    assert bau_cost(TARIFF, -1000) == 390000000  # imports at retail + grid fee
    assert bau_cost(TARIFF, 0) == 0


def test_charges_never_overdraw_and_leave_debt() -> None:
    assert apply_charge(100, 0, 30) == ChargeOutcome(balance=70, debt=0, collected=30)
    assert apply_charge(100, 0, 150) == ChargeOutcome(balance=0, debt=50, collected=100)
    assert apply_charge(0, 50, 10) == ChargeOutcome(balance=0, debt=60, collected=0)
    assert apply_charge(5, 0, 0) == ChargeOutcome(5, 0, 0)


def test_top_ups_pay_debt_first() -> None:
    assert apply_top_up(0, 60, 100) == TopUpOutcome(balance=40, debt=0, debt_paid=60)
    assert apply_top_up(0, 60, 20) == TopUpOutcome(balance=0, debt=40, debt_paid=20)
    assert apply_top_up(7, 0, 3) == TopUpOutcome(balance=10, debt=0, debt_paid=0)
    # Proceeds earned while in debt sit in the balance; the next top-up pays the debt from both.
    assert apply_top_up(30, 50, 10) == TopUpOutcome(balance=0, debt=10, debt_paid=40)
    assert apply_charge(30, 50, 10) == ChargeOutcome(balance=20, debt=50, collected=10)


@pytest.mark.parametrize(("balance", "debt", "amount"), [(-1, 0, 1), (0, -1, 1), (0, 0, -1)])
def test_impossible_accounts_are_rejected(balance: int, debt: int, amount: int) -> None:
    with pytest.raises(ValueError):
        apply_charge(balance, debt, amount)
    with pytest.raises(ValueError):
        apply_top_up(balance, debt, amount)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 1000)), max_size=30))
def test_debt_and_balance_track_every_token(moves: list[tuple[bool, int]]) -> None:
    balance = debt = 0
    for is_charge, amount in moves:
        before = balance - debt
        if is_charge:
            charged = apply_charge(balance, debt, amount)
            balance, debt = charged.balance, charged.debt
            assert balance - debt == before - amount
        else:
            topped = apply_top_up(balance, debt, amount)
            balance, debt = topped.balance, topped.debt
            assert balance - debt == before + amount
        assert balance >= 0 and debt >= 0 and (balance == 0 or debt == 0)


def _buyer_bill() -> Bill:
    settled = [settle_order(TARIFF, EXAMPLE[0], UNIFORM.fills[1])]
    return bill(TARIFF, -3200, settled)  # imported 3200 Wh, bought 3000 in the market


def test_buyer_slot_bill() -> None:
    b = _buyer_bill()
    assert (b.bought_wh, b.sold_wh, b.metered_net_export_wh) == (3000, 0, -3200)
    assert (b.energy_bought, b.energy_sold) == (810000000, 0)
    assert (b.platform_fees, b.network_fees) == (15000000, 90000000)
    # 200 Wh short: 200 * 300000 energy + 200 * 90000 network.
    assert (b.imbalance_credit, b.imbalance_energy_charge, b.imbalance_network_charge) == (
        0,
        60000000,
        18000000,
    )
    assert b.imbalance_cost == 78000000
    assert b.service_fee == 0
    assert b.net_cost == 810000000 + 15000000 + 90000000 + 78000000 == 993000000
    assert b.bau_cost == 3200 * 390000 == 1248000000
    assert b.savings == 255000000


def test_seller_slot_bill() -> None:
    settled = [settle_order(TARIFF, EXAMPLE[2], UNIFORM.fills[3])]
    b = bill(TARIFF, 2600, settled)  # exported 2600 Wh, sold 2500 of them locally
    assert (b.energy_sold, b.platform_fees, b.imbalance_credit) == (675000000, 10000000, 8000000)
    assert b.net_cost == -675000000 + 10000000 - 8000000 == -673000000
    assert b.bau_cost == -208000000
    assert b.savings == 465000000


def test_bill_without_trades_saves_nothing() -> None:
    for m in (-500, 0, 500):
        b = bill(TARIFF, m, [])
        assert b.net_cost == b.bau_cost == bau_cost(TARIFF, m)
        assert b.savings == 0


def test_period_bill_adds_the_service_fee_once() -> None:
    slot = _buyer_bill()
    period = sum_bills([slot, slot, slot], service_fee=TARIFF.service_fee)
    assert period.bought_wh == 9000
    assert period.energy_bought == 3 * 810000000
    assert period.imbalance_cost == 3 * 78000000
    assert period.service_fee == 2 * NANO_PER_EUR
    assert period.net_cost == 3 * 993000000 + 2 * NANO_PER_EUR
    assert period.bau_cost == 3 * 1248000000
    assert period.savings == 3 * 255000000 - 2 * NANO_PER_EUR
    assert sum_bills([], service_fee=5) == dataclasses.replace(bill(TARIFF, 0, []), service_fee=5)
    year = sum_bills([period, period], service_fee=0)
    assert year.service_fee == 4 * NANO_PER_EUR


def test_profit_shares_floor_the_running_export() -> None:
    assert profit_pool(20_000_000, 5000) == 10_000_000
    assert profit_pool(3, 5000) == 1
    # 10 n€ over exports 1:1:1: floor(10/3), floor(20/3) - 3, 10 - 6.
    assert profit_shares(10, [1, 1, 1]) == [3, 3, 4]
    assert profit_shares(10, [0, 1, 2]) == [0, 3, 7]
    assert profit_shares(10_000_000, [0, 1000, 2000]) == [0, 3_333_333, 6_666_667]
    assert profit_shares(10, [0, 0]) == [0, 0]
    # A member who left during the period keeps the total up: its part stays unpaid.
    assert profit_shares(10, [1, 1], total_wh=4) == [2, 3]
    with pytest.raises(ValueError):
        profit_shares(10, [3, 3], total_wh=5)


@given(
    pool=st.integers(0, 10**15),
    exports=st.lists(st.integers(0, 10**9), max_size=40),
    missing=st.integers(0, 10**9),
    cut=st.integers(0, 40),
)
def test_profit_shares_exact_and_chunkable(
    pool: int, exports: list[int], missing: int, cut: int
) -> None:
    """Within one n€ of the exact proportion, exactly the pool when no member is missing, and
    the same split a chunk at a time from the running export (ProfitSharing's chunked close)."""
    total = sum(exports) + missing
    shares = profit_shares(pool, exports, total_wh=total)
    for share, e in zip(shares, exports, strict=True):
        assert total == 0 or abs(share * total - pool * e) < total
    if missing == 0:
        assert sum(shares) == (pool if total else 0)
    head, tail = exports[:cut], exports[cut:]
    chunked = profit_shares(pool, head, total_wh=total) + profit_shares(
        pool, tail, total_wh=total, before_wh=sum(head)
    )
    assert chunked == shares
