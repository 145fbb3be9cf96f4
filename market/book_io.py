"""A slot's book and its clearing as JSON, for `gridshare clear`. Pure: the caller does I/O.

Input::

    {"mode": "uniform" | "pay-as-bid" | "community",     (optional, default "uniform")
     "community_price": <int n€/Wh>,                      (community mode only, required there)
     "orders": [{"id": <int>, "side": "buy" | "sell", "energy_wh": <int>,
                 "price": <int n€/Wh>, "owner": "0x..."}]}

Numbers must be JSON integers: 1.0, "1" and true are rejected, as are unknown or duplicate
keys, because a typo in a book is better reported than guessed at. Hostile text is refused as
InvalidBookError too, never as another exception: integers longer than 78 digits (2**256 has
78; Python's int-from-string limit would otherwise raise ValueError inside json.loads), NaN and
Infinity (not JSON), and nesting deep enough to exhaust the parser's recursion.

Output::

    {"clearing_price": <int> | null, "volume_wh": <int>,
     "orders": {"<id>": {"filled_wh": <int>, "amount": <int>}},   (every order, by id)
     "pairs": [{"buy_id": <int>, "sell_id": <int>, "energy_wh": <int>, "price": <int>}]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from market.clearing import Clearing, Mode, check_community_price
from market.orders import InvalidOrderError, Order, Side, sorted_by_id
from market.units import Price

_BOOK_FIELDS = ("mode", "community_price", "orders")
# 78: every uint256 fits, and the clearing's products stay far below Python's int-string
# conversion limit (4300 digits), so the result can always be printed.
_MAX_INT_DIGITS = len(str(2**256))
_ORDER_FIELDS = ("id", "side", "energy_wh", "price", "owner")


class InvalidBookError(ValueError):
    """The book cannot be cleared; the message is one line and names the order at fault."""


@dataclass(frozen=True, slots=True)
class Book:
    mode: Mode
    community_price: Price | None
    orders: tuple[Order, ...]


def parse_book_text(text: str) -> Book:
    """Parse a book from JSON text; any defect, however hostile, is an InvalidBookError."""
    try:
        obj = json.loads(
            text,
            object_pairs_hook=_object_without_duplicate_keys,
            parse_int=_bounded_int,
            parse_constant=_no_constant,
        )
        return parse_book(obj)
    except json.JSONDecodeError as e:
        raise InvalidBookError(f"invalid JSON: {e}") from e
    except RecursionError as e:
        # Raised by json.loads on deep nesting, or by repr() of a deep value in a message.
        raise InvalidBookError("invalid JSON: nested too deeply") from e


def _bounded_int(digits: str) -> int:
    """An integer literal, refused before int() when it is longer than any uint256."""
    length = len(digits.lstrip("-"))
    if length > _MAX_INT_DIGITS:
        raise InvalidBookError(
            f"invalid JSON: a number of {length} digits is too large (at most {_MAX_INT_DIGITS})"
        )
    return int(digits)


def _no_constant(name: str) -> Any:
    raise InvalidBookError(f"invalid JSON: {name} is not a JSON number")


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise InvalidBookError(f"invalid JSON: duplicate key {key!r}")
        obj[key] = value
    return obj


def parse_book(obj: object) -> Book:
    """A valid book from parsed JSON, or InvalidBookError."""
    if not isinstance(obj, dict):
        raise InvalidBookError("the book must be a JSON object")
    _reject_unknown_fields("the book", obj, _BOOK_FIELDS)
    mode_name = obj.get("mode", Mode.UNIFORM.value)
    if mode_name not in tuple(Mode):  # a tuple: JSON arrays and objects are unhashable
        choices = ", ".join(repr(m.value) for m in Mode)
        raise InvalidBookError(f"mode must be one of {choices}, got {mode_name!r}")
    mode = Mode(mode_name)
    community_price = obj.get("community_price")
    try:
        check_community_price(mode, community_price)
    except ValueError as e:
        raise InvalidBookError(str(e)) from e

    if "orders" not in obj:
        raise InvalidBookError("missing field 'orders'")
    items = obj["orders"]
    if not isinstance(items, list):
        raise InvalidBookError("orders must be a JSON array")
    orders = tuple(_parse_order(index, item) for index, item in enumerate(items))
    try:
        sorted_by_id(orders)
    except InvalidOrderError as e:
        raise InvalidBookError(str(e)) from e
    return Book(mode, community_price, orders)


def _parse_order(index: int, item: object) -> Order:
    if not isinstance(item, dict):
        raise InvalidBookError(f"orders[{index}]: must be a JSON object")
    if "id" not in item:
        raise InvalidBookError(f"orders[{index}]: missing field 'id'")
    label = f"order {item['id']!r}"
    _reject_unknown_fields(label, item, _ORDER_FIELDS)
    for name in _ORDER_FIELDS:
        if name not in item:
            raise InvalidBookError(f"{label}: missing field {name!r}")
    side = item["side"]
    if side not in tuple(Side):
        raise InvalidBookError(f"{label}: side must be 'buy' or 'sell', got {side!r}")
    try:
        return Order(
            id=item["id"],
            side=Side(side),
            energy_wh=item["energy_wh"],
            price=item["price"],
            owner=item["owner"],
        )
    except InvalidOrderError as e:
        raise InvalidBookError(f"{label}: {e.message}") from e


def _reject_unknown_fields(label: str, obj: dict[str, Any], known: tuple[str, ...]) -> None:
    for name in obj:
        if name not in known:
            raise InvalidBookError(f"{label}: unknown field {name!r}")


def clearing_to_json(clearing: Clearing) -> dict[str, Any]:
    """The clearing as a JSON-ready dict; orders by ascending id."""
    return {
        "clearing_price": clearing.clearing_price,
        "volume_wh": clearing.volume_wh,
        "orders": {
            str(order_id): {
                "filled_wh": clearing.fills[order_id].filled_wh,
                "amount": clearing.fills[order_id].amount,
            }
            for order_id in sorted(clearing.fills)
        },
        "pairs": [
            {
                "buy_id": pair.buy_id,
                "sell_id": pair.sell_id,
                "energy_wh": pair.energy_wh,
                "price": pair.price,
            }
            for pair in clearing.pairs
        ],
    }
