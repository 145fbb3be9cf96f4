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

from audit.checks import FIRST_INTENT_ID, MASK64, RULES, audit
from audit.model import ChainState, Event, Finding, dump_events, load_events
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

DATA = Path(__file__).parent / "data" / "chain.json"


@cache
def recorded() -> tuple[tuple[Event, ...], ChainState]:
    events, state = load_events(DATA.read_text())
    return tuple(events), state


def events() -> Events:
    return list(recorded()[0])


def state() -> ChainState:
    return recorded()[1]


def rebill(period: int) -> Callable[[Events], Events]:
    """A tampering of a chunked period close: the second chunk's first member is the first
    chunk's first member again (billed twice, the close going back)."""

    def apply(evs: Events) -> Events:
        billed = [
            i for i, e in enumerate(evs) if e.name == "PeriodBilled" and e.args["period"] == period
        ]
        first, second = evs[billed[0]], evs[billed[4]]
        assert first.tx != second.tx  # the scenario closes in chunks of four
        evs[billed[4]] = dataclasses.replace(
            second, args={**second.args, "member": first.args["member"]}
        )
        return evs

    return apply


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


def moved(evs: Events, txs: set[str], block: int, tx: str) -> Events:
    """`evs` with the events of `txs` moved into transaction `tx` of `block`, after its own,
    in the same order."""
    out, offset = [], 1000
    for e in sorted(evs, key=lambda e: (e.block, e.log_index)):
        if e.tx in txs:
            e = dataclasses.replace(e, tx=tx, block=block, log_index=offset)
            offset += 1
        out.append(e)
    return out


def batched(evs: Events, slot: int) -> Events:
    """The record as if `slot`'s settlements against the meters (one transaction per chunk,
    in consecutive blocks) had been one `settleImbalances` batch: their events moved into the
    first one's transaction, in the same order."""
    txs = sorted(
        {(e.block, e.tx) for e in evs if e.name == "SlotDigest" and e.args["slot"] == slot}
    )
    (block, tx), rest = txs[0], {t for _, t in txs[1:]}
    assert [b for b, _ in txs] == list(range(block, block + len(txs)))  # nothing in between
    return moved(evs, rest, block, tx)


def test_a_batch_of_slot_chunks_in_one_transaction_is_checked_entry_by_entry() -> None:
    evs = batched(events(), 2)
    merged = {e.tx for e in evs if e.name == "SlotDigest" and e.args["slot"] == 2}
    assert len(merged) == 1
    assert sum(e.name == "ImbalanceSettled" and e.args["slot"] == 2 for e in evs) >= 2
    assert audit(evs, state()).findings == []
    # A charge collected in the batch's second entry, inflated: found at its slot, as alone.
    i = next(
        i
        for i, e in enumerate(evs)
        if e.name == "Transfer" and e.tx in merged and e.log_index >= 1000
    )
    inflated = {**evs[i].args, "value": int(evs[i].args["value"]) + 1}
    evs[i] = dataclasses.replace(evs[i], args=inflated)
    assert_found(audit(evs, state()), (2, "debt"))


def carried(evs: Events, slot: int, into: int) -> Events:
    """The record as if `slot`'s settlements against the meters had been carried by slot
    `into`'s trade settlement (`SettlementRouter`): their events moved into its transaction."""
    imbalance = {e.tx for e in evs if e.name == "SlotDigest" and e.args["slot"] == slot}
    ((block, tx),) = {
        (e.block, e.tx) for e in evs if e.name == "SlotSettled" and e.args["slot"] == into
    }
    return moved(evs, imbalance, block, tx)


