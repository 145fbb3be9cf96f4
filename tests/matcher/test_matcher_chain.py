"""The matcher against a real ganache, in process: what it settles and how."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from hexbytes import HexBytes
from web3.types import Wei

from chain.gateway import SlotClearing
from chain.node import Node, Sender, TransactionReverted
from chain.signing import Reading, reading_typed_data, sign_typed_data
from gridshare.settings import Settings
from matcher.service import ImbalanceBatch, Matcher, slot_settlement_gas
from tests.contracts.helpers import clear_on_chain_book
from tests.matcher.helpers import DSO, FEE, MEMBERS, ORACLE, ContractCalls, Market


@pytest.fixture
def matcher(node: Node, settings: Settings) -> Matcher:
    assert settings.matcher is not None
    m = Matcher(node, Sender(settings.matcher))
    m.run_once()  # whatever earlier tests left due
    return m


def _by_slot(results: list[Any]) -> dict[int, Any]:
    return {r.slot: r for r in results}


def test_crossing_slot_settles_exactly_as_the_rulebook(
    market: Market, matcher: Matcher, node: Node
) -> None:
    alice, bob, carol, dave = MEMBERS[:4]
    slot = market.open_slot()
    market.place(alice, slot, "buy", 3000, 190_000)
    market.place(bob, slot, "buy", 2000, 120_000)
    market.place(carol, slot, "sell", 2500, 80_000)
    market.place(dave, slot, "sell", 2000, 150_000)
    carol_before = market.balance(market.accounts[carol])
    bob_before = market.balance(market.accounts[bob])
    start_block = node.w3.eth.block_number
    market.close_gate(slot)

    result = _by_slot(matcher.run_once())[slot]

    # Walk: (alice, carol, 2500), (alice, dave, 500); bob 120000 < dave 150000 stops it.
    # p = floor((190000 + 150000) / 2).
    assert (result.mode, result.price, result.volume_wh) == ("uniform", 170_000, 3000)
    assert (result.fills, result.orders) == (3, 4)
    assert result.gas_used is not None and result.gas_used > 0
    _, _, expected = clear_on_chain_book(
        ContractCalls(node, "Community"), ContractCalls(node, "OrderBook"), slot
    )
    (event,) = [e for e in market.settled_events(start_block) if e["slot"] == slot]
    assert list(event["fills"]) == expected.fills == [3000, 0, 2500, 500]
    assert event["price"] == expected.price == 170_000
    settled = matcher.settlement_gw.clearing_of(slot)
    assert settled == SlotClearing(True, "uniform", 170_000, 3000)
    # Carol is paid p·q less the sell fee; Bob's unfilled escrow comes back whole.
    assert market.balance(market.accounts[carol]) - carol_before == (170_000 - 5_000) * 2500
    assert market.balance(market.accounts[bob]) - bob_before == 2000 * (120_000 + 45_000)
    assert matcher.run_once() == []  # nothing left to do, nothing sent twice


def test_empty_slots_are_settled_with_no_price(market: Market, matcher: Matcher) -> None:
    first = market.open_slot()
    market.close_gate(first + 2)

    results = _by_slot(matcher.run_once())

    assert sorted(results) == [first, first + 1, first + 2]
    for r in results.values():
        assert (r.price, r.volume_wh, r.fills, r.orders) == (None, 0, 0, 0)
        assert r.gas_used is not None
    flags = [matcher.settlement_gw.clearing_of(s).settled for s in results]
    assert flags == [True, True, True]


def test_a_slot_that_does_not_cross_settles_and_refunds(market: Market, matcher: Matcher) -> None:
    buyer, seller = MEMBERS[4], MEMBERS[5]
    slot = market.open_slot()
    before = market.balance(market.accounts[buyer])
    market.place(buyer, slot, "buy", 1000, 100_000)
    market.place(seller, slot, "sell", 1000, 150_000)
    assert market.balance(market.accounts[buyer]) < before  # escrowed
    market.close_gate(slot)

    result = _by_slot(matcher.run_once())[slot]

    assert (result.price, result.volume_wh, result.fills, result.orders) == (None, 0, 0, 2)
    assert market.balance(market.accounts[buyer]) == before


def test_a_race_lost_to_another_submission_counts_as_done(
    market: Market, matcher: Matcher, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    slot = market.open_slot()
    market.place(MEMBERS[0], slot, "buy", 1000, 150_000)
    market.place(MEMBERS[1], slot, "sell", 1000, 100_000)
    market.close_gate(slot)
    assert matcher.settle(slot) is not None
    # A second matcher that read "not settled" just before the first one's transaction was mined.
    real_call = node.call
    monkeypatch.setattr(
        node,
        "call",
        lambda fn: (False, 0, 0, 0) if fn.fn_name == "clearingOf" else real_call(fn),
    )
    blocks = node.w3.eth.block_number

    late = Matcher(node, matcher.sender).settle(slot)

    assert late is not None and late.gas_used is None  # done, not an error
    # The losing transaction was mined and reverted; the error was found by replaying it.
    assert node.w3.eth.block_number == blocks + 1
    (tx_hash,) = node.w3.eth.get_block("latest")["transactions"]
    assert isinstance(tx_hash, bytes)
    assert node.w3.eth.get_transaction_receipt(HexBytes(tx_hash))["status"] == 0


def test_reverts_carry_the_decoded_custom_error(market: Market, node: Node) -> None:
    slot = market.open_slot()
    market.close_gate(slot)
    outsider = market.sender(MEMBERS[6])
    with pytest.raises(TransactionReverted) as caught:
        node.transact(
            node.contract("Settlement").functions.settleSlot(slot, 0, 0, ([], [], []), [], []),
            outsider,
        )
    assert caught.value.error == "SettlementNotMatcher"
    assert caught.value.error_args == (outsider.address.lower(),)


def test_a_matcher_with_a_private_key_signs_locally(market: Market, node: Node) -> None:
    key = Account.create("matcher-key-test").key.hex()
    keyed = Sender.from_key(key)
    community = node.contract("Community")
    role = node.call(community.functions.MATCHER_ROLE())
    market.dso_call("Community", "grantRole", role, keyed.address)
    node.w3.eth.send_transaction(
        {
            "from": market.accounts[DSO],
            "to": keyed.address,
            "value": Wei(10**18),
            "gasPrice": Wei(2 * 10**9),
        }
    )
    slot = market.open_slot()
    market.place(MEMBERS[2], slot, "buy", 700, 160_000)
    market.place(MEMBERS[3], slot, "sell", 500, 90_000)
    fee_before = market.balance(market.accounts[FEE])
    market.close_gate(slot)

    imbalance = node.contract("ImbalanceSettlement").functions
    imbalance_before = int(node.call(imbalance.nextSlot()))
    results = Matcher(node, keyed).run_once()
    imbalances = int(node.call(imbalance.nextSlot())) - imbalance_before

    result = _by_slot(results)[slot]
    assert (result.price, result.volume_wh) == (125_000, 500)
    assert market.balance(market.accounts[FEE]) - fee_before == 2 * 5_000 * 500
    # One transaction per slot for its trades, one batch for the delivered slots' imbalance.
    assert imbalances > 1
    assert node.w3.eth.get_transaction_count(keyed.address) == len(results) + 1


def test_after_delivery_it_settles_the_imbalance_against_the_meters(
    market: Market, matcher: Matcher, node: Node
) -> None:
    buyer, seller = MEMBERS[6], MEMBERS[7]
    community = node.contract("Community").functions
    readings = node.contract("MeterReadings")
    keys = {}
    for who in (buyer, seller):
        key = Account.create(f"matcher meter {who}")
        meter = f"matcher-meter-{who}".encode().ljust(32, b"\0")
        market.dso_call("Community", "registerMeter", meter, market.accounts[who], key.address)
        keys[who] = (meter, key.key)
    slot = market.open_slot()
    market.place(buyer, slot, "buy", 1_000, 180_000)
    market.place(seller, slot, "sell", 1_000, 100_000)
    market.close_gate(slot)
    matcher.run_once()
    assert matcher.imbalance_gw.next_slot() <= slot  # not delivered yet

    delivered = int(node.call(community.slotStart(slot + 1)))
    # Earlier slots (no readings) wait out their deadline; this one must not need to.
    deadline = matcher.imbalance_gw.reading_deadline_seconds()
    length = int(node.call(community.slotSeconds()))
    assert deadline > length
    when = delivered + deadline - length + 1
    node.make_request("evm_increaseTime", [when - node.block_timestamp()])
    node.make_request("evm_mine", [])
    metered = {
        buyer: (1_200, 0),
        seller: (0, 900),
    }  # bought 1,000: 200 short; sold 1,000: 100 short
    batch = [Reading(keys[w][0], slot, imp, exp, slot + 1) for w, (imp, exp) in metered.items()]
    signatures = [
        sign_typed_data(reading_typed_data(r, node.manifest.chain_id, readings.address), keys[w][1])
        for r, w in zip(batch, metered, strict=True)
    ]
    node.transact(
        readings.functions.submitReadings([r.as_tuple() for r in batch], signatures),
        Sender(market.accounts[ORACLE]),
    )
    start_block = node.w3.eth.block_number + 1
    matcher.run_once()

    assert matcher.imbalance_gw.next_slot() > slot
    settled = node.events(
        "ImbalanceSettlement",
        "ImbalanceSettled",
        from_block=start_block,
        argument_filters={"slot": slot},
    )
    got = {
        e["args"]["member"]: (e["args"]["importWh"], e["args"]["tradedNetSoldWh"]) for e in settled
    }
    assert got == {market.accounts[buyer]: (1_200, -1_000), market.accounts[seller]: (0, 1_000)}


def test_a_carrying_matcher_settles_the_meters_inside_its_slot_settlements(
    market: Market, matcher: Matcher, node: Node
) -> None:
    """With `imbalance_carry_slots`, due settlements against the meters ride on the slot
    settlements (SettlementRouter), one batch each, planned so that the two together stay
    within `imbalance_batch_gas`; a pass sends batches of its own only for the backlog beyond
    what the next `imbalance_carry_slots` settlements carry, oldest first; a pass that keeps
    nothing (`settle_imbalances()`) settles the rest."""
    # The slots here have no orders and no readings: by the matcher's estimate each (slot,
    # chunk) costs ENTRY_GAS and each slot settlement slot_settlement_gas(0). With this budget a
    # batch of its own takes two (slot, chunk)s, one carried beside a settlement takes one.
    budget = slot_settlement_gas(0) + ImbalanceBatch.ENTRY_GAS
    assert 2 * ImbalanceBatch.ENTRY_GAS <= budget < 3 * ImbalanceBatch.ENTRY_GAS
    carrier = Matcher(node, matcher.sender, imbalance_batch_gas=budget, imbalance_carry_slots=2)
    assert carrier.router_gw is not None and carrier.community_gw.chunk_count() == 1
    deadline = carrier.imbalance_gw.reading_deadline_seconds()
    slot = market.open_slot()
    market.close_gate(slot)
    assert matcher.run_once()  # its trades, and what is due against the meters so far
    first = carrier.imbalance_gw.next_slot()
    assert first <= slot
    # A dozen slots past `slot` are past their reading deadline (no readings): once their
    # trades settle, each is due against the meters too.
    delivered = int(node.call(node.contract("Community").functions.slotStart(slot + 12)))
    node.make_request("evm_increaseTime", [delivered + deadline + 1 - node.block_timestamp()])
    node.make_request("evm_mine", [])
    later = market.open_slot()
    market.close_gate(later)
    nonce = node.w3.eth.get_transaction_count(carrier.sender.address)

    results = carrier.run_once()

    sent = node.w3.eth.get_transaction_count(carrier.sender.address) - nonce
    carried = sum(r.carried for r in results)
    assert results[0].carried == 1 and all(r.carried <= 1 for r in results)
    alone = carrier.last_imbalance_pass  # batches sent on their own, two (slot, chunk)s each
    assert sent == len(results) + alone.transactions
    assert len(alone.slots) == 2 * alone.transactions
    kept = carrier.settle_imbalances()  # what the pass left to carry: two batches at most
    assert carrier.imbalance_gw.next_slot() > slot
    assert carried + len(alone.slots) + len(kept.slots) == carrier.imbalance_gw.next_slot() - first
    assert kept.transactions == (len(kept.slots) + 1) // 2
    assert len(kept.slots) <= 4
    # A backlog beyond what the next settlements carry (six more slots' trades settled by a
    # matcher that carries nothing): sent now, oldest first, the last two batches kept.
    last = later + 6
    market.close_gate(last)
    for s in range(later + 1, last + 1):
        assert matcher.settle(s) is not None
    delivered = int(node.call(node.contract("Community").functions.slotStart(last + 1)))
    node.make_request("evm_increaseTime", [delivered + deadline + 1 - node.block_timestamp()])
    node.make_request("evm_mine", [])
    backlog = last + 1 - carrier.imbalance_gw.next_slot()
    assert backlog > 6
    sent_alone = carrier.settle_imbalances(keep=2)
    assert len(sent_alone.slots) == 2 * sent_alone.transactions > 0
    left = backlog - len(sent_alone.slots)
    assert 3 <= left <= 4  # two batches: two (slot, chunk)s, then the last one or two
    assert carrier.imbalance_gw.next_slot() == last + 1 - left
    assert carrier.settle_imbalances().transactions == 2
    assert carrier.imbalance_gw.next_slot() == last + 1
