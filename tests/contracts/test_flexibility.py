"""Flexibility: requests, offers, merit-order acceptance checked on-chain (tamper cases), and
payment and shortfall penalty against the meter baseline (edge cases: a member with fewer than
5 days of history, none at all, no reading in the delivered slot).

The module's market has 6-hour slots (4 a day), so a week of history is a few dozen slots.
Every outcome is compared with the rulebook's (market/flexibility.py via chain/flexibility.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from brownie import accounts

from chain.flexibility import (
    FlexRequest,
    acceptance,
    accepted_indexes,
    decode_offers,
    net_import,
    outcomes,
    segment_slots,
    settlement_words,
)
from gridshare.settings import Settings
from market.flexibility import Direction
from tests.contracts.conftest import EUR, METER_KEYS, _ref
from tests.contracts.helpers import (
    SlotRunner,
    reverts_exact,
    reverts_with,
    sign_reading,
    sleep_until,
)

SLOT_S = 21_600
PER_DAY = 86_400 // SLOT_S
PENALTY = 50_000
BATTERY = 4

# Net import per history day (1 = yesterday's same slot), None = no reading that day.
HISTORY: dict[str, list[int | None]] = {
    # Six days of history: the baseline uses the five most recent (1000..1040 -> mean 1020).
    "alice": [1000, 1010, 1020, 1030, 1040, 5000],
    # A new member: readings on two days only; the second has export.
    "bob": [600, None, -101],
    # The community battery, steady 800 Wh import.
    "dave": [800, 800, 800, 800, 800, 800],
    # carol: no history at all.
}


@pytest.fixture(scope="module")
def flex_market(
    make_market: Any, alice: Any, bob: Any, carol: Any, dave: Any, dso: Any, network_account: Any
) -> Any:
    settings = Settings(
        slot_seconds=SLOT_S, gate_closure_seconds=300, order_horizon_slots=64, flex_penalty=PENALTY
    )
    people = {"alice": (alice, 2), "bob": (bob, 1), "carol": (carol, 2), "dave": (dave, BATTERY)}
    dep = make_market(people, settings)
    dep.token.topUp(network_account, 1000 * EUR, _ref("flex-network"), {"from": dso})
    for name, (account, _) in people.items():
        signer = accounts.add(METER_KEYS[name]).address
        dep.community.registerMeter(_ref(f"meter-{name}"), account, signer, {"from": dso})
    return dep


@pytest.fixture(scope="module")
def setup(flex_market: Any, oracle: Any, matcher: Any, alice: Any, bob: Any, dave: Any) -> Any:
    """History up to the target slot's day before; returns (runner, target slot)."""
    dep = flex_market
    runner = SlotRunner(dep, oracle, matcher)
    first = int(dep.imbalance.nextSlot())
    days = max(len(h) for h in HISTORY.values())
    target = first + (days + 1) * PER_DAY
    who = {"alice": alice, "bob": bob, "dave": dave}
    for slot in range(first, target - PER_DAY + 1):
        day = (target - slot) // PER_DAY if (target - slot) % PER_DAY == 0 else None
        runner.settle_trades(slot)
        runner.deliver(slot)
        signed = []
        for name, hist in HISTORY.items():
            value = hist[day - 1] if day is not None and day <= len(hist) else None
            if value is not None:
                signed.append(_reading(dep, name, slot, value))
        if signed:
            runner.submit(signed)
        runner.settle(slot)
    assert who  # members registered by flex_market
    return runner, target


@pytest.fixture
def fresh(setup: Any) -> tuple[SlotRunner, int]:
    """The module's history with this test's own copy of the reading words (the chain is
    reverted after each test, so words recorded by one test must not leak into the next)."""
    runner, target = setup
    copy = SlotRunner(runner.dep, runner.oracle, runner.matcher)
    copy.words = {s: list(w) for s, w in runner.words.items()}
    return copy, target


def _reading(dep: Any, name: str, slot: int, net: int) -> Any:
    from chain.signing import Reading

    imp, exp = (net, 0) if net >= 0 else (0, -net)
    r = Reading(_ref(f"meter-{name}"), slot, imp, exp, slot + 1)
    return r, sign_reading(dep.readings, METER_KEYS[name], r)


def _request(dep: Any, rid: int) -> FlexRequest:
    return FlexRequest.from_call(rid, dep.flexibility.requestOf(rid))


def _publish(dep: Any, dso: Any, target: int, direction: int = 0, qty: int = 1500) -> int:
    gate = int(dep.community.slotStart(target)) - 600
    tx = dep.flexibility.publishRequest(target, direction, qty, 200_000, gate, {"from": dso})
    return int(tx.return_value)


