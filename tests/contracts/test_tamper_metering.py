"""The tamper suite, part 2: meter readings and the imbalance settlement. A forged, altered,
replayed, out-of-order, early or unknown reading reverts with its named error, and so does every
imbalance submission that differs from what the chain committed. A batch is all or nothing: the
error names the bad reading's index, so the relayer sets it aside and resends the rest."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from brownie import chain
from eth_account import Account

from chain.signing import Reading, reading_typed_data, sign_typed_data
from tests.contracts.helpers import (
    SlotRunner,
    reverts_exact,
    reverts_with,
    sign_reading,
    signed_reading,
)

BUY, SELL = 0, 1
FORGER_KEY = "0x" + "f0" * 32


@pytest.fixture
def delivered(market: Any, runner: SlotRunner) -> int:
    """A slot just delivered (readings accepted for it); earlier slots settled."""
    slot = int(market.community.currentSlot())
    runner.settle(slot - 1)
    runner.deliver(slot)
    return slot


# ------------------------------------------------------------------------------------ readings


def test_forged_reading_is_rejected(
    market: Any, meters: Any, runner: SlotRunner, delivered: int
) -> None:
    meter_id, _ = meters["alice"]
    r = Reading(meter_id, delivered, 0, 5000, 1)
    forged = sign_reading(market.readings, FORGER_KEY, r)
    with reverts_with("MeterReadingsBadSignature"):
        runner.submit([(r, forged)])


def test_altered_reading_is_rejected(
    market: Any, meters: Any, runner: SlotRunner, delivered: int
) -> None:
    r, sig = signed_reading(market.readings, meters, "alice", delivered, 0, 500, 1)
    with reverts_with("MeterReadingsBadSignature"):  # the oracle inflates the export
        runner.submit([(replace(r, export_wh=5000), sig)])


def test_reading_signed_for_another_chain_or_contract_is_rejected(
    market: Any, meters: Any, runner: SlotRunner, delivered: int
) -> None:
    meter_id, key = meters["alice"]
    r = Reading(meter_id, delivered, 0, 500, 1)
    other_chain = sign_typed_data(reading_typed_data(r, chain.id + 1, market.readings.address), key)
    other_contract = sign_typed_data(
        reading_typed_data(r, chain.id, market.order_book.address), key
    )
    for sig in (other_chain, other_contract):
        with reverts_with("MeterReadingsBadSignature"):
            runner.submit([(r, sig)])


def test_another_meters_signature_is_rejected(
    market: Any, meters: Any, runner: SlotRunner, delivered: int
) -> None:
    r = Reading(meters["alice"][0], delivered, 0, 500, 1)
    with reverts_with("MeterReadingsBadSignature"):  # Bob's meter signs for Alice's
        runner.submit([(r, sign_reading(market.readings, meters["bob"][1], r))])


def test_unknown_and_retired_meters_are_rejected(
    market: Any, meters: Any, runner: SlotRunner, delivered: int, dso: Any, ref: Any
) -> None:
    unknown = Reading(ref("meter-nobody"), delivered, 0, 1, 1)
    with reverts_exact("MeterReadingsUnknownMeter", 0, ref("meter-nobody")):
        runner.submit([(unknown, sign_reading(market.readings, meters["alice"][1], unknown))])
    market.community.retireMeter(meters["bob"][0], {"from": dso})
    with reverts_exact("MeterReadingsUnknownMeter", 0, meters["bob"][0]):
        runner.submit([signed_reading(market.readings, meters, "bob", delivered, 1, 0, 1)])


def test_reading_for_a_slot_not_yet_delivered_is_rejected(
    market: Any, meters: Any, runner: SlotRunner, delivered: int
) -> None:
    ahead = delivered + 1
    end = int(market.community.slotStart(ahead + 1))
    with reverts_exact("MeterReadingsNotDelivered", 0, ahead, end):
        runner.submit([signed_reading(market.readings, meters, "alice", ahead, 0, 1, 1)])


def test_replayed_duplicate_and_out_of_order_readings_are_rejected(
    market: Any, meters: Any, runner: SlotRunner, delivered: int
) -> None:
    first = signed_reading(market.readings, meters, "alice", delivered, 0, 500, 10)
    runner.submit([first])
    meter_id = meters["alice"][0]
    with reverts_exact("MeterReadingsDuplicate", 0, meter_id, delivered):
        runner.submit([first])  # replay
    with reverts_exact("MeterReadingsDuplicate", 0, meter_id, delivered):
        runner.submit(
            [signed_reading(market.readings, meters, "alice", delivered, 0, 900, 11)]
        )  # second version
    runner.deliver(delivered + 1)
    with reverts_exact("MeterReadingsSequenceNotIncreasing", 0, meter_id, 10, 10):
        runner.submit([signed_reading(market.readings, meters, "alice", delivered + 1, 0, 1, 10)])
    with reverts_exact("MeterReadingsSequenceNotIncreasing", 0, meter_id, 10, 9):
        runner.submit([signed_reading(market.readings, meters, "alice", delivered + 1, 0, 1, 9)])
    runner.submit([signed_reading(market.readings, meters, "alice", delivered + 1, 0, 1, 11)])
    with reverts_exact("MeterReadingsOutOfOrder", 0, meter_id, delivered, delivered + 1):
        runner.submit([signed_reading(market.readings, meters, "alice", delivered, 1, 1, 12)])
    any_, last_slot, last_seq = market.readings.lastReading(meter_id)
    assert (any_, int(last_slot), int(last_seq)) == (True, delivered + 1, 11)


def test_oversized_reading_only_the_oracle_and_matching_lengths(
    market: Any, meters: Any, runner: SlotRunner, delivered: int, outsider: Any, oracle: Any
) -> None:
    too_big = 1 << 40
    with reverts_exact("MeterReadingsEnergyTooLarge", 0, too_big, 0):
        runner.submit([signed_reading(market.readings, meters, "alice", delivered, too_big, 0, 1)])
    r, sig = signed_reading(market.readings, meters, "alice", delivered, 0, 1, 1)
    with reverts_exact("MeterReadingsNotOracle", outsider):
        market.readings.submitReadings([r.as_tuple()], [sig], {"from": outsider})
    with reverts_exact("MeterReadingsLengthMismatch", 1, 2):
        market.readings.submitReadings([r.as_tuple()], [sig, sig], {"from": oracle})


def test_a_batch_with_one_bad_reading_loses_none_of_the_good_ones(
    market: Any, meters: Any, runner: SlotRunner, delivered: int
) -> None:
    good = [
        signed_reading(market.readings, meters, n, delivered, 100, 0, 1)
        for n in ("alice", "bob", "carol", "dave")
    ]
    bad_r = Reading(meters["erin"][0], delivered, 100, 0, 1)
    bad = (bad_r, sign_reading(market.readings, FORGER_KEY, bad_r))
    batch = [*good[:2], bad, *good[2:]]
    forger = Account.from_key(FORGER_KEY).address
    with reverts_exact("MeterReadingsBadSignature", 2, meters["erin"][0], forger):
        runner.submit(batch)
    assert market.readings.slotReadings(delivered)[0] == 0  # all or nothing
    # The relayer sets the named reading aside and resends the rest, unchanged.
    tx = runner.submit([b for i, b in enumerate(batch) if i != 2])
    assert len(tx.events["ReadingAccepted"]) == 4
    assert market.readings.slotReadings(delivered)[0] == 4


# ------------------------------------------------------------------------------------ imbalance


@pytest.fixture
def ready(market: Any, members: Any, meters: Any, runner: SlotRunner) -> int:
    """A slot with a trade (Alice sells Bob 2000 Wh) and readings from Alice, Bob and Carol,
    traded and past its reading deadline; its imbalance not yet settled."""
    slot = int(market.community.currentSlot()) + 2
    market.order_book.placeOrder(slot, SELL, 2000, 100_000, {"from": members["alice"]})
    market.order_book.placeOrder(slot, BUY, 2000, 150_000, {"from": members["bob"]})
    runner.settle(slot - 1)
    runner.settle_trades(slot)
    runner.deliver(slot)
    runner.submit(
        [
            signed_reading(market.readings, meters, "carol", slot, 0, 7000, 1),
            signed_reading(market.readings, meters, "alice", slot, 0, 1800, 1),
            signed_reading(market.readings, meters, "bob", slot, 2100, 0, 1),
        ]
    )
    runner.deliver(slot, deadline=True)
    return slot


def _settle(
    market: Any, matcher: Any, slot: int, members: list[str], words: list[int], trades: list[int]
) -> Any:
    return market.imbalance.settleImbalance(slot, 0, members, words, trades, {"from": matcher})


def test_altered_reading_words_are_refused(
    market: Any, runner: SlotRunner, ready: int, matcher: Any
) -> None:
    _, members, words, trades = runner.args(ready)
    inflated = list(words)
    inflated[0] += 1 << 208  # one more Wh exported
    with reverts_exact("ImbalanceReadingsMismatch", ready, 3, 3):
        _settle(market, matcher, ready, members, inflated, trades)
    with reverts_exact("ImbalanceReadingsMismatch", ready, 3, 2):  # a reading dropped
        _settle(market, matcher, ready, members, words[:2], trades)
    with reverts_exact("ImbalanceReadingsMismatch", ready, 3, 3):  # reordered
        _settle(market, matcher, ready, members, [words[1], words[0], words[2]], trades)


def test_altered_trade_words_are_refused(
    market: Any, runner: SlotRunner, ready: int, matcher: Any
) -> None:
    _, members, words, trades = runner.args(ready)
    with reverts_exact("ImbalanceTradesMismatch", ready):
        _settle(market, matcher, ready, members, words, [trades[0]])
    with reverts_exact("ImbalanceTradesMismatch", ready):
        _settle(market, matcher, ready, members, words, [trades[0] - (1 << 160), trades[1]])


def test_member_list_must_be_exact_and_ascending(
    market: Any, members: Any, runner: SlotRunner, ready: int, matcher: Any
) -> None:
    _, listed, words, trades = runner.args(ready)
    with reverts_exact("ImbalanceMembersNotAscending", 1):
        _settle(market, matcher, ready, [listed[1], listed[0], listed[2]], words, trades)
    with reverts_with("ImbalanceMemberMissing"):
        _settle(market, matcher, ready, listed[:2], words, trades)
    extra = sorted([*listed, members["dave"].address], key=lambda a: int(a, 16))
    with reverts_exact("ImbalanceMemberWithoutReading", members["dave"]):
        _settle(market, matcher, ready, extra, words, trades)


def test_slots_settle_once_in_order_after_their_trades(
    market: Any, runner: SlotRunner, ready: int, matcher: Any, outsider: Any
) -> None:
    args = runner.args(ready)
    with reverts_exact("ImbalanceNotMatcher", outsider):
        market.imbalance.settleImbalance(ready, *args, {"from": outsider})
    with reverts_exact("ImbalanceOutOfOrder", 0, ready, ready + 1):
        market.imbalance.settleImbalance(ready + 1, 0, [], [], [], {"from": matcher})
    market.imbalance.settleImbalance(ready, *args, {"from": matcher})
    with reverts_exact("ImbalanceOutOfOrder", 0, ready + 1, ready):
        market.imbalance.settleImbalance(ready, *args, {"from": matcher})
    runner.deliver(ready + 1, deadline=True)
    with reverts_exact("ImbalanceTradesNotSettled", ready + 1):
        market.imbalance.settleImbalance(ready + 1, 0, [], [], [], {"from": matcher})


def test_an_underfunded_supply_account_stops_the_slot_without_loss(
    market: Any, runner: SlotRunner, ready: int, matcher: Any, supply_account: Any, dso: Any
) -> None:
    float_ = market.token.balanceOf(supply_account)
    market.token.transfer(dso, float_, {"from": supply_account})
    with reverts_with("ImbalanceSupplyUnderfunded"):
        market.imbalance.settleImbalance(ready, *runner.args(ready), {"from": matcher})
    assert market.imbalance.nextSlot() == ready
    market.token.transfer(supply_account, float_, {"from": dso})
    market.imbalance.settleImbalance(ready, *runner.args(ready), {"from": matcher})
    assert market.imbalance.nextSlot() == ready + 1
