"""The audit's pure checks on a recorded chain (tests/audit/data/chain.json, made by
`python -m tests.audit.scenario`): the untouched record passes, and each tampering with an
event, or with the chain's state, is found under the rule it breaks, at the slot it concerns."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from audit.checks import RULES, audit
from audit.model import ChainState, Event, Finding, Report, dump_events, load_events

DATA = Path(__file__).parent / "data" / "chain.json"
Events = list[Event]


@cache
def recorded() -> tuple[tuple[Event, ...], ChainState]:
    events, state = load_events(DATA.read_text())
    return tuple(events), state


def events() -> Events:
    return list(recorded()[0])


def state() -> ChainState:
    return recorded()[1]


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


def test_the_recorded_chain_passes_in_every_mode() -> None:
    report = audit(events(), state())
    assert report.findings == []
    assert report.ok
    assert report.slots_checked == list(range(9))
    assert report.slots_metered == list(range(8))
    assert report.periods_checked == [0, 1]
    modes = {e.args["mode"] for e in events() if e.name == "SlotSettled" and e.args["volumeWh"]}
    assert modes == {0, 1, 2}  # uniform, pay-as-bid and community slots that traded
    assert report.to_json()["discrepancies"] == []
    assert "discrepancies: 0" in report.to_text()


def test_event_order_does_not_matter() -> None:
    assert audit(list(reversed(events())), state()).findings == []


def test_the_record_round_trips_through_json() -> None:
    evs, st = load_events(dump_events(events(), state()))
    assert (evs, st) == (events(), state())


OUTSIDER = "0x" + "77" * 20
CONTRACT_ROLE_IDS = {
    name: "0x" + keccak(text=name).hex()
    for name in ("MARKET_ROLE", "COLLECTOR_ROLE", "MEMBERSHIP_ROLE")
}

TAMPERINGS: list[tuple[str, Callable[[Events], Events], tuple[int | None, str]]] = [
    # clearing
    (
        "uniform price off by one",
        edit("SlotSettled", {"slot": 1}, price=100_001),
        (1, "clearing-price"),
    ),
    (
        "less than the maximum volume",
        edit("SlotSettled", {"slot": 1}, fills=[1500, 0, 1500, 0], volumeWh=1500),
        (1, "clearing-volume"),
    ),
    (
        "fills moved between buyers",
        edit("SlotSettled", {"slot": 2}, fills=[2000, 2500, 500][::-1]),
        (2, "clearing-fills"),
    ),
    (
        "pay-as-bid pairs reordered",
        edit("SlotSettled", {"slot": 3}, pairs=lambda p: p[::-1]),
        (3, "clearing-pairs"),
    ),
    (
        "community leftover Wh to the wrong order",
        edit("SlotSettled", {"slot": 5}, fills=[733, 367, 800, 300]),
        (5, "clearing-fills"),
    ),
    ("wrong clearing mode", edit("SlotSettled", {"slot": 3}, mode=0), (3, "clearing-mode")),
    ("unknown clearing mode", edit("SlotSettled", {"slot": 6}, mode=7), (6, "clearing-mode")),
    ("an order of 0 Wh", edit("OrderPlaced", {"slot": 3, "side": 1}, energyWh=0), (3, "order")),
    ("an order above retail", edit("OrderPlaced", {"slot": 5}, limitPrice=300_000), (5, "order")),
    ("an order placed twice", edit("OrderPlaced", {"slot": 4}, id=1), (4, "order")),
    ("slot settled out of sequence", drop("SlotSettled", {"slot": 4}), (5, "slot-gap")),
    # money of trades
    (
        "platform fee",
        edit("SlotSettled", {"slot": 1}, platformFees=lambda v: v + 1),
        (1, "platform-fee"),
    ),
    (
        "network fee",
        edit("SlotSettled", {"slot": 6}, networkFees=lambda v: v - 1),
        (6, "network-fee"),
    ),
    (
        "trade value",
        edit("SlotSettled", {"slot": 3}, tradeValue=lambda v: v + 5),
        (3, "trade-value"),
    ),
    (
        "escrow of a buy",
        edit("OrderPlaced", {"slot": 2, "side": 0}, escrow=lambda v: v - 1),
        (2, "order-escrow"),
    ),
    ("cancel refund", edit("OrderCancelled", {}, refund=lambda v: v + 1), (1, "cancel-refund")),
    (
        "escrow released",
        edit("SlotClosed", {"slot": 1}, escrowReleased=lambda v: v + 1),
        (1, "slot-escrow"),
    ),
    # meters
    (
        "imbalance energy charge",
        edit(
            "ImbalanceSettled",
            {"slot": 1, "exportWh": 0, "importWh": 10_000},
            energyCharge=lambda v: v + 1,
        ),
        (1, "imbalance-charge"),
    ),
    (
        "imbalance credit",
        edit("ImbalanceSettled", {"slot": 0, "importWh": 0}, credit=lambda v: v * 2),
        (0, "imbalance-charge"),
    ),
    (
        "traded position",
        edit("ImbalanceSettled", {"slot": 3, "importWh": 0, "exportWh": 700}, tradedNetSoldWh=0),
        (3, "imbalance-position"),
    ),
    ("BaU cost", edit("ImbalanceSettled", {"slot": 2}, bauCost=lambda v: v - 1), (2, "bau-cost")),
    (
        "reading altered after commitment",
        edit("ReadingAccepted", {"slot": 2, "importWh": 0, "exportWh": 2500}, exportWh=2400),
        (2, "readings-commitment"),
    ),
    (
        "collected beyond what the charge allows",
        edit("ImbalanceSettled", {"slot": 1, "importWh": 10_000}, collected=lambda v: v + 1),
        (1, "debt"),
    ),
    ("debt not recorded", drop("DebtRecorded", {}), (1, "debt")),
    ("broken digest link", edit("SlotDigest", {"slot": 4}, digest="0x" + "ab" * 32), (4, "digest")),
    (
        "last digest differs on chain",
        edit("SlotDigest", {"slot": 7}, digest="0x" + "cd" * 32),
        (7, "digest-onchain"),
    ),
    # periods
    (
        "profit pool",
        edit("PeriodClosed", {"period": 0}, pool=lambda v: v + 1),
        (None, "profit-pool"),
    ),
    (
        "profit share",
        edit("PeriodBilled", {"period": 1, "share": bool}, share=lambda v: v - 1),
        (None, "profit-share"),
    ),
    (
        "period fees",
        edit("PeriodClosed", {"period": 1}, platformFees=lambda v: v + 2),
        (None, "profit-fees"),
    ),
    ("service fee", edit("PeriodClosed", {"period": 0}, serviceFee=1), (None, "service-fee")),
    ("member left out of a period", drop("PeriodBilled", {"period": 0}), (None, "profit-members")),
    ("exit penalty", edit("ExitRequested", {}, penalty=5), (None, "exit")),
    # conservation
    ("a payout transfer lost", drop("Transfer", {"value": 80_000_000}), (None, "conservation")),
    (
        "tokens minted without a top-up",
        drop("TopUp", {"amount": 50 * 10**9}),
        (None, "conservation"),
    ),
    # roles: the admin grants a role that moves members' tokens to an account of its own
    (
        "market role granted to an outsider",
        edit("RoleGranted", {"role": CONTRACT_ROLE_IDS["MARKET_ROLE"]}, account=OUTSIDER),
        (None, "roles"),
    ),
    (
        "collector role granted to an outsider",
        edit("RoleGranted", {"role": CONTRACT_ROLE_IDS["COLLECTOR_ROLE"]}, account=OUTSIDER),
        (None, "roles"),
    ),
    (
        "membership role granted to an outsider",
        edit("RoleGranted", {"role": CONTRACT_ROLE_IDS["MEMBERSHIP_ROLE"]}, account=OUTSIDER),
        (None, "roles"),
    ),
    (
        "a redemption burned more",
        edit("Transfer", {"value": 10**9, "to": "0x" + "00" * 20}, value=2 * 10**9),
        (None, "conservation"),
    ),
]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [pytest.param(t, x, id=name) for name, t, x in TAMPERINGS],
)
def test_each_tampering_is_found_under_its_rule(
    tamper: Callable[[Events], Events], expected: tuple[int | None, str]
) -> None:
    report = audit(tamper(events()), state())
    assert not report.ok
    assert expected in rules(report), report.to_text()
    assert all(f.rule in RULES for f in report.findings)


def test_a_different_tariff_in_force_is_found_in_every_slot_it_governs() -> None:
    """Slots 6 and 7 settled under the tariff scheduled last (grid fee 90000); had a grid fee
    of 100000 been in force, slot 6's fees and every shortfall charge would be wrong."""
    tampered = events()
    i = [k for k, e in enumerate(tampered) if e.name == "TariffScheduled"][-1]
    tariff = list(tampered[i].args["tariff"])
    tariff[2] = 100_000  # gridFee (fields of contracts/lib/MarketTypes.sol's Tariff)
    tariff[4] = 7_000  # tradeFeeBuy
    tampered[i] = dataclasses.replace(tampered[i], args={**tampered[i].args, "tariff": tariff})
    found = rules(audit(tampered, state()))
    assert (6, "platform-fee") in found
    assert (6, "imbalance-charge") in found  # carol's 200 Wh shortfall at the grid fee
    assert not any(slot is not None and slot < 6 for slot, _ in found)


