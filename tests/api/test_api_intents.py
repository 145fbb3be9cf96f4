"""Orders as EIP-712 signed intents over real HTTP against a real ganache: the typed data to sign,
acceptance into the intent pool (no transaction), every refusal with its allowed range, bad
signatures, the nonce epoch and its on-chain revocation, withdrawal, the two kinds of order side
by side, and the matcher carrying the API's intents into a settlement."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.client import EUR, Wallet
from chain.devchain import close_gate
from chain.intents import Intent, intent_id, intent_typed_data
from chain.node import Node, Sender
from chain.signing import sign_typed_data
from gridshare.settings import Settings
from intents.pool import IntentPool
from matcher.service import Matcher
from tests.api.test_api import eventually, open_slot
from tests.apiserver import MATCHER_ACCOUNT, new_member


def chain_call(node: Node, contract: str, fn: str, *args: Any) -> Any:
    return node.call(node.contract(contract).functions[fn](*args))


def terms(client: httpx.Client, node: Node) -> dict[str, int]:
    market = client.get("/market").json()
    return {
        "current": market["current_slot"],
        "horizon": market["order_horizon_slots"],
        "feed_in": market["tariff"]["feed_in_price"],
        "retail": market["tariff"]["retail_price"],
        "min_wh": int(chain_call(node, "OrderBook", "minOrderWh")),
        "cap": int(chain_call(node, "OrderBook", "maxOrdersPerMemberSlot")),
    }


def signed_body(
    w: Wallet,
    node: Node,
    slot: int,
    side: str = "buy",
    energy_wh: int = 1_000,
    price: int = 150_000,
    *,
    epoch: int | None = None,
    deadline: int | None = None,
    key: bytes | None = None,
) -> dict[str, Any]:
    """The POST /orders body of an intent signed locally (not through /orders/typed-data), so
    that terms the API refuses to offer for signing can still be posted."""
    if epoch is None:
        epoch = int(chain_call(node, "Settlement", "intentEpoch", w.address))
    if deadline is None:
        deadline = int(chain_call(node, "Community", "slotStart", slot + 1))
    intent = Intent(w.address, slot, side, max(energy_wh, 1), price, epoch, deadline)
    typed = intent_typed_data(intent, node.manifest.chain_id, node.manifest.contracts["Settlement"])
    typed["message"]["energyWh"] = energy_wh  # 0 is not an Intent, but may be signed and posted
    signature = sign_typed_data(typed, key if key is not None else w.account.key)
    return {
        "owner": w.address,
        "slot": slot,
        "side": side,
        "energy_wh": energy_wh,
        "limit_price": price,
        "epoch": epoch,
        "deadline": deadline,
        "signature": "0x" + signature.hex(),
    }


@pytest.fixture(scope="module")
def pool(settings: Settings) -> Iterator[IntentPool]:
    """The API's pool, opened as the matcher opens it (another connection to the same file)."""
    p = IntentPool(settings.intent_pool_url)
    yield p
    p.close()