def test_settlements_against_meters_carried_by_a_slot_settlement_are_checked_apart() -> None:
    evs = carried(events(), 2, into=4)
    (tx,) = {e.tx for e in evs if e.name == "SlotSettled" and e.args["slot"] == 4}
    names = [e.name for e in sorted(evs, key=lambda e: (e.block, e.log_index)) if e.tx == tx]
    assert names[0] == "SlotSettled" and names.count("SlotDigest") >= 2
    assert audit(evs, state()).findings == []
    # A charge collected in the carried part, inflated: found at its slot, as alone.
    charged = {
        e.args["member"]
        for e in evs
        if e.name == "ImbalanceSettled" and e.tx == tx and int(e.args["collected"]) > 0
    }
    i = next(
        i
        for i, e in enumerate(evs)
        if e.name == "Transfer" and e.tx == tx and e.log_index >= 1000 and e.args["from"] in charged
    )
    inflated = {**evs[i].args, "value": int(evs[i].args["value"]) + 1}
    evs[i] = dataclasses.replace(evs[i], args=inflated)
    assert_found(audit(evs, state()), (2, "debt"))


def test_event_order_does_not_matter() -> None:
    assert audit(list(reversed(events())), state()).findings == []


def test_the_record_round_trips_through_json() -> None:
    evs, st = load_events(dump_events(events(), state()))
    assert (evs, st) == (events(), state())


OUTSIDER = "0x" + "77" * 20
CONTRACT_ROLE_IDS = {
    name: "0x" + keccak(text=name).hex()
    for name in ("MARKET_ROLE", "COLLECTOR_ROLE", "MEMBERSHIP_ROLE", "INTENTS_ROLE")
}

TAMPERINGS: list[Tampering] = [
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
    # chunks of members (CLOSE_CHUNK members a chunk in the scenario)
    (
        "another chunk's link broken",
        edit("SlotDigest", {"slot": 4, "chunk": 1}, digest="0x" + "ab" * 32),
        (4, "digest"),
    ),
    (
        "a chunk settles a slot twice",
        edit("SlotDigest", {"slot": 5, "chunk": 2}, slot=4),
        (4, "slot-gap"),
    ),
    (
        "a member put in a chunk never opened",
        edit("MemberRegistered", {"chunk": 2}, chunk=7),
        (None, "chunks"),
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
    ("a close chunk going back", rebill(0), (None, "profit-members")),
    (
        "battery lease above the one set",
        edit("PeriodBilled", {"lease": lambda v: int(v) > 0}, lease=lambda v: int(v) + 1),
        (None, "lease"),
    ),
    ("a lease set, then hidden", drop("LeaseSet", {"perPeriod": 0}), (None, "lease")),
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
        "intents role (revokes anyone's intents) granted to an outsider",
        edit("RoleGranted", {"role": CONTRACT_ROLE_IDS["INTENTS_ROLE"]}, account=OUTSIDER),
        (None, "roles"),
    ),
    (
        "a redemption burned more",
        edit("Transfer", {"value": 10**9, "to": "0x" + "00" * 20}, value=2 * 10**9),
        (None, "conservation"),
    ),
]


@pytest.mark.parametrize(("tamper", "expected"), tampering_params(TAMPERINGS))
def test_each_tampering_is_found_under_its_rule(
    tamper: Callable[[Events], Events], expected: tuple[int | None, str]
) -> None:
    assert_found(audit(tamper(events()), state()), expected)


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


# Signed intents: slot 6 carries one beside its direct orders, slot 7 only intents (the
# scenario's INTENTS). A slot's book is its direct orders, then SlotSettled's intents.

SELL_BIT = 1 << 240
CANCELLED_BIT = 1 << 241
ENERGY_SHIFT, PRICE_SHIFT, MASK40 = 160, 200, (1 << 40) - 1
Intents = tuple[list[int], list[int], list[int], list[int]]  # intent words, ids, aux, fills


def terms(word: int) -> tuple[str, int, int]:
    side = "sell" if word & SELL_BIT else "buy"
    return side, (word >> ENERGY_SHIFT) & MASK40, (word >> PRICE_SHIFT) & MASK40


