"""Abuse cases (issue 9, docs/security.md): each is refused by a contract rule with its named error,
and nothing is lost: every balance ends where the rulebook says.

- order floods and dust: a per-member cap of orders per slot, a minimum order energy;
- an order in the last seconds before gate closure: accepted and settled, a clearing prepared
  without it refused;
- a relayer that drops, reorders, replays or alters signed orders (EIP-712, unordered nonces);
- a matcher that submits a valid-looking but smaller (non-optimal) clearing, in every mode;
- a DSO that mints without a top-up record or changes the tariff of a past or current slot.

The audit finds the same frauds in recorded events (tests/audit/test_audit_rules.py: "less than
the maximum volume", "tokens minted without a top-up").
"""

from __future__ import annotations

from typing import Any

import pytest
from brownie import OrderBook, chain

from chain.codec import encode_rules, pack_pair
from chain.intents import EMPTY_BATCH
from chain.signing import OrderIntent, order_typed_data, sign_typed_data
from gridshare.settings import Settings
from tests.contracts.conftest import EUR, MEMBER_KEYS
from tests.contracts.helpers import (
    ANY,
    catch_up,
    clear_on_chain_book,
    reverts_exact,
    reverts_with,
)
from tests.contracts.test_tamper import B1, B3, S1, S2, _market

BUY, SELL = 0, 1
UNIFORM, PAY_AS_BID, COMMUNITY = 0, 1, 2
TOP_UP = 100 * EUR
BUY_FEES = 5_000 + 40_000  # default trade fee (buy) + p2p grid fee, n€/Wh
CAP = Settings().max_orders_per_member_slot

uniform_market = _market("uniform")
pab_market = _market("pay-as-bid")
community_market = _market("community")


def escrow_of(energy: int, limit: int) -> int:
    return energy * (limit + BUY_FEES)


@pytest.fixture
def slot(community: Any) -> int:
    """An open slot, with chain time 60 s into the current one (no boundary passes mid-test)."""
    now = int(community.currentSlot()) + 1
    chain.mine(timestamp=int(community.slotStart(now)) + 60)
    return now + 2


# ------------------------------------------------------------------------------ floods and dust


def test_order_flood_is_capped_per_member_and_slot(
    book: Any, token: Any, members: dict[str, Any], alice: Any, carol: Any, slot: int
) -> None:
    assert book.maxOrdersPerMemberSlot() == CAP
    for _ in range(CAP):
        book.placeOrder(slot, BUY, 1, 100_000, {"from": alice})
    assert book.memberOrderCount(slot, alice) == CAP
    flood = 3 * CAP  # the rest of a flood of dust orders: every one refused
    for _ in range(flood):
        with reverts_exact("OrderBookMemberSlotFull", alice, slot, CAP):
            book.placeOrder(slot, BUY, 1, 100_000, {"from": alice})
    # Cancelling does not make room: a cancelled order keeps its place in the book.
    first = int(book.slotOrderIds(slot)[0])
    book.cancelOrder(first, {"from": alice})
    with reverts_exact("OrderBookMemberSlotFull", alice, slot, CAP):
        book.placeOrder(slot, SELL, 1, 100_000, {"from": alice})
    # A standing order reaching the full slot is refused as a whole.
    with reverts_exact("OrderBookMemberSlotFull", alice, slot, CAP):
        book.placeStandingOrder(slot - 1, slot + 1, SELL, 1, 100_000, {"from": alice})
    assert book.slotOrderCount(slot - 1) == 0
    # Others, and the member's other slots, are not affected.
    book.placeOrder(slot, SELL, 1_000, 100_000, {"from": carol})
    book.placeOrder(slot + 1, BUY, 1, 100_000, {"from": alice})
    assert book.slotOrderCount(slot) == CAP + 1
    # Nothing lost: alice paid the escrow of her live orders only.
    assert token.balanceOf(alice) == TOP_UP - (CAP - 1) * escrow_of(1, 100_000) - escrow_of(
        1, 100_000
    )
    assert token.balanceOf(book) == book.slotEscrow(slot) + book.slotEscrow(slot + 1)