def test_sign_post_and_see_a_pending_intent(
    client: httpx.Client, node: Node, dso: Wallet, pool: IntentPool
) -> None:
    m = new_member(client, dso, top_up=10 * EUR)
    slot = open_slot(client, node)
    before = m.get("/wallet").json()
    r = m.post(
        "/orders/typed-data",
        {"slot": slot, "side": "buy", "energy_wh": 1_000, "limit_price": 150_000},
    )
    assert r.status_code == 200, r.text
    typed = r.json()["typed_data"]
    assert typed["primaryType"] == "Intent"
    assert typed["domain"] == {
        "name": "gridshare Settlement",
        "version": "1",
        "chainId": node.manifest.chain_id,
        "verifyingContract": node.manifest.contracts["Settlement"],
    }
    message = typed["message"]
    assert message["owner"] == m.address and message["slot"] == slot and message["side"] == 0
    assert message["epoch"] == 0
    # By default valid until the end of the slot's delivery: after the gate closure, when the
    # settlement can carry it.
    assert message["deadline"] == int(chain_call(node, "Community", "slotStart", slot + 1))
    body = m.intent_body(typed)

    head = node.block_number()
    placed = m.post("/orders", body)
    assert placed.status_code == 201, placed.text
    intent = Intent(m.address, slot, "buy", 1_000, 150_000, 0, message["deadline"])
    expected_id = f"0x{intent_id(intent):064x}"
    got = placed.json()
    assert got["id"] == expected_id and got["kind"] == "intent"
    assert (got["status"], got["status_text"], got["reason"], got["escrow"]) == (
        "pending",
        "pending",
        None,
        0,
    )
    assert node.block_number() == head  # no transaction
    assert m.get("/wallet").json() == before  # nothing escrowed: paid from the balance later

    again = m.post("/orders", body)
    assert again.status_code == 200 and again.json()["id"] == expected_id

    mine = m.get("/orders", params={"slot": slot}).json()
    assert [(o["kind"], o["id"], o["status"]) for o in mine] == [("intent", expected_id, "pending")]
    assert m.get(f"/orders/{expected_id}").json()["status"] == "pending"
    assert m.get("/orders", params={"status": "pending"}).json()[-1]["id"] == expected_id
    # What the matcher reads at gate closure: the intent as signed, in the slot's pending list
    # (other tests of the session may have intents in the same slot).
    (pending,) = [p for p in pool.pending(slot) if p.intent.owner == m.address]
    assert pending.intent == intent and pending.signature.hex() == body["signature"][2:]


def test_typed_data_and_post_refuse_bad_terms_with_the_allowed_range(
    client: httpx.Client, node: Node, dso: Wallet
) -> None:
    m = new_member(client, dso, role="consumer")
    t = terms(client, node)
    slot = open_slot(client, node)
    closure = int(chain_call(node, "Community", "gateClosure", slot))
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({"slot": t["current"] - 1}, 422, "gate_closed", "open for slots"),
        ({"slot": t["current"]}, 422, "gate_closed", "open for slots"),
        ({"slot": t["current"] + t["horizon"] + 1}, 422, "beyond_horizon", "open for slots"),
        ({"energy_wh": 0}, 422, "energy_out_of_range", f"from {t['min_wh']} to"),
        ({"energy_wh": 2**40}, 422, "energy_out_of_range", f"to {2**40 - 1} Wh"),
        ({"price": t["feed_in"] - 1}, 422, "price_out_of_bounds", f"{t['retail']} n€/Wh"),
        ({"price": t["retail"] + 1}, 422, "price_out_of_bounds", f"{t['feed_in']} to"),
        ({"deadline": closure}, 422, "deadline_out_of_range", f"gate closure {closure}"),
        ({"deadline": closure + 59}, 422, "deadline_out_of_range", f"from {closure + 60}"),
        ({"side": "sell"}, 403, "role_cannot_sell", "consumer"),
    ]
    for change, code, name, text in cases:
        args: dict[str, Any] = {"slot": slot, "side": "buy", "energy_wh": 1_000, "price": 150_000}
        args.update(change)
        ask = {
            "slot": args["slot"],
            "side": args["side"],
            "energy_wh": args["energy_wh"],
            "limit_price": args["price"],
        }
        if "deadline" in args:
            ask["deadline"] = args["deadline"]
        r = m.post("/orders/typed-data", ask)
        assert (r.status_code, r.json()["code"]) == (code, name), (change, r.text)
        assert text in r.json()["message"], (change, r.json()["message"])
        if args["energy_wh"] >= 2**40:
            continue  # not an Intent: it cannot be signed as one
        body = signed_body(
            m,
            node,
            args["slot"],
            args["side"],
            args["energy_wh"],
            args["price"],
            deadline=args.get("deadline"),
        )
        r = m.post("/orders", body)
        assert (r.status_code, r.json()["code"]) == (code, name), (change, r.text)
    assert m.get("/orders").json() == []


