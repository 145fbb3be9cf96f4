"""A slot's energy-sharing input and allocation as JSON, for `gridshare allocate`. Pure: the
caller does I/O.

Input::

    {"key": "dynamic" | "static",                        (optional, default "dynamic")
     "members": [{"id": <int>, "net_export_wh": <int>,
                  "participation_pct": <int 1..100>,     (optional, default 100)
                  "share_ppm": <int 0..1000000>}]}       (static: required; dynamic: refused)

Numbers must be JSON integers: 1.0, "1" and true are rejected, as are unknown, missing or
duplicate keys, because a typo in a slot's input is better reported than guessed at. Every
integer is bounded (ids 0..2**63-1, |net_export_wh| <= 2**40), and input Python's JSON reader
cannot take (a number of thousands of digits, arrays nested thousands deep) is reported as
invalid JSON, never as a traceback.

Output::

    {"community_production_wh": E, "community_demand_wh": D, "allocated_wh": A,
     "members": {"<id>": {"consumption_wh", "production_wh", "participating_consumption_wh",
                          "participating_production_wh", "allotment_wh", "allocated_wh",
                          "credited_wh", "surplus_wh"}}}          (every member, by ascending id)
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from market.sharing import (
    MAX_MEMBER_ID,
    Allocation,
    Key,
    SharingInputError,
    SharingMember,
    short_repr,
    validate_members,
)
from market.units import is_int

_INPUT_FIELDS = ("key", "members")
_MEMBER_FIELDS = ("id", "net_export_wh", "participation_pct", "share_ppm")
_REQUIRED_MEMBER_FIELDS = ("id", "net_export_wh")


@dataclass(frozen=True, slots=True)
class SharingInput:
    key: Key
    members: tuple[SharingMember, ...]


def parse_sharing_text(text: str) -> SharingInput:
    """Parse and validate a slot's sharing input from JSON text (SharingInputError)."""
    try:
        obj = json.loads(text, object_pairs_hook=_object_without_duplicate_keys)
    except SharingInputError:  # a duplicate key, from the hook below
        raise
    except RecursionError as e:
        raise SharingInputError(None, "invalid JSON: nested too deeply") from e
    except ValueError as e:  # JSONDecodeError, and ints beyond Python's int-string limit
        message = " ".join(str(e).split())  # one line whatever the reader said
        if "integer string conversion" in message:
            message = f"a number has more than {sys.get_int_max_str_digits()} digits"
        raise SharingInputError(None, f"invalid JSON: {message}") from e
    return parse_sharing(obj)


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise SharingInputError(None, f"invalid JSON: duplicate key {short_repr(key)}")
        obj[key] = value
    return obj


def parse_sharing(obj: object) -> SharingInput:
    """A valid sharing input from parsed JSON, or SharingInputError."""
    if not isinstance(obj, dict):
        raise SharingInputError(None, "the input must be a JSON object")
    _reject_unknown_fields("the input", obj, _INPUT_FIELDS)
    key_name = obj.get("key", Key.DYNAMIC.value)
    if key_name not in tuple(Key):  # a tuple: JSON arrays and objects are unhashable
        raise SharingInputError(
            None, f"key must be 'dynamic' or 'static', got {short_repr(key_name)}"
        )
    key = Key(key_name)
    if "members" not in obj:
        raise SharingInputError(None, "missing field 'members'")
    items = obj["members"]
    if not isinstance(items, list):
        raise SharingInputError(None, "members must be a JSON array")
    members = tuple(_parse_member(index, item, key) for index, item in enumerate(items))
    validate_members(members, key)
    return SharingInput(key, members)


def _parse_member(index: int, item: object, key: Key) -> SharingMember:
    if not isinstance(item, dict):
        raise SharingInputError(None, f"members[{index}]: must be a JSON object")
    if "id" not in item:
        raise SharingInputError(None, f"members[{index}]: missing field 'id'")
    member_id = item["id"]
    if not is_int(member_id) or not 0 <= member_id <= MAX_MEMBER_ID:
        raise SharingInputError(
            None,
            f"members[{index}]: id must be an integer 0..2**63-1, got {short_repr(member_id)}",
        )
    _reject_unknown_fields(f"member {member_id}", item, _MEMBER_FIELDS)
    for name in _REQUIRED_MEMBER_FIELDS:
        if name not in item:
            raise SharingInputError(member_id, f"missing field {name!r}")
    if key is Key.DYNAMIC and "share_ppm" in item:  # even as null: the caller meant static
        raise SharingInputError(member_id, "share_ppm is only used by the static key")
    if key is Key.STATIC and item.get("share_ppm") is None:
        raise SharingInputError(member_id, "the static key needs share_ppm")
    # Types and ranges are checked by validate_members, the one place that knows them.
    return SharingMember(
        id=member_id,
        net_export_wh=item["net_export_wh"],
        participation_pct=item.get("participation_pct", 100),
        share_ppm=item.get("share_ppm"),
    )


def _reject_unknown_fields(label: str, obj: dict[str, Any], known: tuple[str, ...]) -> None:
    for name in obj:
        if name not in known:
            raise SharingInputError(None, f"{label}: unknown field {short_repr(name)}")


def allocation_to_json(allocation: Allocation) -> dict[str, Any]:
    """The allocation as a JSON-ready dict; members by ascending id."""
    return {
        "community_production_wh": allocation.community_production_wh,
        "community_demand_wh": allocation.community_demand_wh,
        "allocated_wh": allocation.allocated_wh,
        "members": {
            str(row.id): {
                "consumption_wh": row.consumption_wh,
                "production_wh": row.production_wh,
                "participating_consumption_wh": row.participating_consumption_wh,
                "participating_production_wh": row.participating_production_wh,
                "allotment_wh": row.allotment_wh,
                "allocated_wh": row.allocated_wh,
                "credited_wh": row.credited_wh,
                "surplus_wh": row.surplus_wh,
            }
            for row in allocation.members()
        },
    }