def with_terms(word: int, energy: int | None = None, price: int | None = None) -> int:
    if energy is not None:
        word = (word & ~(MASK40 << ENERGY_SHIFT)) | (energy << ENERGY_SHIFT)
    if price is not None:
        word = (word & ~(MASK40 << PRICE_SHIFT)) | (price << PRICE_SHIFT)
    return word


def settled(evs: Events, slot: int) -> Event:
    return evs[find(evs, "SlotSettled", slot=slot)]


def intent_at(evs: Events, slot: int, side: str, energy: int, price: int) -> int:
    """Book index of the slot's intent with these terms (ids, so positions, vary per record)."""
    e = settled(evs, slot)
    words = e.args["intentWords"]
    k = [terms(int(w)) for w in words].index((side, energy, price))
    return len(e.args["fills"]) - len(words) + k


def edit_intents(
    slot: int, change: Callable[[Events, Intents], Intents]
) -> Callable[[Events], Events]:
    """A tampering of a slot's intents: `change` maps (words, ids, aux, fills) to new ones."""

    def apply(evs: Events) -> Events:
        i = find(evs, "SlotSettled", slot=slot)
        a = evs[i].args
        words, ids, aux, fills = change(
            evs,
            (
                [int(w) for w in a["intentWords"]],
                [int(x) for x in a["intentIds"]],
                [int(x) for x in a["intentAux"]],
                list(a["fills"]),
            ),
        )
        args = {**a, "intentWords": words, "intentIds": ids, "intentAux": aux, "fills": fills}
        evs[i] = dataclasses.replace(evs[i], args=args)
        return evs

    return apply


def intent_word(
    slot: int, side: str, energy: int, price: int, change: Callable[[int], int]
) -> Callable[[Events], Events]:
    """Change one intent's order word."""

    def apply(evs: Events, x: Intents) -> Intents:
        words, ids, aux, fills = x
        k = intent_at(evs, slot, side, energy, price) - (len(fills) - len(words))
        words[k] = change(words[k])
        return words, ids, aux, fills

    return edit_intents(slot, apply)


def move_fill(
    slot: int, source: tuple[str, int, int], to: tuple[str, int, int], wh: int
) -> Callable[[Events], Events]:
    def apply(evs: Events, x: Intents) -> Intents:
        words, ids, aux, fills = x
        fills[intent_at(evs, slot, *source)] -= wh
        fills[intent_at(evs, slot, *to)] += wh
        return words, ids, aux, fills

    return edit_intents(slot, apply)


def swap_first_two(evs: Events, x: Intents) -> Intents:
    words, ids, aux, fills = x
    d = len(fills) - len(words)
    words[0], words[1] = words[1], words[0]
    ids[0], ids[1] = ids[1], ids[0]
    aux[0], aux[1] = aux[1], aux[0]
    fills[d], fills[d + 1] = fills[d + 1], fills[d]
    return words, ids, aux, fills


def first_id_direct(evs: Events, x: Intents) -> Intents:
    words, ids, aux, fills = x
    ids[0] = 5
    return words, ids, aux, fills


def one_id_short(evs: Events, x: Intents) -> Intents:
    words, ids, aux, fills = x
    return words, ids[:-1], aux, fills


def replay_into_slot_8(evs: Events, x: Intents) -> Intents:
    """Slot 8 carries slot 7's unfilled intent again (its id was settled in slot 7)."""
    words, ids, aux, fills = x
    seven = settled(evs, 7).args
    k = intent_at(evs, 7, *UNFILLED) - (len(seven["fills"]) - len(seven["intentWords"]))
    return (
        [*words, int(seven["intentWords"][k])],
        [*ids, int(seven["intentIds"][k])],
        [*aux, int(seven["intentAux"][k])],
        [*fills, 0],
    )


GINA_SELLS = ("sell", 800, 90_000)
GINA_BUYS = ("buy", 200, 160_000)
HANK_BUYS = ("buy", 500, 150_000)
UNFILLED = ("buy", 100, 80_000)  # hank's low bid
IVY_BUYS = ("buy", 600, 120_000)  # 100 Wh of it filled