def test_strict_integers_and_non_members(client: httpx.Client, node: Node, dso: Wallet) -> None:
    m = new_member(client, dso)
    slot = open_slot(client, node)
    for bad in ({"energy_wh": "1000"}, {"energy_wh": 1000.0}, {"slot": True}, {"extra": 1}):
        ask = {"slot": slot, "side": "buy", "energy_wh": 1_000, "limit_price": 150_000, **bad}
        r = m.post("/orders/typed-data", ask)
        assert r.status_code == 422 and r.json()["code"] == "invalid_request", bad
    stranger = Wallet(client)
    stranger.sign_in()
    r = stranger.post(
        "/orders/typed-data", {"slot": slot, "side": "buy", "energy_wh": 1, "limit_price": 1}
    )
    assert r.status_code == 403 and r.json()["code"] == "not_member"
    assert stranger.post("/orders", signed_body(stranger, node, slot)).status_code == 403


def test_the_per_slot_cap_counts_pending_intents(
    client: httpx.Client, node: Node, dso: Wallet
) -> None:
    m = new_member(client, dso, top_up=10 * EUR)
    t = terms(client, node)
    slot = open_slot(client, node)
    ids = []
    for k in range(t["cap"]):
        r = m.post("/orders", m.intent(slot, "buy", 1_000 + k, 150_000))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    ask = {"slot": slot, "side": "buy", "energy_wh": 999, "limit_price": 150_000}
    full = m.post("/orders/typed-data", ask)
    assert full.status_code == 422 and full.json()["code"] == "member_cap"
    assert f"at most {t['cap']} orders per member and slot" in full.json()["message"]
    over = signed_body(m, node, slot, energy_wh=999)
    assert m.post("/orders", over).json()["code"] == "member_cap"
    assert m.post("/orders", m.intent(slot + 1, "buy", 999, 150_000)).status_code == 201
    assert m.delete(f"/orders/{ids[0]}").status_code == 200  # a withdrawal frees a place
    assert m.post("/orders", over).status_code == 201
    # Direct orders of the slot count first, as the matcher counts them.
    assert m.delete(f"/orders/{ids[1]}").status_code == 200
    direct = m.post("/orders/direct", m.direct_order(slot, "buy", 500, 150_000))
    assert direct.status_code == 201, direct.text
    r = m.post("/orders/typed-data", ask)
    assert r.status_code == 422 and "1 direct orders" in r.json()["message"]