def _accept(dep: Any, matcher: Any, rid: int) -> list[int]:
    req = _request(dep, rid)
    sleep_until(req.gate_closure)
    acc = acceptance(req, dep.flexibility.offersOf(rid))
    dep.flexibility.acceptOffers(rid, acc, {"from": matcher})
    return acc


def _settle_args(dep: Any, runner: SlotRunner, rid: int, acc: list[int]) -> tuple[Any, ...]:
    req = _request(dep, rid)
    offers = decode_offers(dep.flexibility.offersOf(rid))
    slots = segment_slots(req.slot, SLOT_S, int(dep.flexibility.lookbackDays()))
    words, counts = settlement_words(slots, lambda s: list(runner.words.get(s, [])))
    return acc, accepted_indexes(offers, acc), words, counts


def _deliver(runner: SlotRunner, target: int, readings: dict[str, int]) -> None:
    dep = runner.dep
    for slot in range(int(dep.imbalance.nextSlot()), target + 1):
        runner.settle_trades(slot)
        runner.deliver(slot)
        if slot == target and readings:
            runner.submit([_reading(dep, n, slot, v) for n, v in readings.items()])
        runner.settle(slot)


def _expected(dep: Any, runner: SlotRunner, rid: int, acc: list[int]) -> dict[int, Any]:
    req = _request(dep, rid)
    offers = decode_offers(dep.flexibility.offersOf(rid))
    slots = segment_slots(req.slot, SLOT_S, int(dep.flexibility.lookbackDays()))
    segments = [net_import([] if s is None else runner.words.get(s, [])) for s in slots]
    return outcomes(req, offers, acc, segments)


def test_request_offer_accept_deliver_pay(
    fresh: Any,
    dso: Any,
    matcher: Any,
    alice: Any,
    bob: Any,
    carol: Any,
    dave: Any,
    network_account: Any,
) -> None:
    runner, target = fresh
    dep = runner.dep
    flex, token = dep.flexibility, dep.token
    rid = _publish(dep, dso, target)
    assert token.balanceOf(flex) == 1500 * 200_000 == flex.escrowHeld()
    flex.offer(rid, 600, 150_000, {"from": alice})
    flex.offer(rid, 500, 90_000, {"from": dave})  # the battery: cheapest
    flex.offer(rid, 400, 150_000, {"from": bob})  # same price as alice, later: behind her
    flex.offer(rid, 300, 180_000, {"from": carol})
    acc = _accept(dep, matcher, rid)
    assert acc == [600, 500, 400, 0]
    # alice 1020 baseline -> metered 600: delivers 420 of 600 (short 180).
    # dave 800 -> 300: 500 of 500. bob baseline floor((600 - 101) / 2) = 249 -> 0: 249 of 400.
    _deliver(runner, target, {"alice": 600, "dave": 300, "bob": 0})
    before = {a: (token.balanceOf(a), token.debtOf(a)) for a in (alice, bob, dave)}
    net_before = token.balanceOf(network_account)
    tx = flex.settleRequest(rid, *_settle_args(dep, runner, rid, acc), {"from": matcher})
    expected = _expected(dep, runner, rid, acc)
    got = {int(e["index"]): e for e in tx.events["FlexDelivered"]}
    assert set(got) == set(expected) == {0, 1, 2}
    for i, out in expected.items():
        e = got[i]
        assert e["measured"] and out.measured
        assert (e["baselineWh"], e["meteredWh"], e["deliveredWh"]) == (
            out.baseline_wh,
            out.metered_wh,
            out.delivered_wh,
        )
        assert (e["payment"], e["penalty"]) == (out.payment, out.penalty)
    assert [expected[i].delivered_wh for i in (0, 1, 2)] == [420, 500, 249]
    assert expected[0].baseline_wh == 1020 and expected[2].baseline_wh == 249
    assert expected[0].penalty == PENALTY * 180 and expected[1].penalty == 0
    paid = sum(o.payment for o in expected.values())
    settled = tx.events["FlexSettled"]
    assert settled["paid"] == paid and settled["refunded"] == 1500 * 200_000 - paid
    for account, i in ((alice, 0), (dave, 1), (bob, 2)):
        bal, debt = before[account]
        assert token.balanceOf(account) == bal + expected[i].payment - expected[i].penalty
        assert token.debtOf(account) == debt
    penalties = sum(o.penalty for o in expected.values())
    refund = 1500 * 200_000 - paid
    assert token.balanceOf(network_account) == net_before + refund + penalties
    assert token.balanceOf(flex) == 0 == flex.escrowHeld()
    with reverts_exact("FlexibilityAlreadySettled", rid):
        flex.settleRequest(rid, *_settle_args(dep, runner, rid, acc), {"from": matcher})


