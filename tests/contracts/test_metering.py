"""Settlement against meters: signed readings in, imbalance settled once per member exactly as
the rulebook says, debt for what a prepaid balance cannot cover, and the audit digest chain."""

from __future__ import annotations

from typing import Any

import pytest
from brownie import MeterReadings

from chain.codec import decode_rules
from chain.metering import (
    ZERO_HASH,
    imbalance_link,
    readings_hash,
    settle_positions,
    slot_digest,
    trades_hash,
)
from chain.metering import positions as slot_positions
from tests.contracts.conftest import EUR
from tests.contracts.helpers import (
    SlotRunner,
    clear_on_chain_book,
    imbalance_settled,
    reverts_exact,
    reverts_with,
    signed_reading,
)

BUY, SELL = 0, 1


def balances(token: Any, *who: Any) -> list[int]:
    return [int(token.balanceOf(w)) for w in who]


def uniform_link(market: Any, slot: int, trades: list[int], words: list[int], h: bytes) -> bytes:
    """The (slot, chunk 0) digest link the auditor recomputes from events, in a uniform slot
    (`h`: the running hash over the slot's ImbalanceSettled events)."""
    _settled, mode, price, volume = market.settlement.clearingOf(slot)
    assert mode == 0  # uniform
    return slot_digest(
        bytes(market.imbalance.digestAt(slot - 1, 0)),
        slot,
        0,
        "uniform",
        price,
        volume,
        trades_hash(trades),
        readings_hash(words),
        h,
    )


def rulebook_link(
    market: Any,
    slot: int,
    events: list[Any],
    expected: list[Any],
    trades: list[int],
    words: list[int],
) -> bytes:
    """The slot's ImbalanceSettled `events` against the rulebook's `expected` settlement
    (members, credit and charges), and the (slot, chunk 0) digest link they make."""
    assert [e["member"] for e in events] == [x.position.member for x in expected]
    h = ZERO_HASH
    for event, exp in zip(events, expected, strict=True):
        assert (event["credit"], event["energyCharge"], event["networkCharge"]) == (
            exp.imbalance.credit,
            exp.imbalance.energy_charge,
            exp.imbalance.network_charge,
        )
        h = imbalance_link(h, exp, int(event["collected"]))
    return uniform_link(market, slot, trades, words, h)


@pytest.fixture
def traded_slot(market: Any, members: Any, runner: SlotRunner) -> int:
    """Alice sells 2000 Wh to Bob at 125000 n€/Wh (uniform midpoint of 150000 and 100000);
    every slot up to it is settled, its own trades too."""
    slot = int(market.community.currentSlot()) + 2
    market.order_book.placeOrder(slot, SELL, 2000, 100_000, {"from": members["alice"]})
    market.order_book.placeOrder(slot, BUY, 2000, 150_000, {"from": members["bob"]})
    runner.settle(slot - 1)
    runner.settle_trades(slot)
    return slot


