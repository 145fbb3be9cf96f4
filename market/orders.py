"""Orders: one side of one slot's book. Invalid orders cannot be constructed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from itertools import compress, islice
from operator import attrgetter, eq

from market.units import Price, Wh, is_int


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class InvalidOrderError(ValueError):
    """An order breaks the rulebook; `order_id` is None when the id itself is the problem."""

    def __init__(self, order_id: int | None, message: str) -> None:
        self.order_id = order_id
        self.message = message
        prefix = "invalid order" if order_id is None else f"order {order_id}"
        super().__init__(f"{prefix}: {message}")


@dataclass(frozen=True, slots=True)
class Order:
    """A limit order. `price` is the limit in n€/Wh: the most a buyer pays, the least a seller
    accepts. Whether the price lies within the tariff's bounds is the tariff's business
    (`Tariff.check_price_bounds`), because the bounds change with the tariff in force."""

    id: int
    side: Side
    energy_wh: Wh
    price: Price
    owner: str

    def __post_init__(self) -> None:
        validate_order(self)


def validate_order(order: Order) -> None:
    """Raise InvalidOrderError unless the order's fields have valid types and ranges."""
    if not is_int(order.id) or order.id < 0:
        raise InvalidOrderError(None, f"id must be a non-negative integer, got {order.id!r}")
    if not isinstance(order.side, Side):
        raise InvalidOrderError(order.id, f"side must be 'buy' or 'sell', got {order.side!r}")
    if not is_int(order.energy_wh) or order.energy_wh <= 0:
        raise InvalidOrderError(
            order.id, f"energy_wh must be a positive integer, got {order.energy_wh!r}"
        )
    if not is_int(order.price) or order.price < 0:
        raise InvalidOrderError(
            order.id, f"price must be a non-negative integer, got {order.price!r}"
        )
    if not isinstance(order.owner, str):
        raise InvalidOrderError(order.id, f"owner must be a string, got {order.owner!r}")


def sorted_by_id(orders: Iterable[Order]) -> list[Order]:
    """The orders in ascending id order; InvalidOrderError if two share an id.

    Every consumer of a book starts here, so a book's result never depends on the order in
    which its orders arrive.
    """
    by_id = sorted(orders, key=attrgetter("id"))
    ids = list(map(attrgetter("id"), by_id))
    # In id order a duplicate sits next to its twin; this scan runs in C, unlike a set.
    duplicate = next(compress(ids, map(eq, ids, islice(ids, 1, None))), None)
    if duplicate is not None:
        raise InvalidOrderError(duplicate, "duplicate id")
    return by_id
