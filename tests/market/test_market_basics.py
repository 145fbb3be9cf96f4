"""Units, orders and tariffs."""

from __future__ import annotations

import dataclasses

import pytest
from market_reference import TARIFF

from market.orders import InvalidOrderError, Order, Side, sorted_by_id, validate_order
from market.tariff import InvalidTariffError
from market.units import NANO_PER_EUR, eur


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (810000000, "0.810000000"),
        (0, "0.000000000"),
        (1, "0.000000001"),
        (NANO_PER_EUR, "1.000000000"),
        (12 * NANO_PER_EUR + 5, "12.000000005"),
        (-810000000, "-0.810000000"),
        (-NANO_PER_EUR - 1, "-1.000000001"),
        (10**30 + 1, "1000000000000000000000.000000001"),
    ],
)
def test_eur_formats_exactly(amount: int, text: str) -> None:
    assert eur(amount) == text


def test_a_valid_order() -> None:
    o = Order(0, Side.SELL, 1, 0, "0xabc")
    assert (o.id, o.side, o.energy_wh, o.price, o.owner) == (0, "sell", 1, 0, "0xabc")
    validate_order(o)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"energy_wh": 0}, "order 7: energy_wh must be a positive integer, got 0"),
        ({"energy_wh": -5}, "order 7: energy_wh must be a positive integer, got -5"),
        ({"energy_wh": True}, "order 7: energy_wh must be a positive integer, got True"),
        ({"energy_wh": 1.0}, "order 7: energy_wh must be a positive integer, got 1.0"),
        ({"price": -1}, "order 7: price must be a non-negative integer, got -1"),
        ({"price": False}, "order 7: price must be a non-negative integer, got False"),
        ({"price": "5"}, "order 7: price must be a non-negative integer, got '5'"),
        ({"side": "buy"}, "order 7: side must be 'buy' or 'sell', got 'buy'"),
        ({"owner": None}, "order 7: owner must be a string, got None"),
        ({"id": -1}, "invalid order: id must be a non-negative integer, got -1"),
        ({"id": True}, "invalid order: id must be a non-negative integer, got True"),
    ],
)
def test_invalid_orders_cannot_be_built(fields: dict[str, object], message: str) -> None:
    values: dict[str, object] = {
        "id": 7,
        "side": Side.BUY,
        "energy_wh": 10,
        "price": 5,
        "owner": "0x1",
    }
    with pytest.raises(InvalidOrderError) as caught:
        Order(**{**values, **fields})  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert caught.value.order_id == (None if "id" in fields else 7)


def test_orders_are_immutable() -> None:
    o = Order(1, Side.BUY, 1, 1, "0x1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.price = 2  # type: ignore[misc]


def test_sorted_by_id() -> None:
    a, b, c = (Order(i, Side.BUY, 1, 1, "0x1") for i in (3, 1, 2))
    assert sorted_by_id([a, b, c]) == [b, c, a]
    assert sorted_by_id([]) == []
    with pytest.raises(InvalidOrderError, match="order 1: duplicate id"):
        sorted_by_id([a, b, c, Order(1, Side.SELL, 2, 2, "0x2")])


def test_tariff_bounds_and_escrow() -> None:
    assert TARIFF.price_in_bounds(80000) and TARIFF.price_in_bounds(300000)
    assert not TARIFF.price_in_bounds(79999) and not TARIFF.price_in_bounds(300001)
    TARIFF.check_price_bounds(Order(1, Side.BUY, 10, 300000, "0x1"))
    with pytest.raises(InvalidOrderError, match=r"order 2: price 300001 outside .*80000, 300000"):
        TARIFF.check_price_bounds(Order(2, Side.SELL, 10, 300001, "0x1"))
    assert TARIFF.buy_fee_rate == 35000
    # limit * energy plus the largest fee the order can incur (all of it filled).
    assert TARIFF.escrow_for(Order(1, Side.BUY, 10, 250000, "0x1")) == (250000 + 35000) * 10
    assert TARIFF.escrow_for(Order(1, Side.SELL, 10, 250000, "0x1")) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grid_fee": -1}, "grid_fee must be a non-negative integer"),
        ({"service_fee": 1.5}, "service_fee must be a non-negative integer"),
        ({"trade_fee_buy": True}, "trade_fee_buy must be a non-negative integer"),
        ({"feed_in_price": 0, "trade_fee_sell": 0}, "0 < feed_in_price <= retail_price"),
        ({"feed_in_price": 300001}, "0 < feed_in_price <= retail_price"),
        ({"community_price": 79999}, "feed_in_price <= community_price <= retail_price"),
        ({"community_price": 300001}, "feed_in_price <= community_price <= retail_price"),
        ({"trade_fee_sell": 80001}, "trade_fee_sell <= feed_in_price"),
        ({"sharing_price": 79999}, "feed_in_price <= sharing_price <= retail_price"),
        ({"sharing_price": 300001}, "feed_in_price <= sharing_price <= retail_price"),
    ],
)
def test_invalid_tariffs_cannot_be_built(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidTariffError, match=message.replace("(", r"\(")):
        dataclasses.replace(TARIFF, **change)  # type: ignore[arg-type]


def test_edge_tariffs_are_valid() -> None:
    dataclasses.replace(TARIFF, feed_in_price=300000, community_price=300000, sharing_price=300000)
    dataclasses.replace(TARIFF, sharing_price=80000)
    dataclasses.replace(TARIFF, sharing_price=300000)
    dataclasses.replace(TARIFF, trade_fee_sell=80000, grid_fee=0, p2p_grid_fee=0)


def test_sharing_price_defaults_to_the_community_price() -> None:
    assert TARIFF.sharing_price == TARIFF.community_price