def test_imbalance_settles_each_member_as_the_rulebook_says(
    market: Any,
    members: Any,
    meters: Any,
    runner: SlotRunner,
    traded_slot: int,
    supply_account: Any,
    network_account: Any,
    matcher: Any,
) -> None:
    slot = traded_slot
    runner.deliver(slot)
    # Alice delivers 1500 of the 2000 Wh she sold; Bob uses 2500 of which 2000 were bought;
    # Carol exports 1000 Wh without trading; Dave imports 300 Wh; Erin's meter does not report.
    batch = [
        signed_reading(market.readings, meters, "alice", slot, 0, 1500, 1),
        signed_reading(market.readings, meters, "bob", slot, 2500, 0, 1),
        signed_reading(market.readings, meters, "carol", slot, 0, 1000, 1),
        signed_reading(market.readings, meters, "dave", slot, 300, 0, 1),
    ]
    runner.submit(batch)
    # Erin is missing and the deadline has not passed: the slot must wait.
    with reverts_with("ImbalanceReadingsPending"):
        market.imbalance.settleImbalance(slot, *runner.args(slot), {"from": matcher})
    runner.deliver(slot, deadline=True)

    people = [members[n] for n in ("alice", "bob", "carol", "dave", "erin")]
    before = balances(market.token, *people, supply_account, network_account)
    tx = market.imbalance.settleImbalance(slot, *runner.args(slot), {"from": matcher})
    after = balances(market.token, *people, supply_account, network_account)

    rules = decode_rules(market.community.tariffAt(slot))
    words = runner.words[slot]
    trades = runner.trade_words(slot)
    expected = settle_positions(rules.tariff, slot_positions(words, trades))
    by_member = {e.position.member: e for e in expected}
    assert len(expected) == 4  # Erin has no reading: no imbalance (documented rule)
    t = rules.tariff
    alice = by_member[members["alice"].address]
    assert alice.imbalance.deviation_wh == -500
    assert alice.imbalance.energy_charge == 500 * t.retail_price
    assert alice.imbalance.network_charge == 500 * t.grid_fee
    assert by_member[members["bob"].address].imbalance.deviation_wh == -500
    assert by_member[members["carol"].address].imbalance.credit == 1000 * t.feed_in_price
    assert by_member[members["dave"].address].imbalance.deviation_wh == -300

    events = imbalance_settled(tx)
    assert [e["member"] for e in events] == [e.position.member for e in expected]
    for event, exp in zip(events, expected, strict=True):
        assert event["slot"] == slot
        assert event["importWh"] == exp.position.import_wh
        assert event["exportWh"] == exp.position.export_wh
        assert event["tradedNetSoldWh"] == exp.position.traded_net_sold_wh
        assert event["credit"] == exp.imbalance.credit
        assert event["energyCharge"] == exp.imbalance.energy_charge
        assert event["networkCharge"] == exp.imbalance.network_charge
        assert event["collected"] == exp.charge  # everyone could pay
        assert event["bauCost"] == exp.bau_cost

    deltas = [a - b for a, b in zip(after, before, strict=True)]
    for person, delta in zip(people, deltas, strict=False):
        found = by_member.get(person.address)
        assert delta == (0 if found is None else found.imbalance.credit - found.charge)
    credits = sum(e.imbalance.credit for e in expected)
    energy = sum(e.imbalance.energy_charge for e in expected)
    network = sum(e.imbalance.network_charge for e in expected)
    assert deltas[5] == energy - credits  # supply account
    assert deltas[6] == network  # network account
    assert sum(deltas) == 0  # tokens only moved

    # The digest chain link equals the auditor's recomputation from events.
    h = ZERO_HASH
    for exp, event in zip(expected, events, strict=True):
        h = imbalance_link(h, exp, int(event["collected"]))
    _settled, mode, price, volume = market.settlement.clearingOf(slot)
    assert (mode, price, volume) == (0, 125_000, 2000)
    digest = uniform_link(market, slot, trades, words, h)
    assert bytes(market.imbalance.digestAt(slot, 0)) == digest
    assert bytes(tx.events["SlotDigest"]["digest"]) == digest
    assert market.imbalance.nextSlot() == slot + 1


def test_slot_settles_early_once_every_meter_reported(
    market: Any, meters: Any, runner: SlotRunner, traded_slot: int, matcher: Any
) -> None:
    slot = traded_slot
    with reverts_with("ImbalanceReadingsPending"):  # not even delivered
        market.imbalance.settleImbalance(slot, *runner.args(slot), {"from": matcher})
    runner.deliver(slot)
    runner.submit([signed_reading(market.readings, meters, n, slot, 100, 0, 7) for n in meters])
    tx = market.imbalance.settleImbalance(slot, *runner.args(slot), {"from": matcher})
    assert len(imbalance_settled(tx)) == 5
    # Too late now: the slot is closed to readings.
    with reverts_exact("MeterReadingsSlotClosed", 0, slot):
        runner.submit([signed_reading(market.readings, meters, "alice", slot, 1, 0, 8)])


def test_charges_beyond_the_balance_become_debt_paid_by_the_next_top_up(
    market: Any,
    members: Any,
    meters: Any,
    runner: SlotRunner,
    dso: Any,
    ref: Any,
    supply_account: Any,
    network_account: Any,
) -> None:
    erin = members["erin"]
    market.token.transfer(members["bob"], market.token.balanceOf(erin) - EUR, {"from": erin})
    slot = int(market.community.currentSlot())
    runner.settle(slot - 1)
    runner.deliver(slot)
    # 10 kWh imported at 0.30 €/kWh = 3 €; Erin holds 1 €.
    runner.submit([signed_reading(market.readings, meters, "erin", slot, 10_000, 0, 1)])
    tx = runner.settle(slot)
    event = imbalance_settled(tx)[0]
    charge = int(event["energyCharge"]) + int(event["networkCharge"])
    assert charge == 3 * EUR
    assert event["collected"] == EUR
    assert market.token.balanceOf(erin) == 0
    assert market.token.debtOf(erin) == 2 * EUR
    # The energy charge (2 €) is collected first: 1 € paid, 1 € owed to supply; 1 € to network.
    assert market.token.debtTo(erin, supply_account) == EUR
    assert market.token.debtTo(erin, network_account) == EUR
    assert [d["amount"] for d in tx.events["DebtRecorded"]] == [EUR, EUR]

    supply_before = market.token.balanceOf(supply_account)
    top = market.token.topUp(erin, 5 * EUR, ref("erin-topup-2"), {"from": dso})
    assert [(d["creditor"], d["amount"]) for d in top.events["DebtRepaid"]] == [
        (supply_account, EUR),
        (network_account, EUR),
    ]
    assert market.token.balanceOf(erin) == 3 * EUR
    assert market.token.debtOf(erin) == 0
    assert market.token.totalDebt() == 0
    assert market.token.balanceOf(supply_account) == supply_before + EUR