def test_relayed_flood_is_capped_too(
    book: Any, members: dict[str, Any], alice: Any, relayer: Any, slot: int
) -> None:
    for nonce in range(CAP + 1):
        intent = _intent(alice, slot, "buy", 10, 100_000, nonce)
        signature = _sign(intent, book, "alice")
        if nonce < CAP:
            book.placeOrderWithSig(intent.as_tuple(), signature, {"from": relayer})
            continue
        with reverts_exact("OrderBookMemberSlotFull", alice, slot, CAP):
            book.placeOrderWithSig(intent.as_tuple(), signature, {"from": relayer})
        # The refused intent's nonce stays unused (the whole transaction reverted).
        assert not book.nonceUsed(alice, nonce)


def test_dust_below_the_minimum_order_energy_is_refused(
    make_market: Any, alice: Any, bob: Any
) -> None:
    dep = make_market({"alice": (alice, 2), "bob": (bob, 1)}, Settings(min_order_wh=100))
    slot = int(dep.community.currentSlot()) + 2
    assert dep.order_book.minOrderWh() == 100
    with reverts_exact("OrderBookEnergyTooSmall", 99, 100):
        dep.order_book.placeOrder(slot, SELL, 99, 100_000, {"from": alice})
    with reverts_exact("OrderBookZeroEnergy"):
        dep.order_book.placeOrder(slot, BUY, 0, 100_000, {"from": bob})
    with reverts_exact("OrderBookEnergyTooSmall", 1, 100):
        dep.order_book.placeStandingOrder(slot, slot + 3, BUY, 1, 100_000, {"from": bob})
    dep.order_book.placeOrder(slot, SELL, 100, 100_000, {"from": alice})
    assert dep.order_book.slotOrderCount(slot) == 1
    assert dep.token.balanceOf(bob) == TOP_UP


def test_order_limits_must_be_positive(community: Any, token: Any, dso: Any) -> None:
    with reverts_exact("OrderBookInvalidLimits", 0, 1):
        OrderBook.deploy(community, token, 2000, 96, 0, 1, {"from": dso})
    with reverts_exact("OrderBookInvalidLimits", 10, 0):
        OrderBook.deploy(community, token, 2000, 96, 10, 0, {"from": dso})


# ------------------------------------------------------------------------------ gate closure


def test_order_in_the_last_seconds_before_gate_closure(
    market: Any,
    book: Any,
    community: Any,
    members: dict[str, Any],
    alice: Any,
    carol: Any,
    matcher: Any,
    slot: int,
) -> None:
    slot -= 1  # the next slot: its gate closes within this one
    closure = int(community.gateClosure(slot))
    chain.mine(timestamp=closure - 60)
    book.placeOrder(slot, SELL, 1_000, 100_000, {"from": carol})
    stale = clear_on_chain_book(community, book, slot)[2]  # a clearing prepared too early
    chain.mine(timestamp=closure - 10)
    tx = book.placeOrder(slot, BUY, 1_000, 150_000, {"from": alice})
    assert closure - 10 <= tx.timestamp < closure
    chain.mine(timestamp=closure)
    with reverts_exact("OrderBookGateClosed", slot, closure, ANY):
        book.placeOrder(slot, BUY, 1_000, 150_000, {"from": alice})
    with reverts_exact("OrderBookGateClosed", slot, closure, ANY):
        book.cancelOrder(tx.return_value, {"from": alice})
    # The clearing that left the last order out is refused; the book's own clearing settles it.
    catch_up(market, slot, matcher)  # slots settle in order
    with reverts_exact("SettlementFillsLength", 2, 1):
        market.settlement.settleSlot(slot, *stale.args(), {"from": matcher})
    _, clearing, sub = clear_on_chain_book(community, book, slot)
    assert clearing.volume_wh == 1_000
    market.settlement.settleSlot(slot, *sub.args(), {"from": matcher})
    price = sub.price
    assert market.token.balanceOf(alice) == TOP_UP - 1_000 * (price + BUY_FEES)
    assert market.token.balanceOf(carol) == TOP_UP + 1_000 * (price - 5_000)
    assert market.token.balanceOf(book) == 0


