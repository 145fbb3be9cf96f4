"""Settlement against meters in chunks of members: each registration's chunk is fixed, readings
are committed per (slot, chunk), each chunk settles its slots in order in its own transaction and
digest chain, and `nextSlot` is the least over the chunks. Two members a chunk here."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
from brownie import web3
from eth_account import Account

from chain.codec import decode_rules
from chain.devchain import bare_node, storage_words
from chain.metering import (
    imbalance_link,
    pack_reading_word,
    positions,
    readings_hash,
    settle_positions,
    slot_digest,
    trades_hash,
)
from chain.signing import Reading
from gridshare.settings import Settings
from tests.contracts.conftest import EUR, METER_KEYS
from tests.contracts.helpers import SlotRunner, imbalance_settled, reverts_exact, sign_reading

SELL, BUY = 1, 0
CONSUMER, PROSUMER = 1, 2
ZERO_HASH = b"\0" * 32


@pytest.fixture(scope="module")
def chunked(
    make_market: Any,
    alice: Any,
    bob: Any,
    carol: Any,
    dso: Any,
    supply_account: Any,
    ref: Any,
) -> Any:
    """Alice and Bob in chunk 0, Carol in chunk 1 (two members a chunk), each with a meter."""
    people = {"alice": (alice, PROSUMER), "bob": (bob, CONSUMER), "carol": (carol, PROSUMER)}
    dep = make_market(people, Settings(chunk_members=2))
    for name, (account, _role) in people.items():
        signer = Account.from_key(METER_KEYS[name]).address
        dep.community.registerMeter(ref(f"meter-{name}"), account, signer, {"from": dso})
    dep.token.topUp(supply_account, 100 * EUR, ref(f"{dep.token.address[:10]}-sup"), {"from": dso})
    return dep


def _reading(dep: Any, ref: Any, name: str, slot: int, imp: int, exp: int, seq: int) -> Any:
    r = Reading(ref(f"meter-{name}"), slot, imp, exp, seq)
    return r, sign_reading(dep.readings, METER_KEYS[name], r)


def test_registrations_fill_chunks_in_order_and_open_each_once(
    chunked: Any, alice: Any, bob: Any, carol: Any, ref: Any
) -> None:
    c = chunked.community
    assert [int(c.chunkOf(m)) for m in (alice, bob, carol)] == [0, 0, 1]
    assert int(c.chunkCount()) == 2 and int(c.chunkMembers()) == 2
    assert [int(x) for x in c.meter(ref("meter-carol"))[2:]] == [1, int(c.chunkFromSlot(1))]
    with reverts_exact("CommunityUnknownChunk", 2):
        c.chunkFromSlot(2)


def test_each_chunk_settles_its_own_readings_in_its_own_transaction(
    chunked: Any, alice: Any, bob: Any, carol: Any, oracle: Any, matcher: Any, ref: Any
) -> None:
    dep, imb = chunked, chunked.imbalance
    run = SlotRunner(dep, oracle, matcher)
    slot = int(dep.community.currentSlot()) + 2
    dep.order_book.placeOrder(slot, SELL, 1000, 100_000, {"from": alice})
    dep.order_book.placeOrder(slot, BUY, 1000, 150_000, {"from": bob})
    run.settle(slot - 1)
    run.settle_trades(slot)
    run.deliver(slot, deadline=True)
    run.submit([_reading(dep, ref, "alice", slot, 0, 1200, 1)])  # Bob's meter is late

    # Chunk 0's words are not chunk 1's commitment (Carol has no reading yet).
    _c0, members0, words0, trades = run.args(slot, 0)
    assert members0 == [alice.address]
    with reverts_exact("ImbalanceReadingsMismatch", slot, 0, 1):
        imb.settleImbalance(slot, 1, members0, words0, trades, {"from": matcher})
    tx0 = imb.settleImbalance(slot, 0, members0, words0, trades, {"from": matcher})
    assert [e["member"] for e in imbalance_settled(tx0)] == members0
    assert int(imb.nextSlotOf(0)) == slot + 1
    assert int(imb.nextSlot()) == slot  # chunk 1 has not settled it
    with reverts_exact("ImbalanceOutOfOrder", 0, slot + 1, slot):
        imb.settleImbalance(slot, 0, members0, words0, trades, {"from": matcher})

    # Chunk 0's slot is closed to readings; chunk 1's is still open.
    with reverts_exact("MeterReadingsSlotClosed", 0, slot):
        run.submit([_reading(dep, ref, "bob", slot, 900, 0, 1)])
    run.submit([_reading(dep, ref, "carol", slot, 0, 500, 1)])
    _c1, members1, words1, _ = run.args(slot, 1)
    assert members1 == [carol.address]
    tx1 = imb.settleImbalance(slot, 1, members1, words1, trades, {"from": matcher})
    assert int(imb.nextSlot()) == slot + 1

    # Each chunk's link is its own chain: the audit's recomputation from the events.
    rules = decode_rules(dep.community.tariffAt(slot))
    _settled, _mode, price, volume = dep.settlement.clearingOf(slot)
    for chunk, words, tx in ((0, words0, tx0), (1, words1, tx1)):
        expected = settle_positions(rules.tariff, positions(words, trades))
        h = ZERO_HASH
        for exp, event in zip(expected, imbalance_settled(tx), strict=True):
            h = imbalance_link(h, exp, int(event["collected"]))
        digest = slot_digest(
            bytes(imb.digestAt(slot - 1, chunk)),
            slot,
            chunk,
            rules.mode,
            price,
            volume,
            trades_hash(trades),
            readings_hash(words),
            h,
        )
        assert bytes(imb.digestAt(slot, chunk)) == digest
        assert tx.events["SlotDigest"]["chunk"] == chunk
        assert tx.events["SlotReadingsClosed"]["chunk"] == chunk

    # The slot's platform fees count once (chunk 0's call), not once per chunk.
    period = slot // int(imb.periodSlots())
    assert int(imb.platformFeesOf(period)) == int(dep.settlement.tradesOf(slot)[1]) > 0


def test_a_chunk_opened_later_starts_at_its_first_slot(
    chunked: Any, dave: Any, dso: Any, oracle: Any, matcher: Any, ref: Any
) -> None:
    dep, c = chunked, chunked.community
    run = SlotRunner(dep, oracle, matcher)
    run.settle(int(c.currentSlot()) - 1)
    dep.community.registerMember(dave, CONSUMER, 0, {"from": dso})  # fourth: chunk 1 is full
    assert int(c.chunkOf(dave)) == 1 and int(c.chunkCount()) == 2
    erin = Account.from_key("0x" + "e8" * 32).address
    tx = dep.community.registerMember(erin, CONSUMER, 0, {"from": dso})
    now = int(c.currentSlot())
    assert tx.events["ChunkOpened"]["chunk"] == 2
    assert tx.events["ChunkOpened"]["fromSlot"] == now
    assert tx.events["MemberRegistered"]["chunk"] == 2
    assert int(dep.imbalance.nextSlotOf(2)) == now
    signer = Account.from_key(METER_KEYS["erin"]).address
    dep.community.registerMeter(ref("meter-erin"), erin, signer, {"from": dso})
    # A reading for a slot before its chunk opened could never settle: refused.
    run.deliver(now)
    with reverts_exact("MeterReadingsSlotClosed", 0, now - 1):
        run.submit([_reading(dep, ref, "erin", now - 1, 100, 0, 1)])
    run.submit([_reading(dep, ref, "erin", now, 100, 0, 1)])
    run.settle(now)
    assert int(dep.imbalance.nextSlot()) == now + 1
    settled = {int(k): int(dep.imbalance.nextSlotOf(k)) for k in range(3)}
    assert settled == {0: now + 1, 1: now + 1, 2: now + 1}


def test_a_slot_s_record_chains_every_chunk_s_readings_in_acceptance_order(
    chunked: Any, alice: Any, bob: Any, carol: Any, oracle: Any, matcher: Any, ref: Any
) -> None:
    """`slotReadings` (what Flexibility checks a slot's words against) chains every reading in
    acceptance order, `chunkReadings` each chunk's own; while only chunk 0 has readings the
    slot's record is chunk 0's (not stored twice), and it goes on from there when another chunk's
    reading comes in, in a later batch or within a batch that starts with any chunk."""
    dep = chunked
    readings = dep.readings
    run = SlotRunner(dep, oracle, matcher)
    slot = int(dep.community.currentSlot())
    run.deliver(slot + 1)

    def record(s: int, chunk: int | None = None) -> tuple[int, bytes]:
        count, h = (
            readings.slotReadings(s) if chunk is None else readings.chunkReadings(s, chunk)[:2]
        )
        return int(count), bytes(h)

    def signed(name: str, s: int, imp: int, exp: int) -> Any:
        return _reading(dep, ref, name, s, imp, exp, 10_000 + s)

    a = pack_reading_word(alice.address, 0, 700)
    b = pack_reading_word(bob.address, 900, 0)
    c = pack_reading_word(carol.address, 0, 500)
    run.submit([signed("alice", slot, 0, 700)])
    assert record(slot) == record(slot, 0) == (1, readings_hash([a]))
    run.submit([signed("carol", slot, 0, 500), signed("bob", slot, 900, 0)])
    assert record(slot) == (3, readings_hash([a, c, b]))
    assert record(slot, 0) == (2, readings_hash([a, b]))
    assert record(slot, 1) == (1, readings_hash([c]))

    # A batch whose first reading of the slot is chunk 1's.
    nxt = slot + 1
    run.submit([signed("carol", nxt, 0, 400), signed("alice", nxt, 0, 300)])
    a2, c2 = pack_reading_word(alice.address, 0, 300), pack_reading_word(carol.address, 0, 400)
    assert record(nxt) == (2, readings_hash([c2, a2]))
    assert record(nxt, 0) == (1, readings_hash([a2]))
    assert record(nxt, 1) == (1, readings_hash([c2]))
    assert record(nxt + 1) == (0, b"\0" * 32)  # no reading: nothing


def test_slots_of_intents_and_one_chunk_add_only_their_chunk_records_to_the_state(
    market: Any, members: Any, meters: Any, runner: SlotRunner
) -> None:
    """A slot with no direct order and readings of chunk 0 only leaves two new storage words:
    its chunk record. Neither the order book's book and escrow words nor the slot's record apart
    from chunk 0's are read: an unwritten word read costs a chain no state, but anvil keeps
    every word a transaction touched (anvil_dumpState lists it), and each later block pays."""
    if "anvil" not in str(web3.client_version).lower():
        pytest.skip("anvil's state dump")

    node = bare_node(urlparse(str(web3.provider.endpoint_uri)).port or 0, int(web3.eth.chain_id))

    def words() -> dict[str, int]:
        held = storage_words(node)
        return {c: held.get(getattr(market, c).address, 0) for c in ("order_book", "readings")}

    def read_slot(slot: int) -> None:  # every meter, imports only: no export word to add
        runner.deliver(slot)
        batch = []
        for meter_id, key in meters.values():
            r = Reading(meter_id, slot, 100 + slot % 7, 0, slot + 1)
            batch.append((r, sign_reading(market.readings, key, r)))
        runner.submit(batch)
        runner.settle(slot)

    first = int(market.community.currentSlot()) + 1
    read_slot(first)  # each meter's last reading is a word from here on
    before = words()
    for slot in range(first + 1, first + 4):
        read_slot(slot)
    after = words()
    # At most the bitmap word of a new run of 256 slots, read empty (not across one here).
    assert after["order_book"] == before["order_book"] + ((first + 3) >> 8) - (first >> 8)
    assert after["readings"] == before["readings"] + 3 * 2
