"""A meter may sign a span of its slot readings (e.g. a day's) once (issue 16): the span's
readings are checked and committed to their slots exactly as single readings are, the slots
settle from them as usual, and every tampering with a span reverts with a named error, the
batch all or nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from brownie import chain
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from chain.metering import readings_hash, word_member
from chain.signing import Reading, ReadingSpan, reading_span_typed_data
from tests.contracts.helpers import (
    SlotRunner,
    imbalance_settled,
    reverts_exact,
    reverts_with,
    sign_span,
    signed_reading,
)

FORGER_KEY = "0x" + "f0" * 32


@pytest.fixture
def delivered(market: Any, runner: SlotRunner) -> int:
    """The first of three consecutive slots just delivered; the slots before it settled."""
    slot = int(market.community.currentSlot())
    runner.settle(slot - 1)
    runner.deliver(slot + 2)
    return slot


def span_of(
    meters: Any, name: str, slot: int, energy: list[tuple[int, int]], seq: int = 1
) -> ReadingSpan:
    meter_id, _ = meters[name]
    return ReadingSpan(meter_id, slot, seq, tuple(energy))


def test_a_span_signed_once_commits_each_slot_as_single_readings_do(
    market: Any, meters: Any, runner: SlotRunner, delivered: int
) -> None:
    energy = [(100, 0), (0, 700), (250, 40)]
    span = span_of(meters, "alice", delivered, energy, seq=7)
    typed = reading_span_typed_data(span, chain.id, market.readings.address)
    message = encode_typed_data(full_message=typed)
    digest = keccak(b"\x19" + message.version + message.header + message.body)
    assert bytes(market.readings.spanDigest(span.as_tuple())) == digest
    # Bob's meter reports the same slots one signed reading at a time.
    singles = [
        signed_reading(market.readings, meters, "bob", delivered + k, imp, exp, 7 + k)
        for k, (imp, exp) in enumerate(energy)
    ]
    tx = runner.submit_spans([(span, sign_span(market.readings, meters["alice"][1], span))])
    # One event for the span (not one a reading), carrying the readings as signed.
    assert "ReadingAccepted" not in tx.events
    (event,) = tx.events["ReadingSpanAccepted"]
    assert bytes(event["meterId"]) == meters["alice"][0]
    assert event["member"] == market.community.meter(meters["alice"][0])[0]
    assert (int(event["firstSlot"]), int(event["firstSequence"])) == (delivered, 7)
    assert [int(w) for w in event["readings"]] == span.words
    runner.submit(singles)
    for k in range(3):
        count, committed = market.readings.slotReadings(delivered + k)
        assert int(count) == 2
        assert bytes(committed) == readings_hash(runner.words[delivered + k])
    assert tuple(market.readings.lastReading(meters["alice"][0])) == (True, delivered + 2, 9)
    # The slots settle against the meters from the span's readings as from any others.
    last = runner.settle(delivered + 2)
    settled = {e["member"]: e for e in imbalance_settled(last)}
    assert settled[market.community.meter(meters["alice"][0])[0]]["importWh"] == 250


def test_a_batch_of_spans_commits_slot_by_slot(
    market: Any, meters: Any, runner: SlotRunner, delivered: int
) -> None:
    # Alice's span covers three slots; Bob's two spans (one batch) cover the first and the last
    # two: reading k of every span is committed before reading k + 1 of any.
    alice = span_of(meters, "alice", delivered, [(100, 0), (0, 700), (250, 40)], seq=3)
    bob_first = span_of(meters, "bob", delivered, [(5, 0)], seq=1)
    bob_rest = span_of(meters, "bob", delivered + 1, [(6, 0), (7, 1)], seq=2)
    tx = runner.submit_spans(
        [
            (alice, sign_span(market.readings, meters["alice"][1], alice)),
            (bob_first, sign_span(market.readings, meters["bob"][1], bob_first)),
            (bob_rest, sign_span(market.readings, meters["bob"][1], bob_rest)),
        ]
    )
    names = {meters["alice"][0]: "alice", meters["bob"][0]: "bob"}
    spans = [
        (names[bytes(e["meterId"])], int(e["firstSlot"]) - delivered, len(e["readings"]))
        for e in tx.events["ReadingSpanAccepted"]
    ]
    assert spans == [("alice", 0, 3), ("bob", 0, 1), ("bob", 1, 2)]
    # Each slot's commitment folds reading k of every span before reading k + 1 of any: slots 1
    # and 2 take bob's readings (k = 0 and 1 of his second span) before alice's (k = 1 and 2).
    owner = {market.community.meter(meters[n][0])[0]: n for n in ("alice", "bob")}
    order = {k: [owner[word_member(w)] for w in runner.words[delivered + k]] for k in range(3)}
    assert order == {0: ["alice", "bob"], 1: ["bob", "alice"], 2: ["bob", "alice"]}
    for k in range(3):
        count, committed = market.readings.slotReadings(delivered + k)
        assert int(count) == 2
        assert bytes(committed) == readings_hash(runner.words[delivered + k])
    assert tuple(market.readings.lastReading(meters["bob"][0])) == (True, delivered + 2, 3)
    # A span of a meter's slots a span before it in the same batch already covered reverts.
    again = span_of(meters, "carol", delivered, [(1, 0)] * 2, seq=1)
    overlap = span_of(meters, "carol", delivered + 1, [(1, 0)] * 2, seq=3)
    carol = meters["carol"]
    with reverts_exact("MeterReadingsDuplicate", 1, carol[0], delivered + 1):
        runner.submit_spans(
            [
                (again, sign_span(market.readings, carol[1], again)),
                (overlap, sign_span(market.readings, carol[1], overlap)),
            ]
        )
    assert tuple(market.readings.lastReading(carol[0])) == (False, 0, 0)


def test_a_span_is_cheaper_than_its_readings_signed_one_by_one(
    market: Any, meters: Any, runner: SlotRunner, delivered: int
) -> None:
    # Carol reports first, so that both measured batches extend existing slot records.
    runner.submit(
        [
            signed_reading(market.readings, meters, "carol", delivered + k, 1, 0, 1 + k)
            for k in range(3)
        ]
    )
    energy = [(100 + k, k) for k in range(3)]
    span = span_of(meters, "alice", delivered, energy)
    spans = runner.submit_spans([(span, sign_span(market.readings, meters["alice"][1], span))])
    singles = runner.submit(
        [
            signed_reading(market.readings, meters, "bob", delivered + k, imp, exp, 1 + k)
            for k, (imp, exp) in enumerate(energy)
        ]
    )
    assert spans.gas_used < singles.gas_used


def test_an_altered_or_forged_span_is_rejected(
    market: Any, meters: Any, runner: SlotRunner, delivered: int
) -> None:
    key = meters["alice"][1]
    span = span_of(meters, "alice", delivered, [(100, 0), (0, 700)])
    signature = sign_span(market.readings, key, span)
    altered = replace(span, energy=((100, 0), (0, 7000)))  # the relay inflates an export
    with reverts_with("MeterReadingsBadSignature"):
        runner.submit_spans([(altered, signature)])
    shifted = replace(span, first_slot=delivered + 1)  # moved to other slots
    with reverts_with("MeterReadingsBadSignature"):
        runner.submit_spans([(shifted, signature)])
    with reverts_with("MeterReadingsBadSignature"):
        runner.submit_spans([(span, sign_span(market.readings, FORGER_KEY, span))])
    with reverts_with("MeterReadingsUnknownMeter"):
        runner.submit_spans([(replace(span, meter_id=bytes.fromhex("ab" * 32)), signature)])
    assert int(market.readings.slotReadings(delivered)[0]) == 0


def test_malformed_early_and_replayed_spans_revert_whole(
    market: Any, meters: Any, runner: SlotRunner, delivered: int
) -> None:
    meter_id, key = meters["alice"]
    empty = span_of(meters, "alice", delivered, [])
    with reverts_exact("MeterReadingsSpanMalformed", 0):
        runner.submit_spans([(empty, sign_span(market.readings, key, empty))])
    wide = span_of(meters, "alice", delivered, [(1 << 64, 0)])
    with reverts_exact("MeterReadingsSpanMalformed", 0):
        runner.submit_spans([(wide, sign_span(market.readings, key, wide))])
    # Reaching into a slot not yet delivered: the whole span reverts, its delivered slots too.
    early = span_of(meters, "alice", delivered, [(1, 0)] * 4)
    deliver_at = int(market.community.slotStart(delivered + 4))
    with reverts_exact("MeterReadingsNotDelivered", 0, delivered + 3, deliver_at):
        runner.submit_spans([(early, sign_span(market.readings, key, early))])
    assert int(market.readings.slotReadings(delivered)[0]) == 0
    good = span_of(meters, "alice", delivered, [(1, 0)] * 2)
    signature = sign_span(market.readings, key, good)
    runner.submit_spans([(good, signature)])
    with reverts_exact("MeterReadingsOutOfOrder", 0, meter_id, delivered, delivered + 1):
        runner.submit_spans([(good, signature)])  # replayed: behind the meter's last reading
    # A single reading for a slot the span already covered is a duplicate too.
    r, sig = signed_reading(market.readings, meters, "alice", delivered + 1, 0, 1, 5)
    with reverts_exact("MeterReadingsDuplicate", 0, meter_id, delivered + 1):
        runner.submit([(r, sig)])
    assert isinstance(r, Reading)


def test_only_the_oracle_relays_spans_with_one_signature_each(
    market: Any, meters: Any, runner: SlotRunner, delivered: int, alice: Any
) -> None:
    span = span_of(meters, "alice", delivered, [(1, 0)])
    signature = sign_span(market.readings, meters["alice"][1], span)
    with reverts_exact("MeterReadingsNotOracle", alice):
        market.readings.submitReadingSpans([span.as_tuple()], [signature], {"from": alice})
    with reverts_exact("MeterReadingsLengthMismatch", 1, 2):
        market.readings.submitReadingSpans(
            [span.as_tuple()], [signature, signature], {"from": runner.oracle}
        )
