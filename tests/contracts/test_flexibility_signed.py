"""Relayed flexibility offers (EIP-712 `OfferIntent`, `Flexibility.offerWithSig`): a signed
offer is stored exactly as the same direct offer, the member pays no gas; wrong signer, expired
deadline, replayed nonce and an offer after the gate closure revert with their named errors,
and every direct-offer check applies to the member behind a relayed offer."""

from __future__ import annotations

from typing import Any

import pytest
from brownie import chain

from chain.signing import FlexOfferIntent, flex_offer_typed_data, sign_typed_data
from gridshare.settings import Settings
from tests.contracts.conftest import EUR, MEMBER_KEYS, _ref
from tests.contracts.helpers import ANY, reverts_exact, sleep_until

MAX_PRICE = 200_000


@pytest.fixture(scope="module")
def flex_market(
    make_market: Any, alice: Any, bob: Any, carol: Any, dso: Any, network_account: Any
) -> Any:
    people = {"alice": (alice, 2), "bob": (bob, 1)}  # carol stays outside the community
    dep = make_market(people, Settings())
    dep.token.topUp(network_account, 1000 * EUR, _ref("flex-signed-net"), {"from": dso})
    return dep


@pytest.fixture
def request_id(flex_market: Any, dso: Any) -> int:
    """An open request for a slot a few hours ahead; its gate closes 10 minutes before it."""
    dep = flex_market
    slot = int(dep.community.currentSlot()) + 6
    gate = int(dep.community.slotStart(slot)) - 600
    tx = dep.flexibility.publishRequest(slot, 0, 1_500, MAX_PRICE, gate, {"from": dso})
    return int(tx.return_value)


def _intent(
    member: Any, rid: int, qty: int = 600, price: int = 150_000, nonce: int = 1, deadline: int = 0
) -> FlexOfferIntent:
    return FlexOfferIntent(str(member), rid, qty, price, nonce, deadline or chain.time() + 3_600)


def _sign(flex: Any, intent: FlexOfferIntent, key: str) -> bytes:
    return sign_typed_data(flex_offer_typed_data(intent, chain.id, flex.address), key)


def test_signed_offer_equals_direct_offer(
    flex_market: Any, request_id: int, alice: Any, bob: Any, relayer: Any
) -> None:
    flex = flex_market.flexibility
    intent = _intent(alice, request_id, nonce=7)
    ether, tx_count = alice.balance(), alice.nonce
    tx = flex.offerWithSig(
        intent.as_tuple(), _sign(flex, intent, MEMBER_KEYS["alice"]), {"from": relayer}
    )
    assert (alice.balance(), alice.nonce) == (ether, tx_count)  # the relayer paid the gas
    direct = flex.offer(request_id, 600, 150_000, {"from": bob})
    words = list(flex.offersOf(request_id))
    mask = (1 << 160) - 1
    assert words[0] & mask == int(alice.address, 16) and words[1] & mask == int(bob.address, 16)
    assert words[0] >> 160 == words[1] >> 160  # same quantity and price
    signed_event, direct_event = tx.events["FlexOffered"], direct.events["FlexOffered"]
    for field in ("requestId", "quantityWh", "price"):
        assert signed_event[field] == direct_event[field]
    assert (signed_event["index"], signed_event["member"]) == (0, alice)
    used = tx.events["FlexOfferSigned"]
    assert (used["requestId"], used["member"], used["nonce"], used["relayer"]) == (
        request_id,
        alice,
        7,
        relayer,
    )
    assert flex.nonceUsed(alice, 7) and not flex.nonceUsed(alice, 6)
    assert flex.domainSeparator() != flex_market.order_book.domainSeparator()


def test_signed_offer_wrong_signer(
    flex_market: Any, request_id: int, alice: Any, bob: Any, relayer: Any
) -> None:
    flex = flex_market.flexibility
    intent = _intent(alice, request_id)
    with reverts_exact("FlexibilityBadSignature", alice, bob):
        flex.offerWithSig(
            intent.as_tuple(), _sign(flex, intent, MEMBER_KEYS["bob"]), {"from": relayer}
        )
    with reverts_exact("FlexibilityBadSignature", alice, "0x" + "00" * 20):
        flex.offerWithSig(intent.as_tuple(), b"\x01" * 65, {"from": relayer})
    # A signature over other terms (the relayer raised the price) recovers someone else.
    signature = _sign(flex, intent, MEMBER_KEYS["alice"])
    tampered = FlexOfferIntent(
        intent.member, request_id, 600, 190_000, intent.nonce, intent.deadline
    )
    with reverts_exact("FlexibilityBadSignature", alice, ANY):
        flex.offerWithSig(tampered.as_tuple(), signature, {"from": relayer})
    assert not flex.nonceUsed(alice, 1) and len(flex.offersOf(request_id)) == 0