def ivy() -> str:
    """The member that revoked (the scenario's ivy)."""
    return str(next(e for e in events() if e.name == "IntentsRevoked").args["member"])


def settlement() -> str:
    return state().contracts["Settlement"]


def moved_slot_7_before_slot_6(evs: Events) -> Events:
    """Slot 7's settlement transaction mined just before slot 6's."""
    tx = settled(evs, 7).tx
    six = settled(evs, 6)
    return [
        dataclasses.replace(e, block=six.block, log_index=e.log_index - 1000) if e.tx == tx else e
        for e in evs
    ]


def ivy_topped_up_less(evs: Events) -> Events:
    """Ivy's top-up just enough for period 0's 2 € service fee and a cent: her filled buy in
    slot 7 (100 Wh at 105000 + 46000 n€/Wh) exceeds what she could spend."""
    i = find(evs, "Transfer", to=ivy(), **{"from": ZERO})
    evs[i] = dataclasses.replace(evs[i], args={**evs[i].args, "value": 2 * 10**9 + 10_000_000})
    return evs


ZERO = "0x" + "00" * 20

INTENT_TAMPERINGS: list[Tampering] = [
    (
        "an intent's energy changed",
        intent_word(7, *GINA_SELLS, lambda w: with_terms(w, energy=900)),
        (7, "clearing-volume"),
    ),
    (
        "a fill moved from a partly filled intent to an unfilled one",
        move_fill(7, IVY_BUYS, UNFILLED, 100),
        (7, "clearing-fills"),
    ),
    (
        "an intent's fill feeds the slot's trades and digest",
        move_fill(7, HANK_BUYS, GINA_BUYS, 100),
        (7, "digest"),
    ),
    (
        "an intent's fill in a book with direct orders",
        edit("SlotSettled", {"slot": 6}, fills=lambda f: [f[0], f[1] - 50, f[2] - 50]),
        (6, "clearing-fills"),
    ),
    (
        "an intent priced above retail",
        intent_word(7, *IVY_BUYS, lambda w: with_terms(w, price=250_000)),
        (7, "intent"),
    ),
    (
        "a consumer's sell intent",
        intent_word(7, *UNFILLED, lambda w: w | SELL_BIT),
        (7, "intent"),
    ),
    (
        "an intent of a non-member",
        intent_word(7, *UNFILLED, lambda w: (w >> 160 << 160) | int(OUTSIDER, 16)),
        (7, "intent"),
    ),
    (
        "an intent word with the cancelled bit",
        intent_word(7, *UNFILLED, lambda w: w | CANCELLED_BIT),
        (7, "intent"),
    ),
    ("intents out of id order", edit_intents(7, swap_first_two), (7, "intent")),
    ("an intent id among the direct ids", edit_intents(7, first_id_direct), (7, "intent")),
    ("intent words without their ids", edit_intents(7, one_id_short), (7, "intent")),
    ("an intent settled in two slots", edit_intents(8, replay_into_slot_8), (8, "intent")),
    (
        "a holder's debit to the pass-through changed",
        edit(
            "Transfer",
            {"from": lambda a: a == ivy(), "to": lambda a: a == settlement()},
            value=lambda v: v - 1,
        ),
        (7, "slot-payouts"),
    ),
    (
        "Settlement keeps part of a direct seller's earnings",
        edit(
            "Transfer",
            {"from": lambda a: a == settlement(), "value": 115_000_000},
            value=lambda v: v - 1,
        ),
        (6, "slot-payouts"),
    ),
    ("a holder's buys not covered", ivy_topped_up_less, (7, "intent-cover")),
    (
        "a revocation skipping an epoch",
        edit("IntentsRevoked", {}, epoch=2),
        (None, "intent-revoke"),
    ),
    ("slot 7 settled before slot 6", moved_slot_7_before_slot_6, (6, "slot-gap")),
]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [pytest.param(t, x, id=name) for name, t, x in INTENT_TAMPERINGS],
)
def test_each_intent_tampering_is_found_under_its_rule(
    tamper: Callable[[Events], Events], expected: tuple[int | None, str]
) -> None:
    report = audit(tamper(events()), state())
    assert expected in rules(report), report.to_text()
    assert all(f.rule in RULES for f in report.findings)


