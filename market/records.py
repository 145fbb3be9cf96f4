"""A record (a dataclass of the rulebook or of a service) built field by field from wherever its
values come: an event's arguments, a request body, a stored row. One mechanism for the three, so
a field added to a record is read by each of them without a list of fields written out again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


@cache
def field_names(kind: type) -> tuple[str, ...]:
    """The dataclass `kind`'s field names in order (read once per class: the audit builds a
    record for every event of a community's history)."""
    return tuple(f.name for f in fields(kind))


def record_of(kind: Callable[..., T], value_of: Callable[[str], Any], **given: Any) -> T:
    """`kind` (a dataclass) with each field from `given` if named there, else `value_of(name)`."""
    names = field_names(kind)
    return kind(**{n: given[n] if n in given else value_of(n) for n in names})


def record_from(kind: Callable[..., T], source: object, **given: Any) -> T:
    """`kind` (a dataclass) with each field from `given` if named there, else from `source`'s
    attribute of the same name (a request body, a stored row, another record)."""
    return record_of(kind, lambda name: getattr(source, name), **given)
