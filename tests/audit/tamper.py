"""Tampering with recorded audit input: edit or drop one event, and the rules a report names."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from audit.checks import RULES
from audit.model import Event, Report

Events = list[Event]
Tampering = tuple[str, Callable[[Events], Events], tuple[int | None, str]]
"""(name, the tampering, the (slot, rule) it must be found under)."""


def find(evs: Events, name: str, **match: Any) -> int:
    """Index of the first event `name` whose arguments include `match` (a callable value is a
    test of the argument)."""
    for i, e in enumerate(evs):
        if e.name == name and all(
            v(e.args.get(k)) if callable(v) else e.args.get(k) == v for k, v in match.items()
        ):
            return i
    raise LookupError(f"no {name} with {match}")


def edit(name: str, match: dict[str, Any], **changes: Any) -> Callable[[Events], Events]:
    """A tampering: change arguments of one event. A callable value maps the old value."""

    def apply(evs: Events) -> Events:
        i = find(evs, name, **match)
        args = dict(evs[i].args)
        for key, value in changes.items():
            args[key] = value(args[key]) if callable(value) else value
        evs[i] = dataclasses.replace(evs[i], args=args)
        return evs

    return apply


def drop(name: str, match: dict[str, Any]) -> Callable[[Events], Events]:
    def apply(evs: Events) -> Events:
        del evs[find(evs, name, **match)]
        return evs

    return apply


def rules(report: Report) -> set[tuple[int | None, str]]:
    return {(f.slot, f.rule) for f in report.findings}


def tampering_params(tamperings: list[Tampering]) -> list[Any]:
    """`(tamper, expected)` parameters named by each tampering."""
    return [pytest.param(t, x, id=name) for name, t, x in tamperings]


def assert_found(report: Report, expected: tuple[int | None, str]) -> None:
    """The report fails, names `expected`, and only rules the audit has."""
    assert not report.ok
    assert expected in rules(report), report.to_text()
    assert all(f.rule in RULES for f in report.findings)
