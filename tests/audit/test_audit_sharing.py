"""The audit of a `sharing` community: on a recorded run (tests/audit/data/sharing.json, made by
`python -m tests.audit.sharing_scenario`) the untouched record passes and each tampering is found
under the rule it breaks, at the slot it concerns; on a live anvil `gridshare audit` passes the
same scenario end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest

from audit.checks import audit
from audit.model import ChainState, Event, load_events
from chain.devchain import DevChain
from tests.audit.scenario import audit_env
from tests.audit.sharing_scenario import run_sharing_scenario, sharing_scenario_chain
from tests.audit.tamper import (
    Events,
    Tampering,
    assert_found,
    drop,
    edit,
    find,
    rules,
    tampering_params,
)

DATA = Path(__file__).parent / "data" / "sharing.json"
GRIDSHARE = os.path.join(os.path.dirname(sys.executable), "gridshare")


@cache
def recorded() -> tuple[tuple[Event, ...], ChainState]:
    events, state = load_events(DATA.read_text())
    return tuple(events), state


def events() -> Events:
    return list(recorded()[0])


def state() -> ChainState:
    return recorded()[1]


def settled(slot: int, **match: object) -> dict[str, object]:
    """The arguments of `slot`'s first SharingSettled event matching `match`."""
    evs = events()
    return dict(evs[find(evs, "SharingSettled", slot=slot, **match)].args)


def consumer(slot: int) -> str:
    return str(settled(slot, allocatedWh=lambda v: v > 0)["member"])


def producer(slot: int) -> str:
    return str(settled(slot, creditedWh=lambda v: v > 0)["member"])


def test_the_recorded_sharing_run_passes() -> None:
    report = audit(events(), state())
    assert report.findings == [], report.to_text()
    assert report.slots_checked == []  # no order book in the sharing mode
    assert report.slots_metered == list(range(8))
    assert report.periods_checked == [0]
    assert state().sharing_key == "dynamic"


def test_the_record_covers_what_the_rules_check() -> None:
    """The run holds a shortage and a surplus, a participation under 100 %, a withdrawn change
    of terms, a consumer who could not pay in full and a period close."""
    evs = events()
    digests = {e.args["slot"]: e.args for e in evs if e.name == "SharingSlotDigest"}
    assert digests[1]["productionWh"] < digests[1]["demandWh"]
    assert digests[3]["productionWh"] > digests[3]["demandWh"]
    rows = [e.args for e in evs if e.name == "SharingSettled" and e.args["importWh"]]
    partial = [r for r in rows if r["participatingConsumptionWh"] < r["importWh"] - r["exportWh"]]
    assert {r["slot"] for r in partial} >= {3, 5, 7}
    assert any(r["collected"] < r["charged"] for r in rows)
    assert sum(e.name == "SharingTermsScheduled" for e in evs) == 3
    assert any(e.name == "PeriodClosed" and e.args["pool"] > 0 for e in evs)


def _member_at(slot: int, pick: Callable[[int], str]) -> dict[str, object]:
    return {"slot": slot, "member": pick(slot)}


TAMPERINGS: list[Tampering] = [
    (
        "one more Wh allocated to a consumer",
        lambda evs: edit("SharingSettled", _member_at(1, consumer), allocatedWh=lambda v: v + 1)(
            evs
        ),
        (1, "sharing-allocation"),
    ),
    (
        "one Wh less credited to a producer",
        lambda evs: edit("SharingSettled", _member_at(3, producer), creditedWh=lambda v: v - 1)(
            evs
        ),
        (3, "sharing-allocation"),
    ),
    (
        "a consumer charged less",
        lambda evs: edit("SharingSettled", _member_at(5, consumer), charged=lambda v: v - 1)(evs),
        (5, "sharing-money"),
    ),
    (
        "a producer paid more",
        lambda evs: edit("SharingSettled", _member_at(1, producer), paid=lambda v: v + 1)(evs),
        (1, "sharing-money"),
    ),
    (
        "the BaU cost understated",
        lambda evs: edit("SharingSettled", _member_at(1, consumer), bauCost=lambda v: v - 1)(evs),
        (1, "sharing-money"),
    ),
    (
        "a member left out of its chunk's settlement",
        drop("SharingSettled", {"slot": 5, "exportWh": 120}),
        (5, "sharing-members"),
    ),
    (
        "the community production overstated",
        edit("SharingSlotDigest", {"slot": 3, "chunk": 0}, productionWh=lambda v: v + 1),
        (3, "sharing-totals"),
    ),
    (
        "a digest link replaced",
        edit("SharingSlotDigest", {"slot": 5, "chunk": 1}, digest="0x" + "ab" * 32),
        (5, "digest"),
    ),
    (
        "a participation factor changed",
        edit("SharingTermsScheduled", {"participationPct": 60}, participationPct=70),
        (3, "sharing-allocation"),
    ),
    (
        "the change that withdrew an earlier one removed",
        drop("SharingTermsScheduled", {"participationPct": 80}),
        (5, "sharing-allocation"),
    ),
    (
        "a reading's export raised",
        edit("ReadingAccepted", {"slot": 1, "exportWh": 900}, exportWh=901),
        (1, "readings-commitment"),
    ),
    (
        "a member's period export raised",
        edit("PeriodBilled", {"period": 0, "exportWh": 3900}, exportWh=3901),
        (None, "profit-export"),
    ),
]


@pytest.mark.parametrize(("tamper", "expected"), tampering_params(TAMPERINGS))
def test_each_tampering_of_a_sharing_run_is_found_under_its_rule(
    tamper: Callable[[Events], Events], expected: tuple[int | None, str]
) -> None:
    assert_found(audit(tamper(events()), state()), expected)


def test_a_partial_payment_must_leave_its_debt() -> None:
    """The consumer of slot 7 paid part of its charge; the debt it left is what the balance
    could not cover, so raising what it paid (without the tokens moving) is found twice."""
    evs = events()
    row = settled(7, collected=lambda v: v > 0, charged=lambda v: v > 10**11)
    assert int(str(row["collected"])) < int(str(row["charged"]))
    tampered = edit(
        "SharingSettled", {"slot": 7, "member": row["member"]}, collected=lambda v: v + 1
    )(evs)
    found = rules(audit(tampered, state()))
    assert {(7, "debt"), (7, "sharing-money")} <= found


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevChain]:
    with sharing_scenario_chain(tmp_path_factory.mktemp("sharing-audit")) as chain:
        run_sharing_scenario(chain)
        yield chain


def test_gridshare_audit_passes_a_live_sharing_run(live: DevChain) -> None:
    done = subprocess.run(
        [GRIDSHARE, "audit", "--network", live.network_id],
        env={**os.environ, **audit_env(live)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 against meters (0..7)" in done.stdout
    assert "periods checked: 1 [0]" in done.stdout
    assert "discrepancies: 0" in done.stdout
