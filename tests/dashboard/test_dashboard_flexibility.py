"""Flexibility in headless Chromium: the DSO publishes a request from its view; a member without
ether sees it open and makes an offer signed by the wallet in the browser and relayed by the API;
after acceptance and delivery (matcher, meter reading, index) the member sees its flexibility
earnings per request and the DSO sees the offer, acceptance, delivery and payout."""

from __future__ import annotations

from pathlib import Path

import httpx
from eth_account import Account
from eth_utils.address import to_checksum_address
from playwright.sync_api import expect

from api.client import EUR, Wallet
from bench.chainops import submit_reading
from chain.devchain import advance_past_reading_deadline, close_gate
from chain.node import Node, Sender
from chain.signing import Reading
from gridshare.settings import Settings
from matcher.service import Matcher
from tests.api.chainops import index_once
from tests.apiserver import DSO_ACCOUNT, MATCHER_ACCOUNT, new_member
from tests.dashboard.conftest import OpenPage
from tests.dashboard.test_dashboard import PHONE, eur, no_sideways_scroll, sign_in

NETWORK_ACCOUNT = 4


def test_dso_publishes_member_offers_and_both_see_the_outcome(
    open_page: OpenPage,
    client: httpx.Client,
    node: Node,
    settings: Settings,
    dso: Wallet,
    shots: Path,
) -> None:
    token = node.contract("EnergyToken").functions
    network = node.w3.eth.accounts[NETWORK_ACCOUNT]
    dso_sender = Sender(str(node.w3.eth.accounts[DSO_ACCOUNT]))
    node.transact(token.topUp(network, 10 * EUR, b"dash-flex-net".ljust(32, b"\0")), dso_sender)
    member = new_member(client, dso, top_up=10 * EUR)
    slot = int(client.get("/market").json()["current_slot"]) + 4

    # The DSO publishes a request through its form.
    dso_page, _ = open_page(dso.account, "#/dso")
    sign_in(dso_page)
    dso_page.get_by_label("Delivery slot").fill(str(slot))
    dso_page.get_by_label("Direction").select_option("reduce_import")
    dso_page.get_by_label("Quantity (Wh)").fill("1000")
    dso_page.get_by_label("Maximum price (€/kWh)").fill("0.15")
    dso_page.get_by_role("button", name="Publish request").click()
    expect(dso_page.get_by_role("status")).to_contain_text(
        f"Flexibility request published for slot {slot}"
    )
    request = dso.get("/dso/flexibility/requests").json()[-1]
    rid = request["request_id"]
    assert (request["slot"], request["quantity_wh"], request["max_price"]) == (slot, 1000, 150_000)
    expect(dso_page.get_by_test_id("flex-requests")).to_contain_text("1,000 Wh")

    # The member sees it open and makes an offer: signed in the browser, relayed by the API.
    page, wallet = open_page(member.account, "#/member")
    sign_in(page)
    open_requests = page.get_by_test_id("flex-open-requests")
    expect(open_requests).to_contain_text(f"slot {slot}")
    expect(open_requests).to_contain_text("0.1500 €/kWh")
    page.get_by_label("Request", exact=True).select_option(str(rid))
    page.get_by_label("Quantity (Wh)").fill("800")
    page.get_by_label("Price (€/kWh)", exact=True).fill("0.09")
    page.get_by_role("button", name="Sign and make offer").click()
    expect(page.get_by_role("status")).to_contain_text(f"made on flexibility request {rid}")
    assert wallet.calls.count("eth_signTypedData_v4") == 1
    (mine,) = [r for r in member.get("/flexibility/requests").json() if r["request_id"] == rid]
    assert mine["my_offer"]["quantity_wh"] == 800 and mine["my_offer"]["price"] == 90_000
    assert node.w3.eth.get_balance(to_checksum_address(member.address)) == 0  # no ether needed
    expect(open_requests).to_contain_text("800 Wh at 0.0900 €/kWh")
    expect(page.get_by_test_id("flex-no-open")).to_be_visible()  # one offer per request
    page.screenshot(path=shots / "member-flexibility-offer.png", full_page=True)

    # Gate closure, acceptance, delivery (500 Wh import; the member has no baseline day yet).
    close_gate(node, slot)
    matcher = Matcher(node, Sender(str(node.w3.eth.accounts[MATCHER_ACCOUNT])))
    matcher.run_once()
    key = Account.create()
    meter_id = bytes([0xDA, 0x5F]) + bytes(30)
    meter = {"meter_id": "0x" + meter_id.hex(), "member": member.address, "signer": key.address}
    assert dso.post("/dso/meters", meter).status_code == 201
    advance_past_reading_deadline(node, slot)
    submit_reading(node, key, meter_id, Reading(meter_id, slot, 500, 0, 1))
    matcher.run_once()
    index_once(node, settings)

    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    earnings = page.get_by_test_id("flex-earnings")
    expect(earnings).to_contain_text(f"slot {slot}")
    expect(earnings).to_contain_text("800 Wh")
    expect(earnings).to_contain_text("not measured")
    expect(page.get_by_test_id("flex-net")).to_have_text(eur(0))
    # The earnings of the latest requests the API lists at once (its history range cap).
    expect(page.get_by_test_id("flex-earnings-slots")).to_contain_text("For the requests of slots")
    page.screenshot(path=shots / "member-flexibility-earnings.png", full_page=True)
    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    expect(page.get_by_test_id("flex-earnings")).to_contain_text("not measured")
    no_sideways_scroll(page)

    dso_page.reload()
    dso_page.wait_for_selector("body[data-ready='true']")
    requests = dso_page.get_by_test_id("flex-requests")
    expect(requests).to_contain_text("settled")
    expect(requests).to_contain_text(eur(1_000 * 150_000))  # all refunded: nothing measured
    dso_page.get_by_text(f"Request {rid}: 1 offer(s)").click()
    offers = dso_page.get_by_role("table", name=f"Offers on request {rid}")
    expect(offers).to_contain_text("0.0900 €/kWh")
    expect(offers).to_contain_text("not measured")
    dso_page.screenshot(path=shots / "dso-flexibility.png", full_page=True)