def forged_id(evs: Events, x: Intents) -> Intents:
    """Gina's sell in slot 7 carried under an id the matcher made up, between its neighbours'
    (so the ids stay ascending and the book's order is unchanged)."""
    words, ids, aux, fills = x
    k = intent_at(evs, 7, *GINA_SELLS) - (len(fills) - len(words))
    low = ids[k - 1] if k else FIRST_INTENT_ID
    ids[k] = (low + ids[k]) // 2
    return words, ids, aux, fills


def ivy_revoked_again_before_slot_7(evs: Events) -> Events:
    """Ivy revokes once more just before slot 7 settles: slot 7 still carries her intent signed
    under the epoch before (a replay under an old epoch)."""
    r = evs[find(evs, "IntentsRevoked")]
    seven = settled(evs, 7)
    again = dataclasses.replace(
        r,
        args={**r.args, "epoch": int(r.args["epoch"]) + 1},
        block=seven.block,
        log_index=-1,
        tx="0x" + "ee" * 32,
    )
    return [*evs, again]


def slot_7_settled_late(st: ChainState) -> ChainState:
    """Slot 7's settling block a second after its earliest intent's deadline (the scenario's
    deadlines are a second apart, so exactly one has passed)."""
    seven = settled(events(), 7)
    deadlines = sorted(int(x) & MASK64 for x in seven.args["intentAux"])
    assert deadlines[0] < deadlines[1]
    times = dict(st.block_times)
    times[seven.block] = deadlines[0] + 1
    return dataclasses.replace(st, block_times=tuple(times.items()))


def minimum_above_smallest_intent(st: ChainState) -> ChainState:
    """A minimum order energy a Wh above hank's 100 Wh bid in slot 7, the smallest intent."""
    return dataclasses.replace(st, min_order_wh=UNFILLED[1] + 1)


def first_slot_later(st: ChainState) -> ChainState:
    return dataclasses.replace(st, trade_first_slot=st.trade_first_slot + 1)


def same_events(evs: Events) -> Events:
    return evs


def same_state(st: ChainState) -> ChainState:
    return st


EXACT_TAMPERINGS: list[
    tuple[str, Callable[[Events], Events], Callable[[ChainState], ChainState], Finding]
] = [
    ("a forged intent id", edit_intents(7, forged_id), same_state, Finding(7, "intent-id", "")),
    (
        "an intent under an old epoch",
        ivy_revoked_again_before_slot_7,
        same_state,
        Finding(7, "intent-epoch", ""),
    ),
    (
        "an expired intent",
        same_events,
        slot_7_settled_late,
        Finding(7, "intent-deadline", ""),
    ),
    (
        "an intent below the minimum energy",
        same_events,
        minimum_above_smallest_intent,
        Finding(7, "intent-energy", ""),
    ),
    (
        "a slot before Settlement.firstSlot",
        same_events,
        first_slot_later,
        Finding(0, "slot-first", ""),
    ),
]


@pytest.mark.parametrize(
    ("tamper_events", "tamper_state", "expected"),
    [pytest.param(e, s, x, id=name) for name, e, s, x in EXACT_TAMPERINGS],
)
def test_each_intent_term_tampering_gives_exactly_its_finding(
    tamper_events: Callable[[Events], Events],
    tamper_state: Callable[[ChainState], ChainState],
    expected: Finding,
) -> None:
    """What the contract checks outside the order word (the id's hash, the epoch, the deadline,
    the minimum energy, the first slot), rebuilt from SlotSettled's intentAux, the revocations,
    the block's time and Settlement's immutables: each break is exactly one finding."""
    report = audit(tamper_events(events()), tamper_state(state()))
    assert [(f.slot, f.rule) for f in report.findings] == [(expected.slot, expected.rule)], (
        report.to_text()
    )
    assert expected.rule in RULES