# ------------------------------------------------------------------------------ relayers


def _intent(
    owner: Any, slot: int, side: str, energy: int, limit: int, nonce: int, deadline: int = 0
) -> OrderIntent:
    return OrderIntent(
        owner=str(owner.address),
        from_slot=slot,
        to_slot=slot,
        side=side,
        energy_wh=energy,
        limit_price=limit,
        nonce=nonce,
        deadline=deadline or chain.time() + 3600,
    )


def _sign(intent: OrderIntent, book: Any, name: str) -> bytes:
    return sign_typed_data(order_typed_data(intent, chain.id, book.address), MEMBER_KEYS[name])


def test_relayer_that_drops_reorders_replays_or_alters_orders(
    book: Any, token: Any, members: dict[str, Any], alice: Any, relayer: Any, slot: int
) -> None:
    """Nonces are unordered: a dropped order blocks nothing, a reordered one is placed in the
    order relayed (as if the member had sent them so), a replay or an altered intent is refused,
    and the member can void a withheld intent by using its nonce itself."""
    intents = [_intent(alice, slot, "buy", 1_000 * (n + 1), 110_000, n) for n in range(4)]
    signed = [(i.as_tuple(), _sign(i, book, "alice")) for i in intents]
    # The relayer sends #3 first, then #1, and withholds #0 and #2.
    third = book.placeOrderWithSig(*signed[3], {"from": relayer}).return_value
    first = book.placeOrderWithSig(*signed[1], {"from": relayer}).return_value
    assert [int(i) for i in book.slotOrderIds(slot)] == [third, first]
    # Replays are refused.
    for again in (signed[3], signed[1]):
        with reverts_exact("OrderBookNonceUsed", alice, again[0][6]):
            book.placeOrderWithSig(*again, {"from": relayer})
    # Altered intents (more energy, another owner's order book entry) are refused.
    bigger = list(signed[0][0])
    bigger[4] = 9_000
    with reverts_with("OrderBookBadSignature"):
        book.placeOrderWithSig(tuple(bigger), signed[0][1], {"from": relayer})
    # Alice voids the withheld #2 by sending another intent with its nonce herself.
    replacement = _intent(alice, slot, "buy", 500, 110_000, 2)
    book.placeOrderWithSig(
        replacement.as_tuple(), _sign(replacement, book, "alice"), {"from": alice}
    )
    with reverts_exact("OrderBookNonceUsed", alice, 2):
        book.placeOrderWithSig(*signed[2], {"from": relayer})
    # The withheld #0 expires with its deadline.
    chain.mine(timestamp=intents[0].deadline + 1)
    with reverts_exact("OrderBookSignatureExpired", intents[0].deadline, ANY):
        book.placeOrderWithSig(*signed[0], {"from": relayer})
    # Nothing lost: alice paid exactly the escrow of the three orders placed, the relayer nothing.
    placed = escrow_of(4_000, 110_000) + escrow_of(2_000, 110_000) + escrow_of(500, 110_000)
    assert token.balanceOf(alice) == TOP_UP - placed
    assert token.balanceOf(relayer) == 0
    assert book.slotEscrow(slot) == placed


# ------------------------------------------------------------------------------ matcher


def _smaller(fills: list[int]) -> list[int]:
    """The walk without its last pair (B3, S2, 1000 Wh): fills that look like a clearing (equal
    volumes, priority prefix) but trade 1000 Wh less than the optimum."""
    out = list(fills)
    out[B3] -= 1_000
    out[S2] -= 1_000
    return out


def test_matcher_smaller_uniform_clearing_is_refused(uniform_market: Any, matcher: Any) -> None:
    dep, slot = uniform_market
    _, clearing, sub = clear_on_chain_book(dep.community, dep.order_book, slot)
    assert clearing.volume_wh == 4_000
    fills = _smaller(list(sub.fills))
    # Its own midpoint (b* = B1 300000, a* = S2 240000) and the optimum's price: both refused.
    for price in (270_000, sub.price):
        with reverts_exact("SettlementCrossingLeft", 260_000, 240_000):
            dep.settlement.settleSlot(
                slot, UNIFORM, price, EMPTY_BATCH.args(), fills, [], {"from": matcher}
            )
    dep.settlement.settleSlot(slot, *sub.args(), {"from": matcher})


