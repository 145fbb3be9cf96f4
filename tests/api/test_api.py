"""The wallet API over real HTTP against a real ganache: sign-in, roles, wallet, top-ups,
relayed direct orders (intents: test_api_intents.py), DSO actions, public reads, and the error
shape."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TypeVar

import httpx
import pytest

from api.client import EUR, Wallet, sign_text, siwe_message
from api.view import ChainView
from chain.devchain import close_gate
from chain.node import Node, Sender
from chain.signing import sign_typed_data
from matcher.service import Matcher
from tests.apiserver import MATCHER_ACCOUNT, grant, new_member

T = TypeVar("T")


def open_slot(client: httpx.Client, node: Node) -> int:
    community = node.contract("Community").functions
    slot = int(client.get("/market").json()["current_slot"]) + 1
    while int(node.call(community.gateClosure(slot))) <= node.block_timestamp() + 5:
        slot += 1
    return slot


def eventually(get: Callable[[], T], ok: Callable[[T], bool], seconds: float = 5) -> T:
    """`get()` until `ok` holds: the API sees a block made outside it within one head poll."""
    deadline = time.monotonic() + seconds
    while not ok(value := get()):
        assert time.monotonic() < deadline, value
        time.sleep(0.05)
    return value


# -- docs and errors ------------------------------------------------------------------------


def test_openapi_and_docs_are_served(client: httpx.Client) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/auth/login", "/wallet", "/orders", "/dso/members", "/slots/{slot}"} <= set(paths)
    # Swagger UI comes from the API itself (offline too): every asset the page names is local.
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", docs.text)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= set(assets)
    assert all(a.startswith("/") for a in assets), assets
    assert "'/openapi.json'" in docs.text
    for asset, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "text/css")):
        r = client.get(f"/docs/assets/{asset}")
        assert r.status_code == 200 and kind in r.headers["content-type"], asset
        assert len(r.content) > 100_000  # the real bundle, not a stub
    assert client.get("/redoc").status_code == 404  # ReDoc would need a CDN


def test_errors_are_json_with_a_code(client: httpx.Client) -> None:
    r = client.get("/no/such/route")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.post("/auth/login", json={"message": 5})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    assert r.json()["message"]
    r = client.get("/slots/-1")
    assert r.status_code == 422


# -- sign-in --------------------------------------------------------------------------------


def test_sign_in_gives_a_token_that_names_the_roles(client: httpx.Client, dso: Wallet) -> None:
    r = dso.get("/auth/me")
    assert r.status_code == 200
    assert r.json()["address"] == dso.address and "dso" in r.json()["roles"]


def test_nonce_is_single_use(client: httpx.Client) -> None:
    w = Wallet(client)
    n = client.get("/auth/nonce").json()
    message = siwe_message(w.address, n["domain"], n["chain_id"], n["nonce"])
    body = {"message": message, "signature": sign_text(w.account, message)}
    assert client.post("/auth/login", json=body).status_code == 200
    again = client.post("/auth/login", json=body)
    assert again.status_code == 401 and again.json()["code"] == "siwe_bad_nonce"


@pytest.mark.parametrize(
    ("change", "code"),
    [("domain", "siwe_wrong_domain"), ("chain", "siwe_wrong_chain"), ("signer", "siwe_invalid")],
)
def test_sign_in_checks_domain_chain_and_signer(
    client: httpx.Client, change: str, code: str
) -> None:
    w, other = Wallet(client), Wallet(client)
    n = client.get("/auth/nonce").json()
    domain = "evil.example:443" if change == "domain" else n["domain"]
    chain_id = n["chain_id"] + 1 if change == "chain" else n["chain_id"]
    message = siwe_message(w.address, domain, chain_id, n["nonce"])
    signer = other if change == "signer" else w
    r = client.post(
        "/auth/login", json={"message": message, "signature": sign_text(signer.account, message)}
    )
    assert r.status_code == 401 and r.json()["code"] == code


def test_tokens_are_checked(client: httpx.Client, dso: Wallet) -> None:
    assert client.get("/wallet").json()["code"] == "unauthorized"
    assert dso.token is not None
    body, mac = dso.token.split(".")
    forged = f"{body}.{mac[:-2]}AA"
    r = client.get("/wallet", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"
    r = client.get("/wallet", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401


def test_roles_come_from_the_chain(client: httpx.Client, node: Node, dso: Wallet) -> None:
    w = Wallet(client)
    w.sign_in()
    assert w.get("/auth/me").json()["roles"] == []
    assert w.post("/dso/members", {"address": w.address, "role": "consumer"}).status_code == 403
    assert w.get("/dso/fees").json()["code"] == "not_dso"
    grant(node, "AUDITOR_ROLE", w.address)
    # Same token, role read anew once the API has seen the block (one head poll).
    eventually(lambda: w.get("/auth/me").json()["roles"], lambda r: r == ["auditor"])


# -- DSO and top-ups ------------------------------------------------------------------------


def test_member_registration_and_top_up(client: httpx.Client, node: Node, dso: Wallet) -> None:
    m = new_member(client, dso, role="consumer")
    assert m.get("/auth/me").json()["member_role"] == "consumer"
    again = dso.post("/dso/members", {"address": m.address, "role": "consumer"})
    assert again.status_code == 409
    assert again.json()["contract_error"] == "CommunityAlreadyMember"

    req = m.post("/wallet/top-ups", {"amount": 25 * EUR}).json()
    assert req["status"] == "pending"
    pending = dso.get("/dso/top-ups", params={"status": "pending"}).json()
    assert req["reference"] in [p["reference"] for p in pending]
    assert m.get("/wallet").json()["balance"] == 0
    done = dso.post(f"/dso/top-ups/{req['reference']}/confirm")
    assert done.status_code == 200 and done.json()["status"] == "confirmed"
    assert m.get(f"/wallet/top-ups/{req['reference']}").json()["status"] == "confirmed"
    assert m.get("/wallet").json() == {
        "address": m.address,
        "member_role": "consumer",
        "balance": 25 * EUR,
        "escrow": 0,
        "debt": 0,
    }
    twice = dso.post(f"/dso/top-ups/{req['reference']}/confirm")
    assert twice.status_code == 409 and twice.json()["contract_error"] == "EnergyTokenReferenceUsed"
    assert m.get("/wallet/top-ups/GS-NOPE").status_code == 404
    assert node.w3.eth.get_balance(m.account.address) == 0  # members need no ether


def test_meters_tariffs_and_fees(client: httpx.Client, dso: Wallet, members: list[Wallet]) -> None:
    meter = {
        "meter_id": "0x" + "ab" * 32,
        "member": members[0].address,
        "signer": members[0].address,
    }
    assert dso.post("/dso/meters", meter).status_code == 201
    r = dso.post("/dso/meters", meter)
    assert r.status_code == 409 and r.json()["contract_error"] == "CommunityMeterExists"

    market = client.get("/market").json()
    tariff = {k: v for k, v in market["tariff"].items() if k != "from_slot"}
    early = dso.post("/dso/tariffs", {**tariff, "from_slot": market["current_slot"] + 1})
    assert early.status_code == 422 and early.json()["contract_error"] == "CommunityTariffTooEarly"
    bad = dso.post("/dso/tariffs", {**tariff, "feed_in_price": 0, "from_slot": 10**6})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_tariff"
    later = market["current_slot"] + market["order_horizon_slots"] + 5
    ok = dso.post("/dso/tariffs", {**tariff, "retail_price": 210_000, "from_slot": later})
    assert ok.status_code == 201, ok.text
    schedule = dso.get("/dso/tariffs").json()
    assert schedule[-1]["from_slot"] == later and schedule[-1]["retail_price"] == 210_000

    fees = dso.get("/dso/fees").json()
    assert fees["fee_balance"] >= 0 and fees["period"] >= 0


# -- orders ---------------------------------------------------------------------------------


def test_relayed_order_escrow_and_cancel(
    client: httpx.Client, node: Node, members: list[Wallet]
) -> None:
    m = members[1]
    slot = open_slot(client, node)
    before = m.get("/wallet").json()
    placed = m.post("/orders/direct", m.direct_order(slot, "buy", 1_000, 150_000))
    assert placed.status_code == 201, placed.text
    (order_id,) = placed.json()["order_ids"]
    order = m.get(f"/orders/{order_id}").json()
    assert order["status"] == "open" and order["slot"] == slot
    after = m.get("/wallet").json()
    assert after["escrow"] == order["escrow"] == 1_000 * (150_000 + 5_000 + 40_000)
    assert after["balance"] == before["balance"] - order["escrow"]

    book = client.get("/market").json()["contracts"]["OrderBook"]
    deadline = node.block_timestamp() + 600
    cancel = m.cancel_body(order_id, node.manifest.chain_id, book, deadline)
    r = m.delete(f"/orders/{order_id}", cancel)
    assert r.status_code == 200, r.text
    assert m.get(f"/orders/{order_id}").json()["status"] == "cancelled"
    assert m.get("/wallet").json() == before
    replay = m.delete(f"/orders/{order_id}", cancel)
    assert replay.status_code == 409 and replay.json()["contract_error"] in (
        "OrderBookNonceUsed",
        "OrderBookAlreadyCancelled",
    )


def test_cancel_typed_data_is_what_the_contract_checks(
    client: httpx.Client, node: Node, members: list[Wallet]
) -> None:
    m, other = members[0], members[1]
    slot = open_slot(client, node)
    (order_id,) = m.post("/orders/direct", m.direct_order(slot, "sell", 500, 150_000)).json()[
        "order_ids"
    ]
    assert other.post(f"/orders/{order_id}/cancel-typed-data", {}).status_code == 404
    r = m.post(f"/orders/{order_id}/cancel-typed-data", {"deadline_seconds": 300})
    assert r.status_code == 200, r.text
    typed = r.json()["typed_data"]
    msg = typed["message"]
    assert (msg["owner"], msg["orderId"]) == (m.address, order_id)
    assert msg["deadline"] - node.block_timestamp() in range(290, 301)  # the chain's clock
    signature = "0x" + sign_typed_data(typed, m.account.key).hex()
    body = {"nonce": msg["nonce"], "deadline": msg["deadline"], "signature": signature}
    assert m.delete(f"/orders/{order_id}", body).status_code == 200
    assert m.get(f"/orders/{order_id}").json()["status"] == "cancelled"


def test_bad_orders_are_4xx_naming_the_error(
    client: httpx.Client, node: Node, members: list[Wallet]
) -> None:
    m, other = members[2], members[1]
    slot = open_slot(client, node)
    cheap = m.post("/orders/direct", m.direct_order(slot, "buy", 1_000, 1))
    assert (
        cheap.status_code == 422 and cheap.json()["contract_error"] == "OrderBookPriceOutOfBounds"
    )
    body = m.direct_order(slot, "buy", 1_000, 150_000)
    forged = {**body, "energy_wh": 2_000}  # signed for 1,000 Wh
    r = m.post("/orders/direct", forged)
    assert r.status_code == 403 and r.json()["contract_error"] == "OrderBookBadSignature"
    assert other.post("/orders/direct", body).json()["code"] == "not_owner"
    assert m.post("/orders/direct", body).status_code == 201
    replay = m.post("/orders/direct", body)
    assert replay.status_code == 409 and replay.json()["contract_error"] == "OrderBookNonceUsed"
    huge = m.post("/orders/direct", {**body, "energy_wh": 2**256})
    assert huge.status_code == 422 and huge.json()["code"] == "invalid_request"
    assert m.get("/orders/999999").status_code == 404


def test_a_settled_slot_shows_price_volume_and_fills(
    client: httpx.Client, node: Node, dso: Wallet
) -> None:
    seller = new_member(client, dso, top_up=10 * EUR)
    buyer = new_member(client, dso, top_up=10 * EUR)
    slot = open_slot(client, node) + 3  # a slot of its own
    (sell_id,) = seller.post(
        "/orders/direct", seller.direct_order(slot, "sell", 2_000, 100_000)
    ).json()["order_ids"]
    (buy_id,) = buyer.post(
        "/orders/direct", buyer.direct_order(slot, "buy", 1_500, 160_000)
    ).json()["order_ids"]
    close_gate(node, slot)
    assert buyer.get(f"/orders/{buy_id}").json()["status"] in ("closed", "open")
    Matcher(node, Sender(str(node.w3.eth.accounts[MATCHER_ACCOUNT]))).run_once()

    s = eventually(lambda: client.get(f"/slots/{slot}").json(), lambda s: s["settled"])
    assert s["settled"] and s["mode"] == "uniform"
    assert s["price"] == (160_000 + 100_000) // 2 and s["volume_wh"] == 1_500
    assert {(f["order_id"], f["filled_wh"]) for f in s["fills"]} == {
        (sell_id, 1_500),
        (buy_id, 1_500),
    }
    assert buyer.get(f"/orders/{buy_id}").json()["status"] == "settled"
    wallet = buyer.get("/wallet").json()
    assert wallet["escrow"] == 0
    assert wallet["balance"] == 10 * EUR - 1_500 * (130_000 + 5_000 + 40_000)
    status = client.get("/audit/status").json()
    assert status["supply_conserved"] and status["total_minted"] >= 20 * EUR


def test_the_view_never_mixes_two_blocks(client: httpx.Client, node: Node, dso: Wallet) -> None:
    """Answers cached at one head describe one block. With no head poll at all, a buyer's order
    status and escrow read before its slot settles are not served after a read that sees the
    settlement (a read first asked after it, so made at the node's head). Stop 35's CI failed
    on this: the slot page showed the settlement while the order, cached at the head before
    it, still showed `closed`."""
    view = ChainView(node, relayer=None, operator=None, poll_seconds=3600)  # no poll: not started
    seller = new_member(client, dso, top_up=10 * EUR)
    buyer = new_member(client, dso, top_up=10 * EUR)
    slot = open_slot(client, node) + 3
    seller.post("/orders/direct", seller.direct_order(slot, "sell", 800, 100_000))
    (buy_id,) = buyer.post("/orders/direct", buyer.direct_order(slot, "buy", 500, 160_000)).json()[
        "order_ids"
    ]
    close_gate(node, slot)
    statuses = {r.order.order_id: r.status for r in view.orders_of(buyer.address)}
    assert statuses[buy_id] == "closed" and view.wallet(buyer.address)[1] > 0
    Matcher(node, Sender(str(node.w3.eth.accounts[MATCHER_ACCOUNT]))).run_once()

    assert view.settlement.clearing_of(slot).settled  # first asked now: read at the node's head
    statuses = {r.order.order_id: r.status for r in view.orders_of(buyer.address)}
    assert statuses[buy_id] == "settled"
    assert view.wallet(buyer.address)[1] == 0  # no escrow left once settled


def test_sharing_slots_answer_trading_mode_in_a_trading_community(members: list[Wallet]) -> None:
    r = members[0].get("/sharing/slots", params={"period": 0})
    assert r.status_code == 409 and r.json()["code"] == "trading_mode"
