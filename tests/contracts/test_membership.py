"""Leaving the community (orders cancelled, escrow returned, penalty in lock-in, debt settled,
re-entry) and closing a period (profit shares by metered export, service fee, battery lease)."""

from __future__ import annotations

from typing import Any

import pytest
from brownie import accounts
from eth_account import Account

from chain.signing import Reading
from gridshare.settings import Settings
from market.billing import profit_pool, profit_shares
from tests.contracts.conftest import EUR, METER_KEYS
from tests.contracts.helpers import SlotRunner, reverts_exact, reverts_with, sign_reading

BUY, SELL = 0, 1
NONE, CONSUMER, PROSUMER = 0, 1, 2
PENALTY = Settings().exit_penalty
ZERO = "0x" + "0" * 40


def test_exit_in_lock_in_cancels_orders_returns_escrow_and_charges_the_penalty(
    market: Any, members: Any, meters: Any, fee_account: Any, runner: SlotRunner
) -> None:
    alice, ob = members["alice"], market.order_book
    now = int(market.community.currentSlot())
    ob.placeOrder(now + 3, BUY, 1000, 150_000, {"from": alice})
    ob.placeStandingOrder(now + 4, now + 9, SELL, 500, 100_000, {"from": alice})
    ob.placeOrder(now + 3, BUY, 1000, 150_000, {"from": members["bob"]})  # not Alice's
    escrow = int(ob.escrowFor(now + 3, BUY, 1000, 150_000))
    balance, fees = market.token.balanceOf(alice), market.token.balanceOf(fee_account)

    tx = market.membership.requestExit({"from": alice})
    event = tx.events["ExitRequested"]
    assert event["ordersCancelled"] == 7
    assert event["escrowReturned"] == escrow
    assert event["penalty"] == event["penaltyCollected"] == PENALTY
    assert market.token.balanceOf(alice) == balance + escrow - PENALTY
    assert market.token.balanceOf(fee_account) == fees + PENALTY
    assert ob.slotEscrow(now + 3) == escrow  # Bob's order stays
    assert market.community.memberRole(alice) == NONE
    with reverts_exact("OrderBookNotMember", alice):
        ob.placeOrder(now + 3, BUY, 1000, 150_000, {"from": alice})
    with reverts_exact("MembershipNotMember", alice):
        market.membership.requestExit({"from": alice})

    exit_slot = int(event["exitSlot"])
    with reverts_exact(
        "MembershipObligationsPending", alice, exit_slot, int(market.imbalance.nextSlot())
    ):
        market.membership.completeExit(alice, {"from": alice})
    # Its meter still reports until the slots it is bound by are settled.
    runner.deliver(exit_slot)
    meter_id, key = meters["alice"]
    r = Reading(meter_id, exit_slot, 0, 400, 1)
    runner.submit([(r, sign_reading(market.readings, key, r))])
    runner.settle(exit_slot)
    done = market.membership.completeExit(alice, {"from": members["bob"]})
    assert done.events["MemberLeft"]["member"] == alice
    assert done.events["ExitCompleted"]["balance"] == market.token.balanceOf(alice)
    assert market.community.meter(meter_id)[:2] == (ZERO, ZERO)
    assert market.community.metersOf(alice) == ()
    market.token.redeem(market.token.balanceOf(alice), bytes(32), {"from": alice})
    assert market.token.balanceOf(alice) == 0


def test_exit_after_lock_in_is_free_and_re_entry_starts_a_new_membership(
    market: Any, members: Any, dso: Any, runner: SlotRunner
) -> None:
    newcomer = accounts[10]
    market.community.registerMember(newcomer, CONSUMER, 0, {"from": dso})
    count = int(market.community.memberCount())
    tx = market.membership.requestExit({"from": newcomer})
    assert tx.events["ExitRequested"]["penalty"] == 0
    assert market.community.memberCount() == count - 1
    with reverts_exact("CommunityAlreadyMember", newcomer):  # still leaving
        market.community.registerMember(newcomer, CONSUMER, 0, {"from": dso})
    runner.settle(int(tx.events["ExitRequested"]["exitSlot"]))
    market.membership.completeExit(newcomer, {"from": newcomer})
    with reverts_exact("MembershipNotExiting", newcomer):
        market.membership.completeExit(newcomer, {"from": newcomer})
    again = market.community.registerMember(newcomer, PROSUMER, 96, {"from": dso})
    now = int(market.community.currentSlot())
    assert again.events["MemberRegistered"]["lockInUntilSlot"] == now + 96
    assert market.community.memberRole(newcomer) == PROSUMER


