"""Unit tests of OrderBook: placing (direct, standing, relayed), escrow, cancelling, views."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from brownie import Community, OrderBook, chain
from brownie.exceptions import VirtualMachineError

from chain.codec import decode_order_word, encode_rules
from chain.intents import EMPTY_BATCH
from chain.signing import OrderIntent, cancel_typed_data, order_typed_data, sign_typed_data
from tests.contracts.conftest import EUR, MEMBER_KEYS
from tests.contracts.helpers import ANY, catch_up, reverts_exact, reverts_with

BUY, SELL = 0, 1
RETAIL, FEED_IN = 200_000, 70_000
FEE_BUY, P2P_GRID_FEE = 5_000, 40_000
BUY_FEES = FEE_BUY + P2P_GRID_FEE  # the most a buyer pays on top of its limit, per Wh
HORIZON = 96
MAX_STANDING = 96
MAX_ENERGY = 2**40 - 1
TOP_UP = 100 * EUR


# ------------------------------------------------------------------------------------ helpers


def escrow_of(energy: int, limit: int) -> int:
    """Rulebook: a buy order escrows limit * energy plus the largest fee it can incur."""
    return energy * (limit + BUY_FEES)


def _align(community: Any, into: int = 60) -> int:
    """Move chain time `into` seconds into the next slot (so no slot boundary passes mid-test)."""
    slot = int(community.currentSlot()) + 1
    chain.mine(timestamp=int(community.slotStart(slot)) + into)
    assert community.currentSlot() == slot
    return slot


@pytest.fixture
def now(community: Any) -> int:
    """The current slot, with chain time 60 s into it."""
    return _align(community)


@pytest.fixture
def slot(now: int) -> int:
    """An open slot (two ahead of the current one)."""
    return now + 2


def _intent(
    owner: Any,
    from_slot: int,
    to_slot: int,
    side: str,
    energy: int,
    limit: int,
    nonce: int,
    deadline: int | None = None,
) -> OrderIntent:
    return OrderIntent(
        owner=str(owner.address if hasattr(owner, "address") else owner),
        from_slot=from_slot,
        to_slot=to_slot,
        side=side,
        energy_wh=energy,
        limit_price=limit,
        nonce=nonce,
        deadline=chain.time() + 3600 if deadline is None else deadline,
    )


def _sign_order(intent: OrderIntent, book: Any, key: str, chain_id: int | None = None) -> bytes:
    typed = order_typed_data(intent, chain.id if chain_id is None else chain_id, book.address)
    return sign_typed_data(typed, key)


def _sign_cancel(
    owner: Any, order_id: int, nonce: int, deadline: int, book: Any, key: str
) -> bytes:
    typed = cancel_typed_data(str(owner), order_id, nonce, deadline, chain.id, book.address)
    return sign_typed_data(typed, key)


def _entries(book: Any, slot: int) -> list[Any]:
    return [decode_order_word(i, int(w)) for i, w in enumerate(book.slotBook(slot))]


def _lower(address: Any) -> str:
    return str(address).lower()


# ------------------------------------------------------------------------------------ placing


def test_buy_order_escrows_exactly(
    book: Any, token: Any, members: dict[str, Any], alice: Any, slot: int
) -> None:
    energy, limit = 1_500, 150_000
    expected = 1_500 * (150_000 + 5_000 + 40_000)
    assert expected == escrow_of(energy, limit) == 292_500_000
    assert book.escrowFor(slot, BUY, energy, limit) == expected
    before_alice, before_book = token.balanceOf(alice), token.balanceOf(book)
    assert (before_alice, before_book) == (TOP_UP, 0)
    first_id = book.nextOrderId()
    assert first_id == 1

    tx = book.placeOrder(slot, BUY, energy, limit, {"from": alice})
    assert tx.return_value == first_id
    assert token.balanceOf(alice) == before_alice - expected
    assert token.balanceOf(book) == expected
    assert book.escrowHeld() == expected
    assert book.slotEscrow(slot) == expected
    assert book.nextOrderId() == first_id + 1
    event = tx.events["OrderPlaced"]
    assert event["id"] == first_id
    assert event["owner"] == alice
    assert event["slot"] == slot
    assert event["index"] == 0
    assert event["side"] == BUY
    assert event["energyWh"] == energy
    assert event["limitPrice"] == limit
    assert event["escrow"] == expected
    transfer = tx.events["Transfer"]
    assert (transfer["from"], transfer["to"], transfer["value"]) == (alice, book, expected)


def test_sell_order_escrows_nothing(
    book: Any, token: Any, members: dict[str, Any], carol: Any, slot: int
) -> None:
    assert book.escrowFor(slot, SELL, 4_000, 90_000) == 0
    tx = book.placeOrder(slot, SELL, 4_000, 90_000, {"from": carol})
    assert token.balanceOf(carol) == TOP_UP
    assert token.balanceOf(book) == 0
    assert book.slotEscrow(slot) == 0
    assert "Transfer" not in tx.events
    event = tx.events["OrderPlaced"]
    assert (event["id"], event["owner"], event["slot"], event["index"]) == (1, carol, slot, 0)
    assert (event["side"], event["energyWh"], event["limitPrice"], event["escrow"]) == (
        SELL,
        4_000,
        90_000,
        0,
    )


def test_second_order_gets_next_index_and_id(
    book: Any, members: dict[str, Any], alice: Any, carol: Any, slot: int
) -> None:
    book.placeOrder(slot, BUY, 100, 100_000, {"from": alice})
    book.placeOrder(slot + 1, SELL, 100, 100_000, {"from": carol})
    tx = book.placeOrder(slot, SELL, 200, 100_000, {"from": carol})
    event = tx.events["OrderPlaced"]
    assert (event["id"], event["slot"], event["index"]) == (3, slot, 1)
    assert book.slotOrderCount(slot) == 2
    assert book.slotOrderCount(slot + 1) == 1


@pytest.mark.parametrize("side", [BUY, SELL])
@pytest.mark.parametrize("limit", [FEED_IN - 1, RETAIL + 1, 0, 10**9])
def test_price_out_of_bounds(
    book: Any, token: Any, members: dict[str, Any], alice: Any, slot: int, side: int, limit: int
) -> None:
    with reverts_exact("OrderBookPriceOutOfBounds", limit, FEED_IN, RETAIL):
        book.placeOrder(slot, side, 1_000, limit, {"from": alice})
    assert book.slotOrderCount(slot) == 0
    assert token.balanceOf(alice) == TOP_UP


@pytest.mark.parametrize("side", [BUY, SELL])
@pytest.mark.parametrize("limit", [FEED_IN, RETAIL])
def test_price_bounds_inclusive(
    book: Any, token: Any, members: dict[str, Any], alice: Any, slot: int, side: int, limit: int
) -> None:
    tx = book.placeOrder(slot, side, 1_000, limit, {"from": alice})
    expected = escrow_of(1_000, limit) if side == BUY else 0
    assert tx.events["OrderPlaced"]["limitPrice"] == limit
    assert tx.events["OrderPlaced"]["escrow"] == expected
    assert token.balanceOf(alice) == TOP_UP - expected


def test_zero_energy(book: Any, members: dict[str, Any], alice: Any, slot: int) -> None:
    with reverts_exact("OrderBookZeroEnergy"):
        book.placeOrder(slot, BUY, 0, 100_000, {"from": alice})
    with reverts_exact("OrderBookZeroEnergy"):
        book.placeStandingOrder(slot, slot + 2, SELL, 0, 100_000, {"from": alice})
    assert book.slotOrderCount(slot) == 0
    assert book.nextOrderId() == 1


def test_energy_too_large(book: Any, members: dict[str, Any], alice: Any, slot: int) -> None:
    with reverts_exact("OrderBookEnergyTooLarge", 2**40, MAX_ENERGY):
        book.placeOrder(slot, SELL, 2**40, 100_000, {"from": alice})
    with reverts_exact("OrderBookEnergyTooLarge", 2**64, MAX_ENERGY):
        book.placeOrder(slot, BUY, 2**64, 100_000, {"from": alice})
    assert book.slotOrderCount(slot) == 0
    # The largest energy that fits the order word is accepted (a sell needs no escrow).
    book.placeOrder(slot, SELL, MAX_ENERGY, 100_000, {"from": alice})
    (entry,) = _entries(book, slot)
    assert (entry.energy_wh, entry.price, entry.side) == (MAX_ENERGY, 100_000, "sell")


def test_non_member_rejected(book: Any, members: dict[str, Any], outsider: Any, slot: int) -> None:
    for side in (BUY, SELL):
        with reverts_exact("OrderBookNotMember", outsider):
            book.placeOrder(slot, side, 1_000, 100_000, {"from": outsider})
    assert book.slotOrderCount(slot) == 0


def test_consumer_cannot_sell(
    book: Any, community: Any, dso: Any, members: dict[str, Any], bob: Any, slot: int
) -> None:
    with reverts_exact("OrderBookRoleCannotSell", bob):
        book.placeOrder(slot, SELL, 1_000, 100_000, {"from": bob})
    with reverts_exact("OrderBookRoleCannotSell", bob):
        book.placeStandingOrder(slot, slot + 3, SELL, 1_000, 100_000, {"from": bob})
    assert book.slotOrderCount(slot) == 0
    # A consumer may buy ...
    book.placeOrder(slot, BUY, 1_000, 100_000, {"from": bob})
    # ... and sells once the DSO makes it a prosumer.
    community.setMemberRole(bob, 2, {"from": dso})
    book.placeOrder(slot, SELL, 1_000, 100_000, {"from": bob})
    assert [e.side for e in _entries(book, slot)] == ["buy", "sell"]


@pytest.mark.parametrize("role", [3, 4])
def test_prosumager_and_battery_can_sell(
    book: Any, community: Any, dso: Any, members: dict[str, Any], bob: Any, slot: int, role: int
) -> None:
    community.setMemberRole(bob, role, {"from": dso})
    book.placeOrder(slot, SELL, 1_000, 100_000, {"from": bob})
    assert book.slotOrderCount(slot) == 1


def test_gate_closed(
    book: Any,
    community: Any,
    token: Any,
    members: dict[str, Any],
    alice: Any,
    now: int,
    close_gate: Any,
) -> None:
    target = now + 2
    closure = int(community.gateClosure(target))
    assert closure == int(community.slotStart(target)) - 300
    # The current slot's gate closed long ago.
    with reverts_exact("OrderBookGateClosed", now, community.gateClosure(now), ANY):
        book.placeOrder(now, BUY, 1_000, 100_000, {"from": alice})
    # Open until just before the closure ...
    chain.mine(timestamp=closure - 30)
    book.placeOrder(target, BUY, 1_000, 100_000, {"from": alice})
    # ... closed from the closure on.
    close_gate(community, target)
    with reverts_exact("OrderBookGateClosed", target, closure, ANY):
        book.placeOrder(target, BUY, 1_000, 100_000, {"from": alice})
    with reverts_exact("OrderBookGateClosed", target, closure, ANY):
        book.placeStandingOrder(target, target + 4, SELL, 1_000, 100_000, {"from": alice})
    assert book.slotOrderCount(target) == 1
    assert token.balanceOf(alice) == TOP_UP - escrow_of(1_000, 100_000)
    # The next slot is still open.
    book.placeOrder(target + 1, BUY, 1_000, 100_000, {"from": alice})


def test_gate_closes_exactly_at_closure_time(
    book: Any, community: Any, members: dict[str, Any], alice: Any, now: int
) -> None:
    target = now + 1
    closure = int(community.gateClosure(target))
    chain.mine(timestamp=closure)  # the next transaction is mined at or after `closure`
    with reverts_exact("OrderBookGateClosed", target, closure, ANY):
        book.placeOrder(target, SELL, 1_000, 100_000, {"from": alice})


def test_beyond_horizon(
    book: Any, members: dict[str, Any], alice: Any, carol: Any, now: int
) -> None:
    last = now + HORIZON
    book.placeOrder(last, SELL, 1_000, 100_000, {"from": carol})
    with reverts_exact("OrderBookBeyondHorizon", last + 1, last):
        book.placeOrder(last + 1, BUY, 1_000, 100_000, {"from": alice})
    with reverts_exact("OrderBookBeyondHorizon", last + 1, last):
        book.placeStandingOrder(last - 3, last + 1, SELL, 1_000, 100_000, {"from": carol})
    with reverts_exact("OrderBookBeyondHorizon", 2**64 - 1, last):
        book.placeOrder(2**64 - 1, SELL, 1_000, 100_000, {"from": carol})
    assert book.slotOrderCount(last) == 1
    assert book.slotOrderCount(last + 1) == 0


# ------------------------------------------------------------------------------------ prepaid


def test_escrow_above_balance_rejected_and_leaves_nothing(
    book: Any, token: Any, members: dict[str, Any], bob: Any, slot: int
) -> None:
    per_wh = RETAIL + BUY_FEES  # 245000 n€/Wh
    affordable = TOP_UP // per_wh  # 408163 Wh
    too_much = affordable + 1
    with reverts_exact("ERC20InsufficientBalance", bob, TOP_UP, too_much * per_wh):
        book.placeOrder(slot, BUY, too_much, RETAIL, {"from": bob})
    assert token.balanceOf(bob) == TOP_UP
    assert token.balanceOf(book) == 0
    assert book.slotOrderCount(slot) == 0
    assert book.slotEscrow(slot) == 0
    assert book.nextOrderId() == 1
    with reverts_with("OrderBookUnknownOrder"):
        book.orderById(1)

    # Exactly what the balance covers is fine; then nothing is left for another buy.
    book.placeOrder(slot, BUY, affordable, RETAIL, {"from": bob})
    assert token.balanceOf(bob) == TOP_UP - affordable * per_wh == 65_000
    with reverts_exact("ERC20InsufficientBalance", bob, 65_000, escrow_of(1, 70_000)):
        book.placeOrder(slot, BUY, 1, 70_000, {"from": bob})
    assert book.slotOrderCount(slot) == 1


def test_standing_order_escrow_above_balance_rejected(
    book: Any, token: Any, members: dict[str, Any], alice: Any, slot: int
) -> None:
    # One instance fits (80.5 €), two do not: no instance at all is placed.
    energy, limit = 350_000, 185_000
    per_slot = escrow_of(energy, limit)
    assert per_slot < TOP_UP < 2 * per_slot
    with reverts_exact("ERC20InsufficientBalance", alice, TOP_UP, 2 * per_slot):
        book.placeStandingOrder(slot, slot + 1, BUY, energy, limit, {"from": alice})
    assert book.slotOrderCount(slot) == 0
    assert book.slotOrderCount(slot + 1) == 0
    assert book.nextOrderId() == 1
    assert token.balanceOf(alice) == TOP_UP


# ------------------------------------------------------------------------------------ standing


def test_standing_order(
    book: Any, token: Any, members: dict[str, Any], alice: Any, slot: int
) -> None:
    energy, limit, n = 1_000, 120_000, 4
    per_slot = escrow_of(energy, limit)
    assert per_slot == 165_000_000
    book.placeOrder(slot, SELL, 10, 100_000, {"from": alice})  # id 1, so the range starts at 2
    tx = book.placeStandingOrder(slot, slot + n - 1, BUY, energy, limit, {"from": alice})
    first = tx.return_value
    assert first == 2
    assert book.nextOrderId() == first + n
    placed = tx.events["OrderPlaced"]
    assert len(placed) == n
    for i, event in enumerate(placed):
        assert event["id"] == first + i
        assert event["slot"] == slot + i
        assert event["owner"] == alice
        assert event["side"] == BUY
        assert (event["energyWh"], event["limitPrice"], event["escrow"]) == (
            energy,
            limit,
            per_slot,
        )
        assert event["index"] == (1 if i == 0 else 0)
        assert book.slotEscrow(slot + i) == per_slot
        assert list(book.slotOrderIds(slot + i)) == ([1, first] if i == 0 else [first + i])
        s, index, word = book.orderById(first + i)
        assert (s, index) == (slot + i, 1 if i == 0 else 0)
        entry = decode_order_word(index, int(word))
        assert (entry.owner, entry.side, entry.energy_wh, entry.price) == (
            _lower(alice.address),
            "buy",
            energy,
            limit,
        )
    # The whole escrow is pulled in one transfer.
    transfers = tx.events["Transfer"]
    assert len(transfers) == 1
    assert transfers[0]["value"] == n * per_slot
    assert token.balanceOf(alice) == TOP_UP - n * per_slot
    assert token.balanceOf(book) == n * per_slot
    assert book.slotEscrow(slot + n) == 0


def test_standing_order_of_one_slot(
    book: Any, members: dict[str, Any], alice: Any, slot: int
) -> None:
    tx = book.placeStandingOrder(slot, slot, SELL, 500, 80_000, {"from": alice})
    assert len(tx.events["OrderPlaced"]) == 1
    assert book.nextOrderId() == 2


def test_standing_order_longest_range(
    book: Any, members: dict[str, Any], carol: Any, now: int
) -> None:
    first, last = now + 1, now + MAX_STANDING  # also the order horizon
    tx = book.placeStandingOrder(first, last, SELL, 700, 90_000, {"from": carol})
    assert len(tx.events["OrderPlaced"]) == MAX_STANDING
    assert book.nextOrderId() == 1 + MAX_STANDING
    assert list(book.slotOrderIds(first)) == [1]
    assert list(book.slotOrderIds(last)) == [MAX_STANDING]


def test_standing_order_invalid_range(
    book: Any, members: dict[str, Any], carol: Any, now: int
) -> None:
    first = now + 1
    with reverts_exact("OrderBookInvalidRange", first, first + MAX_STANDING, MAX_STANDING):
        book.placeStandingOrder(first, first + MAX_STANDING, SELL, 700, 90_000, {"from": carol})
    with reverts_exact("OrderBookInvalidRange", first + 5, first + 4, MAX_STANDING):
        book.placeStandingOrder(first + 5, first + 4, SELL, 700, 90_000, {"from": carol})
    assert book.nextOrderId() == 1


def test_standing_order_spans_a_tariff_change(
    book: Any,
    community: Any,
    token: Any,
    dso: Any,
    settings: Any,
    members: dict[str, Any],
    alice: Any,
    now: int,
) -> None:
    new = list(encode_rules(settings.tariff.rules()))
    new[0], new[3], new[4], new[6] = 150_000, 50_000, 6_000, 140_000  # retail, p2p, buy fee, pc
    new[9] = 140_000  # sharing price, within [feed-in, retail]
    change = now + HORIZON + 1
    community.scheduleTariff(change, tuple(new), {"from": dso})
    chain.mine(timestamp=int(community.slotStart(now + 3)) + 60)  # the change is now in reach
    start = now + 3 + HORIZON - 3
    assert start < change <= now + 3 + HORIZON
    # Each instance obeys its own slot's tariff: 180000 is above the new retail price.
    with reverts_exact("OrderBookPriceOutOfBounds", 180_000, FEED_IN, 150_000):
        book.placeStandingOrder(start, start + 3, BUY, 1_000, 180_000, {"from": alice})
    assert book.slotOrderCount(start) == 0

    tx = book.placeStandingOrder(start, start + 3, BUY, 1_000, 140_000, {"from": alice})
    old_escrow = 1_000 * (140_000 + 45_000)
    new_escrow = 1_000 * (140_000 + 56_000)
    escrows = [e["escrow"] for e in tx.events["OrderPlaced"]]
    assert escrows == [old_escrow, new_escrow, new_escrow, new_escrow]
    assert [book.slotEscrow(start + i) for i in range(4)] == escrows
    assert token.balanceOf(alice) == TOP_UP - sum(escrows)
    # Cancelling an instance under the new tariff refunds what it escrowed.
    cancel = book.cancelOrder(tx.return_value + 2, {"from": alice})
    assert cancel.events["OrderCancelled"]["refund"] == new_escrow
    assert token.balanceOf(alice) == TOP_UP - sum(escrows) + new_escrow


# ------------------------------------------------------------------------------------ relayed


def test_relayed_order(
    book: Any, token: Any, members: dict[str, Any], alice: Any, relayer: Any, slot: int
) -> None:
    intent = _intent(alice, slot, slot, "buy", 2_000, 130_000, nonce=7)
    signature = _sign_order(intent, book, MEMBER_KEYS["alice"])
    ether, tx_count = alice.balance(), alice.nonce
    tx = book.placeOrderWithSig(intent.as_tuple(), signature, {"from": relayer})
    assert alice.balance() == ether  # the relayer paid the gas
    assert alice.nonce == tx_count
    assert tx.return_value == 1
    expected = escrow_of(2_000, 130_000)
    assert token.balanceOf(alice) == TOP_UP - expected
    assert token.balanceOf(relayer) == 0
    assert book.slotEscrow(slot) == expected
    event = tx.events["OrderPlaced"]
    assert (event["id"], event["owner"], event["slot"], event["side"]) == (1, alice, slot, BUY)
    assert (event["energyWh"], event["limitPrice"], event["escrow"]) == (2_000, 130_000, expected)
    used = tx.events["NonceUsed"]
    assert (used["owner"], used["nonce"]) == (alice, 7)
    assert book.nonceUsed(alice, 7)
    assert not book.nonceUsed(alice, 6)
    # Replay of the same signature.
    with reverts_exact("OrderBookNonceUsed", alice, 7):
        book.placeOrderWithSig(intent.as_tuple(), signature, {"from": relayer})
    assert book.slotOrderCount(slot) == 1
    assert token.balanceOf(alice) == TOP_UP - expected


def test_relayed_standing_order(
    book: Any, token: Any, members: dict[str, Any], carol: Any, outsider: Any, slot: int
) -> None:
    intent = _intent(carol, slot, slot + 2, "sell", 3_000, 75_000, nonce=1)
    signature = _sign_order(intent, book, MEMBER_KEYS["carol"])
    tx = book.placeOrderWithSig(intent.as_tuple(), signature, {"from": outsider})  # anyone relays
    assert [e["id"] for e in tx.events["OrderPlaced"]] == [1, 2, 3]
    assert [e["owner"] for e in tx.events["OrderPlaced"]] == [carol] * 3
    assert [book.slotOrderCount(slot + i) for i in range(3)] == [1, 1, 1]


def test_relayed_order_expired(
    book: Any, members: dict[str, Any], alice: Any, relayer: Any, slot: int
) -> None:
    deadline = chain.time() + 60
    intent = _intent(alice, slot, slot, "buy", 2_000, 130_000, nonce=1, deadline=deadline)
    signature = _sign_order(intent, book, MEMBER_KEYS["alice"])
    chain.mine(timestamp=deadline + 1)
    with reverts_exact("OrderBookSignatureExpired", deadline, ANY):
        book.placeOrderWithSig(intent.as_tuple(), signature, {"from": relayer})
    assert not book.nonceUsed(alice, 1)
    assert book.slotOrderCount(slot) == 0


def test_relayed_order_signed_by_someone_else(
    book: Any, members: dict[str, Any], alice: Any, bob: Any, relayer: Any, slot: int
) -> None:
    intent = _intent(alice, slot, slot, "buy", 2_000, 130_000, nonce=1)
    signature = _sign_order(intent, book, MEMBER_KEYS["bob"])
    with reverts_exact("OrderBookBadSignature", alice, bob):
        book.placeOrderWithSig(intent.as_tuple(), signature, {"from": relayer})
    # Garbage or empty signatures recover nobody.
    with reverts_exact("OrderBookBadSignature", alice, "0x" + "00" * 20):
        book.placeOrderWithSig(intent.as_tuple(), b"\x01" * 65, {"from": relayer})
    with reverts_exact("OrderBookBadSignature", alice, "0x" + "00" * 20):
        book.placeOrderWithSig(intent.as_tuple(), b"", {"from": relayer})
    assert not book.nonceUsed(alice, 1)
    assert book.slotOrderCount(slot) == 0


@pytest.mark.parametrize(
    "field,value",
    [
        ("energy_wh", 20_000),
        ("limit_price", 199_000),
        ("side", "sell"),
        ("to_slot", 1),  # offset added to the slot below
        ("nonce", 2),
        ("deadline", 1),  # offset added below
    ],
)
def test_relayed_order_tampered(
    book: Any,
    token: Any,
    members: dict[str, Any],
    alice: Any,
    relayer: Any,
    slot: int,
    field: str,
    value: Any,
) -> None:
    signed = _intent(alice, slot, slot, "buy", 2_000, 130_000, nonce=1)
    signature = _sign_order(signed, book, MEMBER_KEYS["alice"])
    changes = {
        "energy_wh": value,
        "limit_price": value,
        "side": value,
        "to_slot": slot + 1,
        "nonce": value,
        "deadline": signed.deadline + 1,
    }
    fields = {name: getattr(signed, name) for name in signed.__dataclass_fields__}
    fields[field] = changes[field]
    tampered = OrderIntent(**fields)
    with reverts_exact("OrderBookBadSignature", alice, ANY):
        book.placeOrderWithSig(tampered.as_tuple(), signature, {"from": relayer})
    assert book.slotOrderCount(slot) == 0
    assert token.balanceOf(alice) == TOP_UP


def test_relayed_order_for_another_domain_rejected(
    book: Any, token: Any, members: dict[str, Any], alice: Any, relayer: Any, slot: int
) -> None:
    intent = _intent(alice, slot, slot, "buy", 2_000, 130_000, nonce=1)
    # Signed for another chain, or for another contract: a different EIP-712 domain.
    other_chain = _sign_order(intent, book, MEMBER_KEYS["alice"], chain_id=chain.id + 1)
    with reverts_with("OrderBookBadSignature"):
        book.placeOrderWithSig(intent.as_tuple(), other_chain, {"from": relayer})
    typed = order_typed_data(intent, chain.id, token.address)
    other_contract = sign_typed_data(typed, MEMBER_KEYS["alice"])
    with reverts_with("OrderBookBadSignature"):
        book.placeOrderWithSig(intent.as_tuple(), other_contract, {"from": relayer})
    assert book.slotOrderCount(slot) == 0


def test_relayed_order_obeys_order_rules(
    book: Any, members: dict[str, Any], bob: Any, relayer: Any, slot: int
) -> None:
    # A valid signature does not bypass the rules (here: a consumer cannot sell), and the failed
    # attempt does not burn the nonce.
    intent = _intent(bob, slot, slot, "sell", 2_000, 130_000, nonce=1)
    signature = _sign_order(intent, book, MEMBER_KEYS["bob"])
    with reverts_exact("OrderBookRoleCannotSell", bob):
        book.placeOrderWithSig(intent.as_tuple(), signature, {"from": relayer})
    assert not book.nonceUsed(bob, 1)


# ------------------------------------------------------------------------------------ cancelling


def test_cancel_releases_escrow_exactly(
    book: Any, token: Any, members: dict[str, Any], alice: Any, slot: int
) -> None:
    keep = book.placeOrder(slot, BUY, 300, 90_000, {"from": alice}).return_value
    order_id = book.placeOrder(slot, BUY, 1_234, 171_717, {"from": alice}).return_value
    escrow = escrow_of(1_234, 171_717)
    kept = escrow_of(300, 90_000)
    assert token.balanceOf(alice) == TOP_UP - escrow - kept
    tx = book.cancelOrder(order_id, {"from": alice})
    event = tx.events["OrderCancelled"]
    assert (event["id"], event["owner"], event["slot"], event["refund"]) == (
        order_id,
        alice,
        slot,
        escrow,
    )
    transfer = tx.events["Transfer"]
    assert (transfer["from"], transfer["to"], transfer["value"]) == (book, alice, escrow)
    assert token.balanceOf(alice) == TOP_UP - kept
    assert token.balanceOf(book) == kept
    assert book.slotEscrow(slot) == kept
    # The entry stays in the book, flagged cancelled; the other order is untouched.
    assert book.slotOrderCount(slot) == 2
    entries = _entries(book, slot)
    assert [e.cancelled for e in entries] == [False, True]
    assert book.orderById(keep)[2] == book.slotBook(slot)[0]


def test_cancel_sell_order(
    book: Any, token: Any, members: dict[str, Any], carol: Any, slot: int
) -> None:
    order_id = book.placeOrder(slot, SELL, 1_000, 80_000, {"from": carol}).return_value
    tx = book.cancelOrder(order_id, {"from": carol})
    assert tx.events["OrderCancelled"]["refund"] == 0
    assert "Transfer" not in tx.events
    assert token.balanceOf(carol) == TOP_UP
    assert _entries(book, slot)[0].cancelled


def test_cancel_errors(
    book: Any, token: Any, members: dict[str, Any], alice: Any, bob: Any, slot: int
) -> None:
    order_id = book.placeOrder(slot, BUY, 1_000, 100_000, {"from": alice}).return_value
    with reverts_exact("OrderBookNotOwner", order_id, bob):
        book.cancelOrder(order_id, {"from": bob})
    with reverts_exact("OrderBookUnknownOrder", 999):
        book.cancelOrder(999, {"from": alice})
    with reverts_exact("OrderBookUnknownOrder", 0):
        book.cancelOrder(0, {"from": alice})
    book.cancelOrder(order_id, {"from": alice})
    with reverts_exact("OrderBookAlreadyCancelled", order_id):
        book.cancelOrder(order_id, {"from": alice})
    assert token.balanceOf(alice) == TOP_UP
    assert token.balanceOf(book) == 0


def test_cancel_after_gate_closure_rejected(
    book: Any,
    community: Any,
    token: Any,
    members: dict[str, Any],
    alice: Any,
    slot: int,
    close_gate: Any,
) -> None:
    order_id = book.placeOrder(slot, BUY, 1_000, 100_000, {"from": alice}).return_value
    escrow = escrow_of(1_000, 100_000)
    close_gate(community, slot)
    with reverts_exact("OrderBookGateClosed", slot, community.gateClosure(slot), ANY):
        book.cancelOrder(order_id, {"from": alice})
    assert book.slotEscrow(slot) == escrow
    assert token.balanceOf(alice) == TOP_UP - escrow
    assert not _entries(book, slot)[0].cancelled


def test_cancel_order_with_sig(
    book: Any, token: Any, members: dict[str, Any], alice: Any, relayer: Any, slot: int
) -> None:
    order_id = book.placeOrder(slot, BUY, 1_000, 110_000, {"from": alice}).return_value
    escrow = escrow_of(1_000, 110_000)
    deadline = chain.time() + 3600
    signature = _sign_cancel(alice, order_id, 5, deadline, book, MEMBER_KEYS["alice"])
    ether = alice.balance()
    tx = book.cancelOrderWithSig(alice, order_id, 5, deadline, signature, {"from": relayer})
    assert alice.balance() == ether
    event = tx.events["OrderCancelled"]
    assert (event["id"], event["owner"], event["slot"], event["refund"]) == (
        order_id,
        alice,
        slot,
        escrow,
    )
    assert (tx.events["NonceUsed"]["owner"], tx.events["NonceUsed"]["nonce"]) == (alice, 5)
    assert token.balanceOf(alice) == TOP_UP  # refunded to the owner, not the relayer
    assert token.balanceOf(relayer) == 0
    assert book.slotEscrow(slot) == 0
    with reverts_exact("OrderBookNonceUsed", alice, 5):
        book.cancelOrderWithSig(alice, order_id, 5, deadline, signature, {"from": relayer})


def test_cancel_order_with_sig_errors(
    book: Any,
    token: Any,
    members: dict[str, Any],
    alice: Any,
    bob: Any,
    relayer: Any,
    slot: int,
) -> None:
    alice_order = book.placeOrder(slot, BUY, 1_000, 110_000, {"from": alice}).return_value
    bob_order = book.placeOrder(slot, BUY, 1_000, 110_000, {"from": bob}).return_value
    deadline = chain.time() + 3600
    # Bob signs the cancellation of Alice's order.
    forged = _sign_cancel(alice, alice_order, 1, deadline, book, MEMBER_KEYS["bob"])
    with reverts_exact("OrderBookBadSignature", alice, bob):
        book.cancelOrderWithSig(alice, alice_order, 1, deadline, forged, {"from": relayer})
    # A signature for one order does not cancel another.
    signed = _sign_cancel(alice, alice_order, 1, deadline, book, MEMBER_KEYS["alice"])
    with reverts_with("OrderBookBadSignature"):
        book.cancelOrderWithSig(alice, bob_order, 1, deadline, signed, {"from": relayer})
    # Alice may sign only for her own orders.
    own = _sign_cancel(alice, bob_order, 2, deadline, book, MEMBER_KEYS["alice"])
    with reverts_exact("OrderBookNotOwner", bob_order, alice):
        book.cancelOrderWithSig(alice, bob_order, 2, deadline, own, {"from": relayer})
    # Expired.
    late = chain.time() - 10
    expired = _sign_cancel(alice, alice_order, 3, late, book, MEMBER_KEYS["alice"])
    with reverts_exact("OrderBookSignatureExpired", late, ANY):
        book.cancelOrderWithSig(alice, alice_order, 3, late, expired, {"from": relayer})
    # Nonces are shared with placement intents.
    intent = _intent(alice, slot, slot, "sell", 10, 80_000, nonce=4)
    signature = _sign_order(intent, book, MEMBER_KEYS["alice"])
    book.placeOrderWithSig(intent.as_tuple(), signature, {"from": relayer})
    reused = _sign_cancel(alice, alice_order, 4, deadline, book, MEMBER_KEYS["alice"])
    with reverts_exact("OrderBookNonceUsed", alice, 4):
        book.cancelOrderWithSig(alice, alice_order, 4, deadline, reused, {"from": relayer})
    assert [e.cancelled for e in _entries(book, slot)] == [False, False, False]
    assert token.balanceOf(alice) == TOP_UP - escrow_of(1_000, 110_000)


def test_cancel_all(
    book: Any, token: Any, members: dict[str, Any], alice: Any, bob: Any, slot: int
) -> None:
    a1 = escrow_of(1_000, 100_000)
    a2 = escrow_of(2_500, 180_000)
    a3 = escrow_of(700, 150_000)
    b1 = escrow_of(900, 160_000)
    later = escrow_of(400, 120_000)
    book.placeOrder(slot, BUY, 1_000, 100_000, {"from": alice})  # id 1
    book.placeOrder(slot, BUY, 900, 160_000, {"from": bob})  # id 2
    book.placeOrder(slot, SELL, 5_000, 90_000, {"from": alice})  # id 3
    book.placeOrder(slot, BUY, 2_500, 180_000, {"from": alice})  # id 4
    book.placeOrder(slot + 1, BUY, 400, 120_000, {"from": alice})  # id 5, another slot
    book.placeOrder(slot, BUY, 700, 150_000, {"from": alice})  # id 6, cancelled beforehand
    book.cancelOrder(6, {"from": alice})
    assert token.balanceOf(alice) == TOP_UP - a1 - a2 - later

    tx = book.cancelAll(slot, {"from": alice})
    assert tx.return_value == 3
    cancelled = tx.events["OrderCancelled"]
    assert [e["id"] for e in cancelled] == [1, 3, 4]
    assert [e["refund"] for e in cancelled] == [a1, 0, a2]
    assert all(e["owner"] == alice and e["slot"] == slot for e in cancelled)
    transfers = tx.events["Transfer"]
    assert len(transfers) == 1
    assert (transfers[0]["to"], transfers[0]["value"]) == (alice, a1 + a2)
    assert token.balanceOf(alice) == TOP_UP - later
    assert token.balanceOf(bob) == TOP_UP - b1
    assert book.slotEscrow(slot) == b1
    assert book.slotEscrow(slot + 1) == later
    assert token.balanceOf(book) == b1 + later
    assert [e.cancelled for e in _entries(book, slot)] == [True, False, True, True, True]
    assert not _entries(book, slot + 1)[0].cancelled
    assert a3 > 0

    # Nothing left to cancel: count 0, no transfer.
    again = book.cancelAll(slot, {"from": alice})
    assert again.return_value == 0
    assert "Transfer" not in again.events
    assert "OrderCancelled" not in again.events
    # Someone without orders in the slot.
    assert book.cancelAll(slot, {"from": members["carol"]}).return_value == 0


def test_cancel_all_after_gate_closure_rejected(
    book: Any,
    community: Any,
    token: Any,
    members: dict[str, Any],
    alice: Any,
    slot: int,
    close_gate: Any,
) -> None:
    book.placeOrder(slot, BUY, 1_000, 100_000, {"from": alice})
    close_gate(community, slot)
    with reverts_exact("OrderBookGateClosed", slot, community.gateClosure(slot), ANY):
        book.cancelAll(slot, {"from": alice})
    assert book.slotEscrow(slot) == escrow_of(1_000, 100_000)


# ------------------------------------------------------------------------------------ slot cap


def test_slot_full(
    community: Any,
    token: Any,
    dso: Any,
    members: dict[str, Any],
    alice: Any,
    bob: Any,
    carol: Any,
    slot: int,
) -> None:
    small = OrderBook.deploy(community, token, 3, 96, 10, 1, {"from": dso})
    token.grantRole(token.MARKET_ROLE(), small, {"from": dso})
    assert small.maxOrdersPerSlot() == 3
    assert small.nextOrderId() == 1
    small.placeOrder(slot, BUY, 1_000, 100_000, {"from": alice})
    small.placeOrder(slot, SELL, 1_000, 100_000, {"from": carol})
    small.placeOrder(slot, BUY, 500, 100_000, {"from": bob})
    with reverts_exact("OrderBookSlotFull", slot, 3):
        small.placeOrder(slot, SELL, 1_000, 100_000, {"from": alice})
    # Cancelled orders keep their place in the book.
    small.cancelOrder(1, {"from": alice})
    with reverts_exact("OrderBookSlotFull", slot, 3):
        small.placeOrder(slot, BUY, 1_000, 100_000, {"from": bob})
    # A standing order that reaches a full slot is rejected as a whole.
    with reverts_exact("OrderBookSlotFull", slot, 3):
        small.placeStandingOrder(slot - 1, slot + 1, SELL, 1_000, 100_000, {"from": carol})
    assert small.slotOrderCount(slot - 1) == 0
    assert small.nextOrderId() == 4
    assert small.slotOrderCount(slot) == 3
    assert token.balanceOf(bob) == TOP_UP - escrow_of(500, 100_000)
    # Other slots are not affected.
    small.placeOrder(slot + 1, SELL, 1_000, 100_000, {"from": carol})
    assert small.slotOrderCount(slot + 1) == 1
    assert token.balanceOf(small) == small.slotEscrow(slot) == escrow_of(500, 100_000)


def test_order_book_without_market_role_cannot_escrow(
    community: Any, token: Any, dso: Any, members: dict[str, Any], alice: Any, slot: int
) -> None:
    rogue = OrderBook.deploy(community, token, 10, 96, 10, 1, {"from": dso})
    with reverts_exact("AccessControlUnauthorizedAccount", rogue, ANY):
        rogue.placeOrder(slot, BUY, 1_000, 100_000, {"from": alice})
    assert token.balanceOf(alice) == TOP_UP


# ------------------------------------------------------------------------------------ views


def test_views_are_consistent(
    book: Any,
    members: dict[str, Any],
    alice: Any,
    bob: Any,
    carol: Any,
    dave: Any,
    slot: int,
) -> None:
    placed: list[tuple[int, int, Any, str, int, int]] = []  # id, slot, owner, side, energy, price
    orders = [
        (alice, slot, BUY, 1_000, 150_000),
        (carol, slot, SELL, 2_000, 80_000),
        (bob, slot + 1, BUY, 3_000, 199_999),
        (dave, slot, SELL, 4_000, 70_000),
        (bob, slot, BUY, 5_000, 200_000),
        (carol, slot + 1, SELL, 6_000, 100_001),
    ]
    for owner, s, side, energy, price in orders:
        order_id = book.placeOrder(s, side, energy, price, {"from": owner}).return_value
        placed.append((order_id, s, owner, "sell" if side else "buy", energy, price))
    book.cancelOrder(4, {"from": dave})
    for s in (slot, slot + 1):
        mine = [p for p in placed if p[1] == s]
        ids = list(book.slotOrderIds(s))
        words = list(book.slotBook(s))
        assert ids == [p[0] for p in mine]
        assert book.slotOrderCount(s) == len(words) == len(ids)
        for index, (order_id, _s, owner, side_name, energy, price) in enumerate(mine):
            entry = decode_order_word(index, int(words[index]))
            assert entry.owner == _lower(owner.address)
            assert (entry.side, entry.energy_wh, entry.price) == (side_name, energy, price)
            assert entry.cancelled == (order_id == 4)
            got_slot, got_index, got_word = book.orderById(order_id)
            assert (got_slot, got_index, got_word) == (s, index, words[index])
    assert list(book.slotOrderIds(slot + 2)) == []
    assert list(book.slotBook(slot + 2)) == []
    with reverts_exact("OrderBookUnknownOrder", 7):
        book.orderById(7)


def test_escrow_invariant(
    book: Any,
    token: Any,
    members: dict[str, Any],
    alice: Any,
    bob: Any,
    carol: Any,
    erin: Any,
    slot: int,
) -> None:
    used = [slot, slot + 1, slot + 2, slot + 3]
    people = list(members.values())

    def check() -> None:
        held = token.balanceOf(book)
        assert held == book.escrowHeld()
        assert held == sum(book.slotEscrow(s) for s in used)
        open_buys = 0
        for s in used:
            slot_escrow = 0
            for entry in _entries(book, s):
                if entry.side == "buy" and not entry.cancelled:
                    slot_escrow += escrow_of(entry.energy_wh, entry.price)
            assert book.slotEscrow(s) == slot_escrow
            open_buys += slot_escrow
        assert held == open_buys
        # Conservation: supply == minted - redeemed == every balance, escrow included.
        supply = token.totalSupply()
        assert supply == token.totalMinted() - token.totalRedeemed() == 5 * TOP_UP
        assert supply == sum(token.balanceOf(p) for p in people) + held

    check()
    book.placeOrder(slot, BUY, 1_000, 100_000, {"from": alice})
    check()
    book.placeStandingOrder(slot, slot + 3, BUY, 2_000, 150_000, {"from": bob})
    check()
    book.placeOrder(slot + 1, SELL, 3_000, 90_000, {"from": carol})
    book.placeOrder(slot + 2, BUY, 4_000, 200_000, {"from": erin})
    check()
    book.cancelOrder(3, {"from": bob})
    check()
    book.cancelAll(slot, {"from": bob})
    check()
    book.placeOrder(slot + 3, BUY, 10_000, 70_000, {"from": alice})
    check()
    assert token.balanceOf(book) == (
        escrow_of(1_000, 100_000)
        + 2 * escrow_of(2_000, 150_000)
        + escrow_of(4_000, 200_000)
        + escrow_of(10_000, 70_000)
    )


# ------------------------------------------------------------------------------ settlement link


def test_close_slot_and_bind_are_guarded(
    book: Any,
    settlement: Any,
    community: Any,
    dso: Any,
    outsider: Any,
    members: dict[str, Any],
    slot: int,
    close_gate: Any,
) -> None:
    assert book.settlement() == settlement
    with reverts_exact("OrderBookSettlementBound", settlement):
        book.bindSettlement(outsider, {"from": dso})
    with reverts_exact("OrderBookNotAdmin", outsider):
        book.bindSettlement(outsider, {"from": outsider})
    close_gate(community, slot)
    with reverts_exact("OrderBookNotSettlement", outsider):
        book.closeSlot(slot, [], {"from": outsider})
    with reverts_exact("OrderBookNotSettlement", dso):
        book.closeSlot(slot, [], {"from": dso})
    assert not book.slotSettled(slot)


def test_slot_with_cancelled_order_settles(
    market: Any,
    book: Any,
    token: Any,
    community: Any,
    settlement: Any,
    matcher: Any,
    members: dict[str, Any],
    bob: Any,
    slot: int,
    close_gate: Any,
) -> None:
    """Control for the regression test below: a slot whose only order was cancelled settles."""
    book.placeOrder(slot, BUY, 1_000, 100_000, {"from": bob})
    book.cancelOrder(1, {"from": bob})
    close_gate(community, slot)
    catch_up(market, slot, matcher)  # slots settle in order
    tx = settlement.settleSlot(slot, 0, 0, EMPTY_BATCH.args(), [0], [], {"from": matcher})
    assert tx.events["SlotClosed"]["escrowReleased"] == 0
    # Slots settle in order, so one word says which are settled: this one and every one before.
    assert book.slotSettled(slot) and book.slotSettled(slot - 1)
    assert not book.slotSettled(slot + 1)
    assert token.balanceOf(bob) == TOP_UP
    assert token.balanceOf(book) == 0


# ------------------------------------------------------------------------------------ 15-min slots


def test_fifteen_minute_order_book(
    token: Any,
    dso: Any,
    settings: Any,
    fee_account: Any,
    network_account: Any,
    members: dict[str, Any],
    alice: Any,
    carol: Any,
) -> None:
    genesis = chain.time() - chain.time() % 86_400 - 86_400
    quarter = Community.deploy(
        dso,
        genesis,
        900,
        300,
        96,
        encode_rules(settings.tariff.rules()),
        fee_account,
        network_account,
        256,
        {"from": dso},
    )
    quarter.registerMember(alice, 2, 0, {"from": dso})
    quarter.registerMember(carol, 2, 0, {"from": dso})
    book15 = OrderBook.deploy(quarter, token, 100, 96, 10, 1, {"from": dso})
    token.grantRole(token.MARKET_ROLE(), book15, {"from": dso})
    now = _align(quarter)
    target = now + 1
    assert quarter.gateClosure(target) == genesis + target * 900 - 300
    # 60 s into the current slot: the next one closes in 900 - 60 - 300 = 540 s.
    tx = book15.placeOrder(target, BUY, 1_000, 100_000, {"from": alice})
    assert tx.events["OrderPlaced"]["escrow"] == escrow_of(1_000, 100_000)
    book15.placeStandingOrder(now + 1, now + 96, SELL, 500, 80_000, {"from": carol})
    with reverts_exact("OrderBookBeyondHorizon", now + 97, now + 96):
        book15.placeOrder(now + 97, SELL, 500, 80_000, {"from": carol})
    chain.mine(timestamp=int(quarter.gateClosure(target)))
    with reverts_exact("OrderBookGateClosed", target, quarter.gateClosure(target), ANY):
        book15.cancelOrder(1, {"from": alice})
    book15.placeOrder(target + 1, BUY, 1_000, 100_000, {"from": alice})
    assert token.balanceOf(book15) == 2 * escrow_of(1_000, 100_000)


# ------------------------------------------------------------------------------------ contract bug


# Regression: a limit >= 2**40 used to be packed into the order word's 40-bit price field before
# the bounds check, spilling into the side bit (a consumer's buy became a sell) and the cancelled
# bit (an order born cancelled kept its escrow, so the slot could never settle). The bounds are now
# checked on the caller's value before packing.
@pytest.mark.parametrize("high_bits", [2**40, 2**41, 2**56])
def test_limit_price_above_word_width_rejected(
    book: Any, token: Any, members: dict[str, Any], bob: Any, slot: int, high_bits: int
) -> None:
    limit = high_bits + 100_000
    with reverts_exact("OrderBookPriceOutOfBounds", limit, FEED_IN, RETAIL):
        book.placeOrder(slot, BUY, 1_000, limit, {"from": bob})
    assert book.slotOrderCount(slot) == 0
    assert token.balanceOf(bob) == TOP_UP


# Regression, the worst consequence of the bug above: an order stored already cancelled with its
# escrow counted made every settlement of its slot revert with OrderBookEscrowMismatch.
def test_limit_price_overflow_cannot_block_settlement(
    market: Any,
    book: Any,
    token: Any,
    community: Any,
    settlement: Any,
    matcher: Any,
    members: dict[str, Any],
    bob: Any,
    slot: int,
    close_gate: Any,
) -> None:
    with contextlib.suppress(VirtualMachineError):  # the correct outcome: the order is rejected
        book.placeOrder(slot, BUY, 1_000, 2**41 + 100_000, {"from": bob})
    close_gate(community, slot)
    count = int(book.slotOrderCount(slot))
    catch_up(market, slot, matcher)  # slots settle in order
    settlement.settleSlot(
        slot, 0, 0, EMPTY_BATCH.args(), [0] * count, [], {"from": matcher}
    )  # no trades
    assert book.slotSettled(slot)
    assert token.balanceOf(bob) == TOP_UP
    assert token.balanceOf(book) == 0