def test_a_small_top_up_pays_part_of_the_debt(
    market: Any, members: Any, meters: Any, runner: SlotRunner, dso: Any, ref: Any
) -> None:
    erin = members["erin"]
    market.token.transfer(members["bob"], market.token.balanceOf(erin), {"from": erin})
    slot = int(market.community.currentSlot())
    runner.settle(slot - 1)
    runner.deliver(slot)
    runner.submit([signed_reading(market.readings, meters, "erin", slot, 10_000, 0, 1)])
    runner.settle(slot)
    assert market.token.debtOf(erin) == 3 * EUR
    market.token.topUp(erin, EUR, ref("erin-small"), {"from": dso})
    assert market.token.balanceOf(erin) == 0
    assert market.token.debtOf(erin) == 2 * EUR
    # Redeeming pays debt first, so tokens owed cannot leave.
    market.token.topUp(erin, 2 * EUR + 5, ref("erin-rest"), {"from": dso})
    assert market.token.debtOf(erin) == 0
    with reverts_with("ERC20InsufficientBalance"):
        market.token.redeem(6, bytes(32), {"from": erin})


def test_export_and_platform_fees_are_counted_per_period(
    market: Any, members: Any, meters: Any, runner: SlotRunner, traded_slot: int
) -> None:
    slot = traded_slot
    runner.deliver(slot)
    runner.submit(
        [
            signed_reading(market.readings, meters, "alice", slot, 0, 1500, 1),
            signed_reading(market.readings, meters, "carol", slot, 200, 900, 1),
        ]
    )
    period = slot // int(market.readings.periodSlots())
    # Counted as the readings are accepted, before the slot settles; the ledger reads them there.
    assert market.readings.exportOf(period, members["alice"]) == 1500
    assert market.readings.totalExportOf(period) == 2400
    runner.settle(slot)
    assert int(market.imbalance.periodSlots()) == int(market.readings.periodSlots())
    assert market.imbalance.totalExportOf(period) == 2400
    assert market.imbalance.exportOf(period, members["alice"]) == 1500
    assert market.imbalance.exportOf(period, members["carol"]) == 900
    fees = int(market.settlement.tradesOf(slot)[1])
    assert fees == 2000 * 10_000  # both trade fees, 5000 n€/Wh each side
    assert market.imbalance.platformFeesOf(period) == fees


def test_the_readings_refuse_a_period_of_no_slots(market: Any, dso: Any) -> None:
    with reverts_exact("MeterReadingsInvalidPeriod", 0):
        MeterReadings.deploy(market.community, 0, {"from": dso})