def test_exit_cannot_complete_with_debt(
    market: Any, members: Any, dso: Any, ref: Any, runner: SlotRunner
) -> None:
    erin = members["erin"]
    market.token.transfer(members["bob"], market.token.balanceOf(erin), {"from": erin})
    tx = market.membership.requestExit({"from": erin})
    assert tx.events["ExitRequested"]["penaltyCollected"] == 0
    assert market.token.debtOf(erin) == PENALTY
    runner.settle(int(tx.events["ExitRequested"]["exitSlot"]))
    with reverts_exact("MembershipDebtOutstanding", erin, PENALTY):
        market.membership.completeExit(erin, {"from": erin})
    market.token.topUp(erin, PENALTY + EUR, ref("erin-settles"), {"from": dso})
    market.membership.completeExit(erin, {"from": erin})
    assert market.token.balanceOf(erin) == EUR
    assert market.community.memberRole(erin) == NONE
    # Gone: the token mints nothing more to it.
    with reverts_exact("EnergyTokenNotMember", erin):
        market.token.topUp(erin, EUR, ref("erin-after-exit"), {"from": dso})


def test_only_the_membership_contract_runs_exits(market: Any, members: Any, outsider: Any) -> None:
    with reverts_with("AccessControlUnauthorizedAccount"):
        market.community.beginExit(members["alice"], {"from": outsider})
    with reverts_exact("OrderBookNotMembership", outsider):
        market.order_book.cancelOpenOrders(members["alice"], {"from": outsider})
    with reverts_exact("MembershipNotMember", outsider):
        market.membership.requestExit({"from": outsider})


# ------------------------------------------------------------------------------------ periods

PERIOD_SLOTS = 4


@pytest.fixture(scope="module")
def short_periods(
    make_market: Any, alice: Any, bob: Any, carol: Any, dso: Any, supply_account: Any, ref: Any
) -> Any:
    """A market with 4-slot periods closed two members at a time; Alice and Carol have meters."""
    people = {"alice": (alice, PROSUMER), "bob": (bob, CONSUMER), "carol": (carol, PROSUMER)}
    dep = make_market(people, Settings(period_slots=PERIOD_SLOTS, chunk_members=2))
    for name in ("alice", "carol"):
        signer = Account.from_key(METER_KEYS[name]).address
        dep.community.registerMeter(ref(f"meter-{name}"), people[name][0], signer, {"from": dso})
    dep.token.topUp(
        supply_account, 1000 * EUR, ref(f"{dep.token.address[:10]}-supply"), {"from": dso}
    )
    return dep


def test_period_close_shares_platform_fees_by_export_and_charges_the_service_fee(
    short_periods: Any,
    alice: Any,
    bob: Any,
    carol: Any,
    oracle: Any,
    matcher: Any,
    dso: Any,
    fee_account: Any,
    ref: Any,
) -> None:
    dep = short_periods
    run = SlotRunner(dep, oracle, matcher)
    slot = int(dep.community.currentSlot()) + 2
    period = slot // PERIOD_SLOTS
    dep.order_book.placeOrder(slot, SELL, 2000, 100_000, {"from": alice})
    dep.order_book.placeOrder(slot, BUY, 2000, 150_000, {"from": bob})
    run.settle(slot - 1)
    run.settle_trades(slot)
    run.deliver(slot)
    batch = []
    for name, _account, export in (("alice", alice, 1000), ("carol", carol, 2000)):
        r = Reading(ref(f"meter-{name}"), slot, 0, export, 1)
        batch.append((r, sign_reading(dep.readings, METER_KEYS[name], r)))
    run.submit(batch)
    listed = sorted([alice.address, bob.address, carol.address], key=lambda a: int(a, 16))
    end = (period + 1) * PERIOD_SLOTS - 1
    run.settle(end - 1)
    with reverts_exact("ProfitSharingPeriodOpen", period, end):
        dep.profit_sharing.closePeriod(period, listed, {"from": dso})
    run.settle(end)

    with reverts_exact("ProfitSharingMembersNotAscending", 1):
        dep.profit_sharing.closePeriod(period, [listed[1], listed[0]], {"from": dso})
    with reverts_exact("ProfitSharingNotDso", alice):
        dep.profit_sharing.closePeriod(period, listed[:2], {"from": alice})
    with reverts_exact("ProfitSharingChunkSize", 2, 3):
        dep.profit_sharing.closePeriod(period, listed, {"from": dso})

    fees = int(dep.imbalance.platformFeesOf(period))
    assert fees == 2000 * 10_000
    exports = [int(dep.imbalance.exportOf(period, m)) for m in listed]
    assert int(dep.imbalance.totalExportOf(period)) == sum(exports) == 3000
    shares = profit_shares(profit_pool(fees, 5000), exports)
    assert sum(shares) == fees // 2
    service = int(dep.community.tariffAt(period * PERIOD_SLOTS)[7])
    before = [int(dep.token.balanceOf(m)) for m in listed]
    fee_before = int(dep.token.balanceOf(fee_account))
    # In two chunks: the first bills two members and leaves the period open; a chunk must
    # continue after the last member billed; the second bills the rest and closes the period.
    first = dep.profit_sharing.closePeriod(period, listed[:2], {"from": dso})
    assert "PeriodClosed" not in first.events
    assert not dep.profit_sharing.periodClosed(period)
    assert tuple(dep.profit_sharing.closeProgress(period)) == (2, listed[1], sum(exports[:2]))
    with reverts_exact("ProfitSharingMembersNotAscending", 0):
        dep.profit_sharing.closePeriod(period, [listed[1]], {"from": dso})
    with reverts_exact("ProfitSharingMembersIncomplete", 3, 4):
        dep.profit_sharing.closePeriod(period, [listed[2], "0x" + "f" * 40], {"from": dso})
    tx = dep.profit_sharing.closePeriod(period, listed[2:], {"from": dso})
    assert dep.profit_sharing.periodClosed(period)
    closed = tx.events["PeriodClosed"]
    assert (closed["platformFees"], closed["pool"], closed["totalExportWh"], closed["members"]) == (
        fees,
        fees // 2,
        3000,
        3,
    )
    billed = [*first.events["PeriodBilled"], *tx.events["PeriodBilled"]]
    assert [b["member"] for b in billed] == listed
    assert [b["share"] for b in billed] == shares
    assert [b["exportWh"] for b in billed] == exports
    assert all(b["collected"] == b["serviceFee"] == service for b in billed)
    after = [int(dep.token.balanceOf(m)) for m in listed]
    assert [a - b for a, b in zip(after, before, strict=True)] == [s - service for s in shares]
    assert dep.token.balanceOf(fee_account) == fee_before - fees // 2 + 3 * service
    with reverts_exact("ProfitSharingAlreadyClosed", period):
        dep.profit_sharing.closePeriod(period, listed, {"from": dso})


