"""Pure checks of the imbalance submission builder (chain/metering.py); the contracts' acceptance
of the same words is tested against ganache in tests/contracts/test_metering.py."""

from __future__ import annotations

import pytest
from eth_utils.crypto import keccak

from chain.metering import (
    ZERO_HASH,
    pack_reading_word,
    pack_trade_word,
    positions,
    readings_hash,
    trades_hash,
)
from chain.signing import ReadingSpan, commit_order, slot_order

A = "0x" + "0a" * 20
B = "0x" + "0b" * 20
C = "0x" + "0c" * 20


def test_positions_sum_readings_and_trades_per_member_in_address_order() -> None:
    words = [
        pack_reading_word(B, 100, 0),
        pack_reading_word(A, 0, 700),
        pack_reading_word(B, 5, 30),
    ]
    trades = [
        pack_trade_word(A, 500, "sell"),
        pack_trade_word(B, 200, "buy"),
        pack_trade_word(C, 300, "buy"),  # no reading: no imbalance, left out
        pack_trade_word(A, 50, "buy"),
    ]
    got = positions(words, trades)
    assert [p.member.lower() for p in got] == [A, B]
    a, b = got
    assert (a.import_wh, a.export_wh, a.sold_wh, a.bought_wh) == (0, 700, 500, 50)
    assert (b.import_wh, b.export_wh, b.sold_wh, b.bought_wh) == (105, 30, 0, 200)
    assert a.metered_net_export_wh == 700 and a.traded_net_sold_wh == 450
    assert b.metered_net_export_wh == -75 and b.traded_net_sold_wh == -200


def test_commitments_are_the_contracts_hashes() -> None:
    words = [pack_reading_word(A, 1, 2), pack_reading_word(B, 3, 4)]
    first = keccak(ZERO_HASH + words[0].to_bytes(32, "big"))
    assert readings_hash(words) == keccak(first + words[1].to_bytes(32, "big"))
    assert readings_hash([]) == ZERO_HASH
    assert trades_hash([]) == keccak(b"")
    assert trades_hash(words) == keccak(b"".join(w.to_bytes(32, "big") for w in words))


def test_words_refuse_values_the_contracts_cannot_hold() -> None:
    with pytest.raises(ValueError):
        pack_reading_word(A, 1 << 40, 0)
    with pytest.raises(ValueError):
        pack_reading_word(A, -1, 0)
    with pytest.raises(ValueError):
        pack_trade_word(A, 0, "buy")
    assert pack_trade_word(A, 1, "sell") >> 255 == 1


def test_a_batch_of_spans_commits_reading_k_of_every_span_before_reading_k_plus_1() -> None:
    """MeterReadings' order (tests/contracts/test_reading_spans.py checks it against the
    chain's commitments): spans of 3, 1 and 2 slots from slots 0, 0 and 1."""
    alice = ReadingSpan(b"a", 0, 3, ((100, 0), (0, 700), (250, 40)))
    bob_first = ReadingSpan(b"b", 0, 1, ((5, 0),))
    bob_rest = ReadingSpan(b"b", 1, 2, ((6, 0), (7, 1)))
    order = [(i, r.slot, r.sequence) for i, r in commit_order([alice, bob_first, bob_rest])]
    assert order == [(0, 0, 3), (1, 0, 1), (2, 1, 2), (0, 1, 4), (2, 2, 3), (0, 2, 5)]
    assert commit_order([]) == []


def test_a_span_reads_back_from_its_words() -> None:
    span = ReadingSpan(b"m", 7, 11, ((1, 2), (0, (1 << 40) - 1)))
    assert ReadingSpan.from_words(b"m", 7, 11, span.words) == span
    assert [r.as_tuple() for r in span.readings()] == [
        (b"m", 7, 1, 2, 11),
        (b"m", 8, 0, (1 << 40) - 1, 12),
    ]


@pytest.mark.parametrize("slot", range(-1, 5))
def test_a_slots_readings_in_span_order_are_commit_orders_of_that_slot(slot: int) -> None:
    spans = [
        ReadingSpan(b"a", 0, 3, ((100, 0), (0, 700), (250, 40))),
        ReadingSpan(b"b", 0, 1, ((5, 0),)),
        ReadingSpan(b"b", 1, 2, ((6, 0), (7, 1))),
        ReadingSpan(b"c", 2, 9, ((1, 1), (2, 2))),
    ]
    assert slot_order(spans, slot) == [x for x in commit_order(spans) if x[1].slot == slot]