def test_signed_offer_expired(flex_market: Any, request_id: int, alice: Any, relayer: Any) -> None:
    flex = flex_market.flexibility
    deadline = chain.time() + 60
    intent = _intent(alice, request_id, deadline=deadline)
    signature = _sign(flex, intent, MEMBER_KEYS["alice"])
    chain.mine(timestamp=deadline + 1)
    with reverts_exact("FlexibilitySignatureExpired", deadline, ANY):
        flex.offerWithSig(intent.as_tuple(), signature, {"from": relayer})
    assert not flex.nonceUsed(alice, 1)


def test_signed_offer_replayed_nonce(
    flex_market: Any, dso: Any, request_id: int, alice: Any, relayer: Any
) -> None:
    flex = flex_market.flexibility
    intent = _intent(alice, request_id, nonce=3)
    signature = _sign(flex, intent, MEMBER_KEYS["alice"])
    flex.offerWithSig(intent.as_tuple(), signature, {"from": relayer})
    with reverts_exact("FlexibilityNonceUsed", alice, 3):
        flex.offerWithSig(intent.as_tuple(), signature, {"from": relayer})
    # The nonce is spent for every request, not per request.
    slot = int(flex_market.community.currentSlot()) + 7
    gate = int(flex_market.community.slotStart(slot)) - 600
    other = int(flex.publishRequest(slot, 1, 500, MAX_PRICE, gate, {"from": dso}).return_value)
    again = _intent(alice, other, nonce=3)
    with reverts_exact("FlexibilityNonceUsed", alice, 3):
        flex.offerWithSig(
            again.as_tuple(), _sign(flex, again, MEMBER_KEYS["alice"]), {"from": relayer}
        )
    assert len(flex.offersOf(request_id)) == 1 and len(flex.offersOf(other)) == 0


def test_signed_offer_after_gate_closure(
    flex_market: Any, request_id: int, alice: Any, relayer: Any
) -> None:
    flex = flex_market.flexibility
    gate = int(flex.requestOf(request_id)[4])
    intent = _intent(alice, request_id, deadline=gate + 3_600)
    signature = _sign(flex, intent, MEMBER_KEYS["alice"])
    sleep_until(gate)
    with reverts_exact("FlexibilityGateClosed", request_id, gate):
        flex.offerWithSig(intent.as_tuple(), signature, {"from": relayer})
    assert not flex.nonceUsed(alice, 1)  # a refused offer does not spend its nonce


def test_signed_offer_has_the_direct_checks(
    flex_market: Any, request_id: int, alice: Any, carol: Any, relayer: Any
) -> None:
    flex = flex_market.flexibility

    def relay(member: Any, key: str, **kw: Any) -> None:
        intent = _intent(member, request_id, **kw)
        flex.offerWithSig(intent.as_tuple(), _sign(flex, intent, key), {"from": relayer})

    with reverts_exact("FlexibilityNotMember", carol):
        relay(carol, MEMBER_KEYS["carol"])
    with reverts_exact("FlexibilityPriceAboveMax", MAX_PRICE + 1, MAX_PRICE):
        relay(alice, MEMBER_KEYS["alice"], price=MAX_PRICE + 1)
    with reverts_exact("FlexibilityInvalidQuantity", 0):
        relay(alice, MEMBER_KEYS["alice"], qty=0)
    with reverts_exact("FlexibilityUnknownRequest", request_id + 50):
        intent = _intent(alice, request_id + 50)
        flex.offerWithSig(
            intent.as_tuple(), _sign(flex, intent, MEMBER_KEYS["alice"]), {"from": relayer}
        )
    relay(alice, MEMBER_KEYS["alice"], nonce=1)
    with reverts_exact("FlexibilityAlreadyOffered", request_id, alice):
        relay(alice, MEMBER_KEYS["alice"], nonce=2)