def test_period_close_charges_each_lessee_its_battery_lease(
    short_periods: Any,
    alice: Any,
    bob: Any,
    carol: Any,
    oracle: Any,
    matcher: Any,
    dso: Any,
    fee_account: Any,
) -> None:
    """The DSO sets a lessee's lease once; every close charges it with the service fee in one
    collect (debt for what the balance does not cover), until the lease is set to 0."""
    dep = short_periods
    ps, token = dep.profit_sharing, dep.token
    run = SlotRunner(dep, oracle, matcher)
    with reverts_exact("ProfitSharingNotDso", alice):
        ps.setLease(carol, EUR, {"from": alice})
    with reverts_exact("ProfitSharingNotMember", dso):
        ps.setLease(dso, EUR, {"from": dso})
    with reverts_exact("ProfitSharingLeaseTooLarge", 2**96):
        ps.setLease(carol, 2**96, {"from": dso})
    tx = ps.setLease(carol, 3 * EUR, {"from": dso})
    assert (tx.events["LeaseSet"]["member"], tx.events["LeaseSet"]["perPeriod"]) == (
        carol,
        3 * EUR,
    )
    short = int(token.balanceOf(bob)) + EUR  # more than Bob holds: the rest becomes debt
    ps.setLease(bob, short, {"from": dso})
    assert (ps.leaseOf(carol), ps.leaseOf(bob), ps.leaseOf(alice)) == (3 * EUR, short, 0)

    def close(period: int) -> dict[str, Any]:
        run.settle((period + 1) * PERIOD_SLOTS - 1)
        listed = sorted([alice.address, bob.address, carol.address], key=lambda a: int(a, 16))
        txs = [ps.closePeriod(period, listed[i : i + 2], {"from": dso}) for i in (0, 2)]
        assert ps.periodClosed(period)
        return {b["member"]: b for t in txs for b in t.events["PeriodBilled"]}

    period = int(dep.imbalance.nextSlot()) // PERIOD_SLOTS
    service = int(dep.community.tariffAt(period * PERIOD_SLOTS)[7])
    before = {m.address: int(token.balanceOf(m)) for m in (alice, bob, carol)}
    fee_before, debt_before = int(token.balanceOf(fee_account)), int(token.debtOf(bob))
    billed = close(period)
    assert all(b["share"] == 0 and b["serviceFee"] == service for b in billed.values())
    assert (billed[alice]["lease"], billed[alice]["collected"]) == (0, service)
    assert (billed[carol]["lease"], billed[carol]["collected"]) == (3 * EUR, service + 3 * EUR)
    assert (billed[bob]["lease"], billed[bob]["collected"]) == (short, before[bob.address])
    assert token.balanceOf(carol) == before[carol.address] - service - 3 * EUR
    assert token.balanceOf(bob) == 0
    assert token.debtOf(bob) == debt_before + service + short - before[bob.address]
    assert token.balanceOf(fee_account) == fee_before + 2 * service + 3 * EUR + before[bob.address]

    ps.setLease(carol, 0, {"from": dso})
    billed = close(period + 1)
    assert billed[carol]["lease"] == 0 and billed[bob]["lease"] == short
