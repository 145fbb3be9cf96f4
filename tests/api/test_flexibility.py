"""Flexibility over HTTP on the real chain and event index: the DSO publishes a request through
the API, members see it open (with their own offer), the matcher accepts and settles it, and the
member's earnings and the DSO's view of offers, acceptance, deliveries and payout come back from
the index. (Baselines, payments and penalties are tested in tests/contracts/test_flexibility.py
and tests/matcher/test_matcher_flex.py; here the member is new, so its delivery is unmeasured.)"""

from __future__ import annotations

import httpx
from eth_account import Account

from api.client import EUR, Wallet
from chain.node import Node, Sender
from chain.signing import Reading
from gridshare.settings import Settings
from matcher.devchain import close_gate
from matcher.service import Matcher
from tests.api.chainops import advance_to, index_once, submit_reading
from tests.apiserver import DSO_ACCOUNT, MATCHER_ACCOUNT, new_member

NETWORK_ACCOUNT = 4


def _fund(node: Node, w: Wallet) -> Sender:
    """Members offer from their own wallet (the contract takes the offer from its sender)."""
    node.send_value(Sender(str(node.w3.eth.accounts[DSO_ACCOUNT])), w.address, 10**18)
    return Sender.from_key("0x" + bytes(w.account.key).hex())


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
    node.transact(flex.functions.offer(rid, 800, 90_000), _fund(node, m1))

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
    deadline = int(
        node.call(node.contract("ImbalanceSettlement").functions.readingDeadlineSeconds())
    )
    advance_to(node, int(node.call(community.slotStart(slot + 1))) + deadline + 1)
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