def test_a_batch_settles_several_slots_each_as_alone_or_none(
    market: Any,
    members: Any,
    meters: Any,
    runner: SlotRunner,
    traded_slot: int,
    matcher: Any,
    outsider: Any,
    supply_account: Any,
) -> None:
    """`settleImbalances` carries a day's (slot, chunk)s in one transaction: each entry is
    checked and settled as `settleImbalance` would settle it alone (same events, same digest
    links); an entry that would revert alone reverts the whole batch."""
    first, second = traded_slot, traded_slot + 1
    runner.settle_trades(second)
    for slot, imp in ((first, 400), (second, 900)):
        runner.deliver(slot)
        runner.submit(
            [signed_reading(market.readings, meters, n, slot, imp, 0, slot) for n in meters]
        )
    runner.deliver(second)
    entries = [(first, *runner.args(first)), (second, *runner.args(second))]
    with reverts_exact("ImbalanceEmptyBatch"):
        market.imbalance.settleImbalances([], {"from": matcher})
    with reverts_exact("ImbalanceNotMatcher", outsider.address):
        market.imbalance.settleImbalances(entries, {"from": outsider})
    with reverts_exact("ImbalanceOutOfOrder", 0, first, second):
        market.imbalance.settleImbalances(entries[::-1], {"from": matcher})
    # The second entry's readings tampered: the first entry, valid alone, is undone too.
    chunk, people, words, trades = entries[1][1:]
    tampered = (second, chunk, people, [*words[:-1], words[-1] + (1 << 160)], trades)
    with reverts_with("ImbalanceReadingsMismatch"):
        market.imbalance.settleImbalances([entries[0], tampered], {"from": matcher})
    assert market.imbalance.nextSlot() == first

    everyone = [*(members[n] for n in meters), supply_account]
    before = balances(market.token, *everyone)
    tx = market.imbalance.settleImbalances(entries, {"from": matcher})
    after = balances(market.token, *everyone)

    assert market.imbalance.nextSlot() == second + 1
    rules = decode_rules(market.community.tariffAt(first))
    settled = imbalance_settled(tx)
    digests = tx.events["SlotDigest"]
    assert [d["slot"] for d in digests] == [first, second]
    moved = {p.address: 0 for p in everyone}
    for slot, digest in zip((first, second), digests, strict=True):
        words, trades = runner.words[slot], runner.trade_words(slot)
        expected = settle_positions(rules.tariff, slot_positions(words, trades))
        got = [e for e in settled if e["slot"] == slot]
        link = rulebook_link(market, slot, got, expected, trades, words)
        for exp in expected:
            moved[exp.position.member] += exp.imbalance.credit - exp.charge
            moved[supply_account.address] += exp.imbalance.energy_charge - exp.imbalance.credit
        assert bytes(digest["digest"]) == link == bytes(market.imbalance.digestAt(slot, 0))
    assert [a - b for a, b in zip(after, before, strict=True)] == [
        moved[p.address] for p in everyone
    ]


def test_a_slot_settlement_carries_an_earlier_slot_against_the_meters(
    market: Any,
    meters: Any,
    runner: SlotRunner,
    traded_slot: int,
    matcher: Any,
    outsider: Any,
) -> None:
    """SettlementRouter: the next slot's trades and `traded_slot`'s settlement against the
    meters in one transaction, each part checked as if sent alone (same events and digest
    link); a part that fails undoes the other; only a matcher may send it."""
    first, later = traded_slot, traded_slot + 1
    runner.deliver(first)  # past `later`'s gate closure too
    runner.submit(
        [signed_reading(market.readings, meters, n, first, 400, 0, first) for n in meters]
    )
    _book, _clearing, sub = clear_on_chain_book(market.community, market.order_book, later)
    entry = (first, *runner.args(first))
    router = market.router
    with reverts_exact("SettlementRouterNotMatcher", outsider.address):
        router.settleSlotAndImbalances(later, *sub.args(), [entry], {"from": outsider})
    # The carried entry tampered: the slot's valid trade settlement is undone with it.
    chunk, people, words, trades = entry[1:]
    tampered = (first, chunk, people, [*words[:-1], words[-1] + (1 << 160)], trades)
    with reverts_with("ImbalanceReadingsMismatch"):
        router.settleSlotAndImbalances(later, *sub.args(), [tampered], {"from": matcher})
    # A trade settlement out of order: the valid entry is undone with it.
    with reverts_exact("SettlementOutOfOrder", later, later + 1):
        router.settleSlotAndImbalances(later + 1, *sub.args(), [entry], {"from": matcher})
    assert (market.settlement.nextSlot(), market.imbalance.nextSlot()) == (later, first)

    tx = router.settleSlotAndImbalances(later, *sub.args(), [entry], {"from": matcher})

    assert (market.settlement.nextSlot(), market.imbalance.nextSlot()) == (later + 1, first + 1)
    names = [e.name for e in tx.events]
    assert names.index("SlotSettled") < names.index("SlotReadingsClosed")
    rules = decode_rules(market.community.tariffAt(first))
    expected = settle_positions(rules.tariff, slot_positions(runner.words[first], trades))
    settled = imbalance_settled(tx)
    assert {e["slot"] for e in settled} == {first}
    link = rulebook_link(market, first, settled, expected, trades, runner.words[first])
    assert bytes(tx.events["SlotDigest"]["digest"]) == link
    # Nothing to carry: the router settles the slot alone.
    runner.deliver(later)
    _book, _clearing, sub = clear_on_chain_book(market.community, market.order_book, later + 1)
    tx = router.settleSlotAndImbalances(later + 1, *sub.args(), [], {"from": matcher})
    assert "SlotDigest" not in tx.events and market.settlement.nextSlot() == later + 2