def test_the_record_settles_intents_beside_direct_orders_and_alone() -> None:
    """Slot 6: one intent after two direct orders; slot 7: intents only, ids ascending, with
    Settlement as the pass-through (it nets zero in each settlement and holds nothing)."""
    evs = events()
    six, seven = settled(evs, 6).args, settled(evs, 7).args
    assert (len(six["fills"]), len(six["intentIds"])) == (3, 1)
    assert len(seven["fills"]) == len(seven["intentIds"]) == 5
    ids = [int(x) for x in seven["intentIds"]]
    assert ids == sorted(ids) and min(ids) >= 1 << 64
    assert [seven["fills"][intent_at(evs, 7, *t)] for t in (GINA_SELLS, IVY_BUYS, UNFILLED)] == [
        800,
        100,
        0,
    ]
    for slot in (6, 7):
        tx = settled(evs, slot).tx
        net = sum(
            int(e.args["value"])
            * ((e.args["to"] == settlement()) - (e.args["from"] == settlement()))
            for e in evs
            if e.tx == tx and e.name == "Transfer"
        )
        assert net == 0
    assert state().balances.get(settlement(), 0) == 0


def test_statements_add_up_to_the_token_movements() -> None:
    """Untouched, every member's statement and the DSO's add up to its replayed balance (the
    recorded chain passes); a profit share the events claim but no token paid is found under
    `statement` (as well as under the sharing rule it breaks)."""
    assert "statement" in RULES
    assert audit(events(), state()).findings == []
    tampered = edit("PeriodBilled", {"share": lambda v: int(v) > 0}, share=lambda v: int(v) + 1)

    def find_event(evs: Events) -> str:
        return str(evs[find(evs, "PeriodBilled", share=lambda v: int(v) > 0)].args["member"])

    report = audit(tampered(events()), state())
    found = [f.detail.split(":")[0] for f in report.findings if f.rule == "statement"]
    assert found == [str(find_event(tampered(events()))), "DSO"]


def as_spans(evs: Events) -> Events:
    """The recorded readings as one-reading spans (ReadingSpanAccepted) in the same places, as
    the relay's `submitReadingSpans` would have announced them."""
    return [
        dataclasses.replace(
            e,
            name="ReadingSpanAccepted",
            args={
                "meterId": e.args["meterId"],
                "member": e.args["member"],
                "firstSlot": e.args["slot"],
                "firstSequence": e.args["sequence"],
                "readings": [int(e.args["importWh"]) << 64 | int(e.args["exportWh"])],
            },
        )
        if e.name == "ReadingAccepted"
        else e
        for e in evs
    ]


def test_readings_announced_in_spans_are_audited_reading_by_reading() -> None:
    """A transaction's span events are read as their readings (in MeterReadings' commit order):
    untouched the record passes; a span's reading altered after its slot's commitment, or a
    span of a meter registered to another member, is found at that slot."""
    spans = as_spans(events())
    assert "ReadingAccepted" not in {e.name for e in spans}
    assert audit(spans, state()).findings == []
    altered = list(spans)
    i = find(altered, "ReadingSpanAccepted", firstSlot=2, readings=[2500])
    altered[i] = dataclasses.replace(altered[i], args={**altered[i].args, "readings": [2400]})
    assert_found(audit(altered, state()), (2, "readings-commitment"))
    foreign = list(spans)
    j = find(foreign, "ReadingSpanAccepted", firstSlot=3)
    other = next(
        e.args["member"]
        for e in spans
        if e.args.get("member") not in (None, foreign[j].args["member"])
    )
    foreign[j] = dataclasses.replace(foreign[j], args={**foreign[j].args, "member": other})
    assert_found(audit(foreign, state()), (3, "readings"))