def test_matcher_smaller_pay_as_bid_clearing_is_refused(pab_market: Any, matcher: Any) -> None:
    dep, slot = pab_market
    _, _, sub = clear_on_chain_book(dep.community, dep.order_book, slot)
    fills = _smaller(list(sub.fills))
    pairs = [pack_pair(B1, S1, 2_500), pack_pair(B1, S2, 500)]
    with reverts_exact("SettlementCrossingLeft", 260_000, 240_000):
        dep.settlement.settleSlot(
            slot, PAY_AS_BID, 0, EMPTY_BATCH.args(), fills, pairs, {"from": matcher}
        )
    dep.settlement.settleSlot(slot, *sub.args(), {"from": matcher})


def test_matcher_smaller_community_clearing_is_refused(community_market: Any, matcher: Any) -> None:
    dep, slot = community_market
    _, _, sub = clear_on_chain_book(dep.community, dep.order_book, slot)
    fills = list(sub.fills)
    buyer = next(i for i, f in enumerate(fills) if f > 0 and i < S1)
    seller = next(i for i, f in enumerate(fills) if f > 0 and i >= S1)
    fills[buyer] -= 1
    fills[seller] -= 1
    with reverts_with("SettlementProRata"):
        dep.settlement.settleSlot(
            slot, COMMUNITY, sub.price, EMPTY_BATCH.args(), fills, [], {"from": matcher}
        )
    dep.settlement.settleSlot(slot, *sub.args(), {"from": matcher})


# ------------------------------------------------------------------------------ DSO


def test_dso_cannot_mint_without_a_top_up_record(
    token: Any, dso: Any, alice: Any, matcher: Any, members: dict[str, Any], ref: Any
) -> None:
    # The token has no mint function: the only way to create tokens is topUp.
    writes = {
        f["name"]
        for f in token.abi
        if f["type"] == "function" and f["stateMutability"] not in ("view", "pure")
    }
    assert "topUp" in writes and not {n for n in writes if "mint" in n.lower()}
    supply = int(token.totalSupply())
    with reverts_exact("EnergyTokenMissingReference"):
        token.topUp(alice, EUR, b"\0" * 32, {"from": dso})
    token.topUp(alice, EUR, ref("bank-transfer-7"), {"from": dso})
    with reverts_exact("EnergyTokenReferenceUsed", ref("bank-transfer-7")):
        token.topUp(alice, EUR, ref("bank-transfer-7"), {"from": dso})
    with reverts_with("AccessControlUnauthorizedAccount"):
        token.topUp(matcher, EUR, ref("bank-transfer-8"), {"from": matcher})
    # Exactly one mint, with its top-up record.
    assert token.totalSupply() == supply + EUR == token.totalMinted() - token.totalRedeemed()
    assert token.topUpRecorded(ref("bank-transfer-7"))


def test_dso_cannot_change_the_tariff_of_a_past_or_current_slot(
    community: Any, dso: Any, settings: Any
) -> None:
    now = int(community.currentSlot())
    earliest = now + settings.order_horizon_slots + 1
    before = [tuple(community.tariffAt(s)) for s in (now - 5, now, earliest - 1)]
    cheaper = list(encode_rules(settings.tariff.rules()))
    cheaper[1] = 60_000  # feed-in
    for start in (0, now - 5, now, now + 1, earliest - 1):
        with reverts_exact("CommunityTariffTooEarly", start, earliest):
            community.scheduleTariff(start, cheaper, {"from": dso})
    assert [tuple(community.tariffAt(s)) for s in (now - 5, now, earliest - 1)] == before
    community.scheduleTariff(earliest, cheaper, {"from": dso})
    assert int(community.tariffAt(earliest)[1]) == 60_000