def test_new_member_without_history_and_missing_reading(
    fresh: Any, dso: Any, matcher: Any, alice: Any, carol: Any, network_account: Any
) -> None:
    """carol has no baseline day and alice no reading in the delivered slot: neither is paid
    nor penalised; the whole escrow returns to the DSO."""
    runner, target = fresh
    dep = runner.dep
    flex, token = dep.flexibility, dep.token
    rid = _publish(dep, dso, target)
    flex.offer(rid, 700, 100_000, {"from": carol})
    flex.offer(rid, 700, 100_000, {"from": alice})
    acc = _accept(dep, matcher, rid)
    _deliver(runner, target, {"carol": 0})
    net_before = token.balanceOf(network_account)
    tx = flex.settleRequest(rid, *_settle_args(dep, runner, rid, acc), {"from": matcher})
    for e in tx.events["FlexDelivered"]:
        assert not e["measured"] and e["payment"] == e["penalty"] == e["deliveredWh"] == 0
    assert all(not o.measured for o in _expected(dep, runner, rid, acc).values())
    assert token.balanceOf(network_account) == net_before + 1500 * 200_000


def test_under_delivery_penalty_becomes_debt(
    fresh: Any, dso: Any, matcher: Any, alice: Any, network_account: Any
) -> None:
    runner, target = fresh
    dep = runner.dep
    flex, token = dep.flexibility, dep.token
    rid = _publish(dep, dso, target)
    flex.offer(rid, 1500, 10_000, {"from": alice})
    acc = _accept(dep, matcher, rid)
    token.redeem(token.balanceOf(alice) - 10 * EUR // 1000, _ref("x"), {"from": alice})
    _deliver(runner, target, {"alice": 2000})  # imports more than its baseline: delivers 0
    balance = token.balanceOf(alice)
    debt = token.debtOf(alice)
    tx = flex.settleRequest(rid, *_settle_args(dep, runner, rid, acc), {"from": matcher})
    e = tx.events["FlexDelivered"][0]
    assert e["deliveredWh"] == 0 and e["penalty"] == PENALTY * 1500
    assert e["collected"] == balance
    assert token.balanceOf(alice) == 0
    assert token.debtOf(alice) == debt + PENALTY * 1500 - balance
    assert token.debtTo(alice, network_account) >= PENALTY * 1500 - balance


def test_reduce_export(fresh: Any, dso: Any, matcher: Any, bob: Any) -> None:
    """bob's baseline for reduce_export rounds up: ceil((600 - 101) / 2) = 250; metered 400 Wh
    import means 150 Wh less export than the baseline."""
    runner, target = fresh
    dep = runner.dep
    rid = _publish(dep, dso, target, direction=1, qty=1000)
    dep.flexibility.offer(rid, 1000, 70_000, {"from": bob})
    acc = _accept(dep, matcher, rid)
    _deliver(runner, target, {"bob": 400})
    tx = dep.flexibility.settleRequest(rid, *_settle_args(dep, runner, rid, acc), {"from": matcher})
    e = tx.events["FlexDelivered"][0]
    out = _expected(dep, runner, rid, acc)[0]
    assert (e["baselineWh"], e["deliveredWh"]) == (out.baseline_wh, out.delivered_wh) == (250, 150)
    assert _request(dep, rid).direction is Direction.REDUCE_EXPORT


def test_acceptance_tamper_cases(
    fresh: Any, dso: Any, matcher: Any, alice: Any, bob: Any, carol: Any, dave: Any
) -> None:
    runner, target = fresh
    dep = runner.dep
    flex = dep.flexibility
    rid = _publish(dep, dso, target)
    flex.offer(rid, 1000, 100_000, {"from": alice})
    flex.offer(rid, 1000, 50_000, {"from": bob})
    flex.offer(rid, 1000, 100_000, {"from": carol})
    with reverts_exact("FlexibilityGateOpen", rid, _request(dep, rid).gate_closure):
        flex.acceptOffers(rid, [500, 1000, 0], {"from": matcher})
    sleep_until(_request(dep, rid).gate_closure)
    with reverts_with("FlexibilityGateClosed"):
        flex.offer(rid, 100, 1, {"from": dave})
    with reverts_exact("FlexibilityNotMatcher", dso):
        flex.acceptOffers(rid, [500, 1000, 0], {"from": dso})
    with reverts_exact("FlexibilityAcceptanceLength", 3, 2):
        flex.acceptOffers(rid, [500, 1000], {"from": matcher})
    with reverts_exact("FlexibilityOverAccepted", 1):
        flex.acceptOffers(rid, [499, 1001, 0], {"from": matcher})
    with reverts_exact("FlexibilityNotMeritOrder", 2):  # carol is behind alice (same price)
        flex.acceptOffers(rid, [0, 1000, 500], {"from": matcher})
    with reverts_exact("FlexibilityNotMeritOrder", 0):  # bob (cheapest) not full
        flex.acceptOffers(rid, [1000, 500, 0], {"from": matcher})
    with reverts_exact("FlexibilityWrongVolume", 1500, 1400):
        flex.acceptOffers(rid, [400, 1000, 0], {"from": matcher})
    with reverts_exact("FlexibilityWrongVolume", 1500, 2000):
        flex.acceptOffers(rid, [1000, 1000, 0], {"from": matcher})
    flex.acceptOffers(rid, [500, 1000, 0], {"from": matcher})
    with reverts_exact("FlexibilityAlreadyAccepted", rid):
        flex.acceptOffers(rid, [500, 1000, 0], {"from": matcher})
    # Settlement: readings not final yet; then tampered words, acceptance, member order.
    good = list(_settle_args(dep, runner, rid, [500, 1000, 0]))
    with reverts_exact("FlexibilityReadingsPending", rid, target):
        flex.settleRequest(rid, *good, {"from": matcher})
    _deliver(runner, target, {"alice": 100, "bob": 0})
    good = list(_settle_args(dep, runner, rid, [500, 1000, 0]))
    acc, idx, words, counts = good
    with reverts_exact("FlexibilityAcceptanceMismatch", rid):
        flex.settleRequest(rid, [1000, 500, 0], idx, words, counts, {"from": matcher})
    with reverts_exact("FlexibilityMembersNotAscending", 1):
        flex.settleRequest(rid, acc, list(reversed(idx)), words, counts, {"from": matcher})
    with reverts_exact("FlexibilityMembersMismatch", 2, 1):
        flex.settleRequest(rid, acc, idx[:1], words, counts, {"from": matcher})
    forged = list(words)
    forged[0] += 1 << 160  # one Wh more import in the delivered slot
    with reverts_exact("FlexibilityReadingsMismatch", target):
        flex.settleRequest(rid, acc, idx, forged, counts, {"from": matcher})
    with reverts_with("FlexibilityReadingsMismatch"):  # a day's reading left out
        flex.settleRequest(rid, acc, idx, words[:-1], counts, {"from": matcher})
    with reverts_exact("FlexibilityCountsLength", 11, 10):
        flex.settleRequest(rid, acc, idx, words, counts[:-1], {"from": matcher})
    flex.settleRequest(rid, *good, {"from": matcher})


def test_request_and_offer_validation(
    fresh: Any, dso: Any, matcher: Any, alice: Any, outsider: Any
) -> None:
    runner, target = fresh
    dep = runner.dep
    flex = dep.flexibility
    start = int(dep.community.slotStart(target))
    with reverts_exact("FlexibilityNotDso", outsider):
        flex.publishRequest(target, 0, 100, 1, start - 600, {"from": outsider})
    with reverts_exact("FlexibilityInvalidQuantity", 0):
        flex.publishRequest(target, 0, 0, 1, start - 600, {"from": dso})
    with reverts_exact("FlexibilityInvalidPrice", 2**40):
        flex.publishRequest(target, 0, 100, 2**40, start - 600, {"from": dso})
    with reverts_exact("FlexibilityInvalidGateClosure", start + 1, start):
        flex.publishRequest(target, 0, 100, 1, start + 1, {"from": dso})
    rid = _publish(dep, dso, target)
    with reverts_exact("FlexibilityNotMember", outsider):
        flex.offer(rid, 100, 1, {"from": outsider})
    with reverts_exact("FlexibilityPriceAboveMax", 200_001, 200_000):
        flex.offer(rid, 100, 200_001, {"from": alice})
    with reverts_exact("FlexibilityInvalidQuantity", 0):
        flex.offer(rid, 0, 1, {"from": alice})
    flex.offer(rid, 100, 1, {"from": alice})
    with reverts_exact("FlexibilityAlreadyOffered", rid, alice):
        flex.offer(rid, 100, 1, {"from": alice})
    with reverts_exact("FlexibilityUnknownRequest", rid + 1):
        flex.offer(rid + 1, 100, 1, {"from": alice})
    with reverts_exact("FlexibilityNotDso", outsider):
        flex.setPenalty(1, {"from": outsider})
    tx = flex.setPenalty(7, {"from": dso})
    assert tx.events["FlexPenaltySet"]["penalty"] == 7 == flex.penalty()
    assert _request(dep, rid).penalty == PENALTY  # snapshotted at publication
    # Never accepted before delivery: acceptance refused; settlement refunds the whole escrow.
    sleep_until(start)
    with reverts_exact("FlexibilityDeliveryStarted", rid, start):
        flex.acceptOffers(rid, [100], {"from": matcher})
    _deliver(runner, target, {})
    tx = flex.settleRequest(rid, [], [], [], [], {"from": matcher})
    assert tx.events["FlexSettled"]["refunded"] == 1500 * 200_000
    assert flex.escrowHeld() == 0