def test_state_that_the_events_do_not_explain_is_a_conservation_break() -> None:
    st = state()
    holder = next(iter(st.balances))
    richer = dataclasses.replace(st, balances={**st.balances, holder: st.balances[holder] + 1})
    report = audit(events(), richer)
    assert report.findings == [
        Finding(
            None,
            "conservation",
            f"balance of {holder} is {st.balances[holder] + 1}, events give {st.balances[holder]}",
        )
    ]
    more_debt = dataclasses.replace(st, total_debt=st.total_debt + 1)
    assert rules(audit(events(), more_debt)) == {(None, "conservation")}


def test_the_report_names_slot_and_rule() -> None:
    report = audit(edit("SlotSettled", {"slot": 1}, price=100_001)(events()), state())
    text = report.to_text()
    assert "slot 1: clearing-price: chain has 100001, the rulebook gives 100000" in text
    assert text.endswith("FAILED")
    as_json = report.to_json()
    assert as_json["ok"] is False
    assert {"slot": 1, "rule": "clearing-price"}.items() <= as_json["discrepancies"][0].items()


def test_relayed_flexibility_offers_use_each_nonce_once_and_make_their_offer() -> None:
    from audit.checks import _Auditor

    member = "0x" + "a1" * 20

    def ev(name: str, tx: str, log_index: int, **args: Any) -> Event:
        return Event("Flexibility", name, args, 1, log_index, tx)

    def signed(tx: str, log_index: int, nonce: int, rid: int = 0) -> Event:
        return ev("FlexOfferSigned", tx, log_index, requestId=rid, member=member, nonce=nonce)

    offered = ev("FlexOffered", "0x01", 0, requestId=0, index=0, member=member)
    auditor = _Auditor(state())
    for tx_events in ([offered, signed("0x01", 1, 5)], [signed("0x02", 0, 5)]):
        auditor.tx = tx_events
        auditor.on_FlexOfferSigned(tx_events[-1])
    assert [(f.rule, f.detail) for f in auditor.findings] == [
        ("flex-offer", f"{member} nonce 5 used twice"),
        ("flex-offer", f"request 0: signed offer of {member} not made"),
    ]