def test_bad_signatures_and_foreign_owners(client: httpx.Client, node: Node, dso: Wallet) -> None:
    m, other = new_member(client, dso), new_member(client, dso)
    slot = open_slot(client, node)
    body = m.intent(slot, "sell", 1_000, 150_000)
    tampered = m.post("/orders", {**body, "energy_wh": 2_000})  # signed for 1,000 Wh
    assert tampered.status_code == 422 and tampered.json()["code"] == "bad_signature"
    assert "recovers to" in tampered.json()["message"]
    by_other = signed_body(m, node, slot, "sell", key=other.account.key)
    r = m.post("/orders", by_other)
    assert r.status_code == 422 and r.json()["code"] == "bad_signature"
    assert other.address in r.json()["message"]
    garbage = {**body, "signature": "0x" + "11" * 64 + "05"}  # v is neither 27/28 nor 0/1
    assert m.post("/orders", garbage).json()["code"] == "bad_signature"
    sig = bytes.fromhex(body["signature"][2:])
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    high_s = (n - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big")
    flipped = sig[:32] + high_s + bytes([55 - sig[64]])  # the same signer, malleated
    r = m.post("/orders", {**body, "signature": "0x" + flipped.hex()})
    assert r.status_code == 422 and r.json()["code"] == "bad_signature"
    r = other.post("/orders", body)
    assert r.status_code == 403 and r.json()["code"] == "not_owner"
    assert m.get("/orders").json() == []


def test_the_epoch_must_be_current_and_revocation_moves_it_on(
    client: httpx.Client, node: Node, dso: Wallet, pool: IntentPool
) -> None:
    m = new_member(client, dso, top_up=10 * EUR)
    slot = open_slot(client, node)
    e = m.get("/orders/epoch").json()
    assert e["epoch"] == 0 and e["settlement"] == node.manifest.contracts["Settlement"]
    assert "revokeIntents()" in e["revoke"]
    future = m.post("/orders", signed_body(m, node, slot, epoch=1))
    assert future.status_code == 422 and future.json()["code"] == "epoch_not_current"
    assert "current epoch is 0" in future.json()["message"]
    old = m.intent(slot, "buy", 1_000, 150_000)
    assert m.post("/orders", old).status_code == 201

    # The member's on-chain remedy, from its own wallet (it needs ether for this one call).
    key = m.account.key.hex()
    funder = node.w3.eth.accounts[0]
    node.w3.eth.send_transaction(
        {"from": funder, "to": m.address, "value": 10**17, "gasPrice": node.gas_price_wei}  # type: ignore[typeddict-item]
    )
    fn = node.contract("Settlement").functions.revokeIntents()
    node.transact(fn, Sender.from_key(key if key.startswith("0x") else "0x" + key))
    eventually(lambda: m.get("/orders/epoch").json()["epoch"], lambda v: v == 1)

    stale = signed_body(m, node, slot, energy_wh=1_234, epoch=0)
    r = m.post("/orders", stale)
    assert r.status_code == 422 and r.json()["code"] == "epoch_not_current"
    fresh = m.intent(slot, "buy", 1_234, 150_000)
    assert fresh["epoch"] == 1 and m.post("/orders", fresh).status_code == 201
    # The one signed before the revocation is still pending in the pool: the matcher leaves it
    # out at gate closure (the settlement would refuse it).
    assert {s.intent.epoch for s in pool.pending(slot) if s.intent.owner == m.address} == {0, 1}


def test_withdraw_a_pending_intent(
    client: httpx.Client, node: Node, dso: Wallet, pool: IntentPool
) -> None:
    m, other = new_member(client, dso, top_up=10 * EUR), new_member(client, dso)
    slot = open_slot(client, node)
    placed = [m.post("/orders", m.intent(slot, "buy", e, 150_000)).json() for e in (10, 20, 30)]
    first, second, third = (p["id"] for p in placed)
    assert other.delete(f"/orders/{first}").status_code == 404  # not its intent
    assert m.delete(f"/orders/0x{'0' * 64}").status_code == 404
    r = m.delete(f"/orders/{first}")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
    again = m.delete(f"/orders/{first}")
    assert again.status_code == 409 and again.json()["code"] == "not_pending"
    assert first not in {f"0x{s.intent.id:064x}" for s in pool.pending(slot)}

    # The matcher's resolution, as its pool call records it: one carried, one left out.
    pool.resolve(slot, [int(second, 16)], {int(third, 16): "uncovered"}, "0x" + "ab" * 32)
    shown = {o["id"]: o for o in m.get("/orders", params={"slot": slot}).json()}
    assert shown[first]["status_text"] == "withdrawn"
    assert (shown[second]["status_text"], shown[second]["tx_hash"]) == (
        "included",
        "0x" + "ab" * 32,
    )
    assert (shown[third]["status"], shown[third]["reason"]) == ("left_out", "uncovered")
    assert shown[third]["status_text"] == "left out: uncovered"
    late = m.delete(f"/orders/{second}")
    assert late.status_code == 409 and "carried in its slot's settlement" in late.json()["message"]
    assert m.get("/orders", params={"status": "left_out"}).json()[0]["id"] == third


def test_intents_and_direct_orders_side_by_side(
    client: httpx.Client, node: Node, dso: Wallet
) -> None:
    m = new_member(client, dso, top_up=10 * EUR)
    slot = open_slot(client, node)
    direct = m.post("/orders/direct", m.direct_order(slot, "buy", 500, 150_000))
    assert direct.status_code == 201, direct.text
    (direct_id,) = direct.json()["order_ids"]
    intent = m.post("/orders", m.intent(slot, "buy", 700, 150_000)).json()
    mine = m.get("/orders", params={"slot": slot}).json()
    assert [(o["kind"], o["id"], o["status"]) for o in mine] == [
        ("direct", direct_id, "open"),
        ("intent", intent["id"], "pending"),
    ]
    assert mine[0]["escrow"] > 0 and mine[1]["escrow"] == 0
    assert m.get(f"/orders/{direct_id}").json()["kind"] == "direct"
    # A direct order's cancellation still needs its signed CancelIntent.
    assert m.delete(f"/orders/{direct_id}").status_code == 422
    # Ids in paths: a number is a direct order, 0x + 64 hex digits an intent, nothing else.
    assert m.get(f"/orders/{intent['id']}").json()["kind"] == "intent"
    assert m.get("/orders/typed-data").status_code == 405
    assert m.get("/orders/0x1234").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/orders", "/orders/typed-data", "/orders/epoch", "/orders/direct"} <= set(paths)


def test_the_matcher_carries_the_apis_intents_into_the_settlement(
    client: httpx.Client, node: Node, dso: Wallet, pool: IntentPool
) -> None:
    """End to end: intents signed through the API, read from the same pool by the matcher at
    gate closure, settled in one transaction; the members see included or left out, and why."""
    seller = new_member(client, dso, top_up=10 * EUR)
    buyer = new_member(client, dso, top_up=10 * EUR)
    broke = new_member(client, dso)  # no balance: its buy intent cannot be covered
    slot = open_slot(client, node) + 3  # a slot of its own
    sell = seller.post("/orders", seller.intent(slot, "sell", 2_000, 100_000)).json()
    buy = buyer.post("/orders", buyer.intent(slot, "buy", 1_500, 160_000)).json()
    unfunded = broke.post("/orders", broke.intent(slot, "buy", 1_000, 160_000)).json()
    close_gate(node, slot)
    Matcher(node, Sender(str(node.w3.eth.accounts[MATCHER_ACCOUNT])), pool).run_once()

    s = eventually(lambda: client.get(f"/slots/{slot}").json(), lambda s: s["settled"])
    assert s["price"] == (160_000 + 100_000) // 2 and s["volume_wh"] == 1_500
    # The slot's book as settled: the two carried intents (the uncovered one was left out).
    carried = {(i["intent_id"], i["side"], i["energy_wh"], i["filled_wh"]) for i in s["intents"]}
    assert carried == {(sell["id"], "sell", 2_000, 1_500), (buy["id"], "buy", 1_500, 1_500)}
    assert s["orders"] == 2 and s["fills"] == []
    mine = buyer.get(f"/orders/{buy['id']}").json()
    assert (mine["status"], mine["status_text"]) == ("included", "included")
    assert mine["tx_hash"] and mine["tx_hash"].startswith("0x")
    assert seller.get(f"/orders/{sell['id']}").json()["status"] == "included"
    left = broke.get("/orders", params={"slot": slot}).json()
    assert [(o["id"], o["status_text"]) for o in left] == [(unfunded["id"], "left out: uncovered")]
    price = (160_000 + 100_000) // 2
    wallet = eventually(
        lambda: buyer.get("/wallet").json(), lambda w: w["balance"] < 10 * EUR, seconds=10
    )
    assert wallet["balance"] == 10 * EUR - 1_500 * (price + 5_000 + 40_000)
    assert wallet["escrow"] == 0
