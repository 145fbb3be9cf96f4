"""Flexibility over HTTP on the real chain and event index: the DSO publishes a request through
the API, members see it open (with their own offer), the matcher accepts and settles it, and the
member's earnings and the DSO's view of offers, acceptance, deliveries and payout come back from
the index. (Baselines, payments and penalties are tested in tests/contracts/test_flexibility.py
and tests/matcher/test_matcher_flex.py; here the member is new, so its delivery is unmeasured.)"""

from __future__ import annotations

from typing import Any

import httpx
from eth_account import Account
from eth_utils.address import to_checksum_address

from api.client import EUR, Wallet
from api.history import MAX_SLOTS
from bench.chainops import submit_reading
from chain.devchain import advance_past_reading_deadline, close_gate
from chain.node import Node, Sender
from chain.signing import FlexOfferIntent, Reading, flex_offer_typed_data, sign_typed_data
from gridshare.settings import Settings
from matcher.service import Matcher
from tests.api.chainops import index_once
from tests.apiserver import DSO_ACCOUNT, MATCHER_ACCOUNT, new_member

NETWORK_ACCOUNT = 4


def _offer_body(
    w: Wallet, rid: int, qty: int, price: int, key: Any = None, deadline_seconds: int = 300
) -> dict[str, Any]:
    """Ask the API for the OfferIntent, sign it (with `key`: someone else's), return the body."""
    r = w.post(
        "/flexibility/offers/typed-data",
        {
            "request_id": rid,
            "quantity_wh": qty,
            "price": price,
            "deadline_seconds": deadline_seconds,
        },
    )
    assert r.status_code == 200, r.text
    typed = r.json()["typed_data"]
    msg = typed["message"]
    signature = sign_typed_data(typed, w.account.key if key is None else key)
    return {
        "member": msg["member"],
        "request_id": msg["requestId"],
        "quantity_wh": msg["quantityWh"],
        "price": msg["price"],
        "nonce": msg["nonce"],
        "deadline": msg["deadline"],
        "signature": "0x" + signature.hex(),
    }


def test_flexibility_routes(
    client: httpx.Client, node: Node, settings: Settings, dso: Wallet
) -> None:
    flex = node.contract("Flexibility")
    community = node.contract("Community").functions
    token = node.contract("EnergyToken").functions
    network = node.w3.eth.accounts[NETWORK_ACCOUNT]
    node.transact(
        token.topUp(network, 10 * EUR, b"api-flex-net".ljust(32, b"\0")),
        Sender(str(node.w3.eth.accounts[DSO_ACCOUNT])),
    )
    m1 = new_member(client, dso, top_up=10 * EUR)
    m2 = new_member(client, dso, top_up=10 * EUR)
    slot = int(client.get("/market").json()["current_slot"]) + 4
    start = int(node.call(community.slotStart(slot)))

    # Bad input: clear errors, nothing sent.
    bad = dso.post(
        "/dso/flexibility/requests",
        {"slot": slot, "direction": "reduce_import", "quantity_wh": 0, "max_price": 1},
    )
    assert bad.status_code == 422, bad.text
    late = dso.post(
        "/dso/flexibility/requests",
        {
            "slot": slot,
            "direction": "reduce_import",
            "quantity_wh": 100,
            "max_price": 1,
            "gate_closure": start + 1,
        },
    )
    assert late.status_code == 422 and late.json()["contract_error"] == (
        "FlexibilityInvalidGateClosure"
    ), late.text
    assert (
        m1.post(
            "/dso/flexibility/requests",
            {"slot": slot, "direction": "reduce_import", "quantity_wh": 100, "max_price": 1},
        ).status_code
        == 403
    )

    r = dso.post(
        "/dso/flexibility/requests",
        {"slot": slot, "direction": "reduce_import", "quantity_wh": 1_000, "max_price": 150_000},
    )
    assert r.status_code == 201, r.text
    rid = int(node.call(flex.functions.requestCount())) - 1

    # m1 offers without ether: the API hands out the typed data and relays the signed offer.
    typed = m1.post(
        "/flexibility/offers/typed-data",
        {"request_id": rid, "quantity_wh": 800, "price": 90_000, "deadline_seconds": 300},
    ).json()["typed_data"]
    assert typed["primaryType"] == "OfferIntent"
    assert typed["domain"]["verifyingContract"] == flex.address
    assert typed["message"]["member"] == m1.address
    assert typed["message"]["deadline"] - node.block_timestamp() in range(290, 301)
    body = _offer_body(m1, rid, 800, 90_000)
    assert m2.post("/flexibility/offers", body).status_code == 403  # not m2's offer
    ether = node.w3.eth.get_balance(to_checksum_address(m1.address))
    placed = m1.post("/flexibility/offers", body)
    assert placed.status_code == 201, placed.text
    assert placed.json()["request_id"] == rid and placed.json()["index"] == 0
    assert node.w3.eth.get_balance(to_checksum_address(m1.address)) == ether == 0

    # Refusals: 4xx naming the contract's custom error; nothing is stored.
    replay = m1.post("/flexibility/offers", body)
    assert replay.status_code == 409 and replay.json()["contract_error"] == "FlexibilityNonceUsed"
    forged = m2.post("/flexibility/offers", _offer_body(m2, rid, 100, 1, key=m1.account.key))
    assert forged.status_code == 403, forged.text
    assert forged.json()["contract_error"] == "FlexibilityBadSignature"
    intent = FlexOfferIntent(m2.address, rid, 100, 1, 5, node.block_timestamp() - 1)
    expired = dict(
        _offer_body(m2, rid, 100, 1),
        nonce=5,
        deadline=intent.deadline,
        signature="0x"
        + sign_typed_data(
            flex_offer_typed_data(intent, node.manifest.chain_id, flex.address), m2.account.key
        ).hex(),
    )
    late_sig = m2.post("/flexibility/offers", expired)
    assert late_sig.status_code == 422
    assert late_sig.json()["contract_error"] == "FlexibilitySignatureExpired"
    too_dear = m2.post("/flexibility/offers", _offer_body(m2, rid, 100, 150_001))
    assert too_dear.json()["contract_error"] == "FlexibilityPriceAboveMax", too_dear.text
    unknown = m2.post(
        "/flexibility/offers/typed-data", {"request_id": rid + 99, "quantity_wh": 1, "price": 1}
    )
    assert unknown.status_code == 404
    bad_qty = m2.post(
        "/flexibility/offers/typed-data", {"request_id": rid, "quantity_wh": 0, "price": 1}
    )
    assert bad_qty.status_code == 422
    after_gate = _offer_body(m2, rid, 100, 1_000, deadline_seconds=86_400)  # valid past the gate

    seen = {q["request_id"]: q for q in m1.get("/flexibility/requests").json()}
    assert seen[rid]["open_for_offers"] and seen[rid]["status"] == "open"
    assert seen[rid]["my_offer"] == {
        "index": 0,
        "member": m1.address,
        "quantity_wh": 800,
        "price": 90_000,
    }
    other = {q["request_id"]: q for q in m2.get("/flexibility/requests").json()}
    assert other[rid]["my_offer"] is None and other[rid]["offers"] == 1

    # Gate closes: the matcher accepts; the request is no longer open for offers.
    close_gate(node, slot)
    closed = m2.post("/flexibility/offers", after_gate)
    assert closed.status_code == 409 and closed.json()["contract_error"] == "FlexibilityGateClosed"
    matcher = Matcher(node, Sender(str(node.w3.eth.accounts[MATCHER_ACCOUNT])))
    matcher.run_once()
    assert rid not in {q["request_id"] for q in m1.get("/flexibility/requests").json()}
    everything = {
        q["request_id"]: q for q in m1.get("/flexibility/requests?open_only=false").json()
    }
    assert everything[rid]["status"] == "accepted"

    # Delivery: m1's meter reads 500 Wh import; it has no baseline day yet.
    key = Account.create()
    meter_id = bytes([0xF1, 0x0E]) + bytes(30)
    assert (
        dso.post(
            "/dso/meters",
            {"meter_id": "0x" + meter_id.hex(), "member": m1.address, "signer": key.address},
        ).status_code
        == 201
    )
    advance_past_reading_deadline(node, slot)
    submit_reading(node, key, meter_id, Reading(meter_id, slot, 500, 0, 1))
    matcher.run_once()
    index_once(node, settings)

    earned = m1.get("/flexibility/earnings").json()
    (d,) = [x for x in earned["deliveries"] if x["request_id"] == rid]
    assert (d["slot"], d["accepted_wh"], d["measured"], d["payment"], d["penalty"]) == (
        slot,
        800,
        False,
        0,
        0,
    )
    assert d["baseline_wh"] is None and earned["net"] == earned["earned"] - earned["penalties"]
    assert m2.get("/flexibility/earnings").json()["deliveries"] == []
    # A slot range: exactly the deliveries for the requests of its slots, and their totals.
    ranged = m1.get("/flexibility/earnings", params={"from_slot": slot, "to_slot": slot}).json()
    assert (ranged["from_slot"], ranged["to_slot"]) == (slot, slot)
    assert ranged["deliveries"] == [d] and ranged["net"] == d["payment"] - d["penalty"]
    after = m1.get("/flexibility/earnings", params={"from_slot": slot + 1, "to_slot": slot + 9})
    assert after.json()["deliveries"] == [] and after.json()["earned"] == 0
    # Without a range: the capped range up to the current slot.
    before = client.get("/market").json()["current_slot"]
    recent = m1.get("/flexibility/earnings").json()
    assert before <= recent["to_slot"] <= client.get("/market").json()["current_slot"]
    assert recent["from_slot"] == max(0, recent["to_slot"] - MAX_SLOTS + 1)
    assert recent["deliveries"] == earned["deliveries"]

    assert m1.get("/dso/flexibility/requests").status_code == 403
    (req,) = [q for q in dso.get("/dso/flexibility/requests").json() if q["request_id"] == rid]
    assert req["status"] == "settled" and req["escrow"] == 1_000 * 150_000
    assert req["accepted"] == [800] and req["accepted_wh"] == 800
    assert [o["member"] for o in req["offer_list"]] == [m1.address]
    assert [x["member"] for x in req["deliveries"]] == [m1.address]
    assert req["payout"] == {
        "paid": 0,
        "refunded": 1_000 * 150_000,
        "penalties": 0,
        "collected": 0,
    }
