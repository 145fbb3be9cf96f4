"""End to end in headless Chromium: a member signs in with Ethereum, places an order (an intent
signed by the wallet in the browser), withdraws it, and sees a cleared trade and the bill against
business as usual; the DSO confirms a top-up; an auditor opens a slot's supply and demand
curves. Each test saves screenshots under reports/screenshots/ (also at a phone's 390x844)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from playwright.sync_api import expect

from api.client import EUR, Wallet
from chain.node import Node
from gridshare.settings import Settings
from tests.api.chainops import BUY_PRICE, SELL_PRICE, index_once
from tests.apiserver import grant, new_member
from tests.dashboard.conftest import OpenPage

PHONE = {"width": 390, "height": 844}


def eur(n: int) -> str:
    """n€ as the dashboard shows it (format.js `eur`): four decimals, half away from zero."""
    q = (abs(n) + 50_000) // 100_000
    whole, frac = divmod(q, 10_000)
    return f"€{'−' if n < 0 and q else ''}{whole:,}.{frac:04d}"


def to_phone(page: Any) -> None:
    """Resize to a phone and reload (the session stays in the tab), so charts are drawn for it."""
    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_selector("body[data-ready='true']")


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide"


def sign_in(page: Any) -> None:
    page.get_by_role("button", name="Sign in with Ethereum").first.click()
    expect(page.get_by_test_id("signed-in")).to_be_visible()


def place_order(page: Any, side: str, slot: int, energy_wh: int, price_eur_kwh: str) -> None:
    """Fill the order form, sign and place; the page confirms it for `slot`."""
    page.get_by_label("Side").select_option(side)
    page.get_by_label("Slot", exact=True).fill(str(slot))
    page.get_by_label("Energy (Wh)").fill(str(energy_wh))
    page.get_by_label("Limit price (€/kWh)").fill(price_eur_kwh)
    page.get_by_role("button", name="Sign and place order").click()
    expect(page.get_by_role("status")).to_contain_text(f"placed for slot {slot}")


def test_member_signs_in_orders_withdraws_and_sees_trade_and_bill(
    open_page: OpenPage, traded: dict[str, Any], client: httpx.Client, shots: Path
) -> None:
    buyer: Wallet = traded["buyer"]
    page, wallet = open_page(buyer.account, "#/member")
    # Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    sign_in(page)
    expect(page.get_by_test_id("signed-in")).to_contain_text(buyer.address[:6])
    assert wallet.calls[:2] == ["eth_requestAccounts", "personal_sign"]
    balance = buyer.get("/wallet").json()["balance"]
    expect(page.get_by_test_id("balance")).to_have_text(eur(balance))

    # Place an order through the form: the page asks the wallet for an EIP-712 signature.
    slot = int(client.get("/market").json()["current_slot"]) + 3
    place_order(page, "buy", slot, 700, "0.15")
    assert "eth_signTypedData_v4" in wallet.calls
    # A signed intent, kept in the pool until the gate closes: nothing escrowed.
    (order,) = buyer.get("/orders", params={"status": "pending"}).json()
    assert (order["kind"], order["slot"], order["energy_wh"]) == ("intent", slot, 700)
    assert order["limit_price"] == 150_000
    open_orders = page.get_by_test_id("open-orders")
    expect(open_orders).to_contain_text("0.1500 €/kWh")
    expect(open_orders).to_contain_text("pending")
    expect(page.get_by_test_id("escrow")).to_have_text(eur(buyer.get("/wallet").json()["escrow"]))
    page.screenshot(path=shots / "member-order-placed.png", full_page=True)

    # Withdraw it from the pool (no signature, no transaction).
    page.get_by_role("button", name=f"Withdraw order {order['id']}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Order {order['id'][:10]}… withdrawn")
    assert buyer.get(f"/orders/{order['id']}").json()["status"] == "withdrawn"
    expect(page.get_by_test_id("open-orders")).to_contain_text("nothing yet")
    expect(page.get_by_test_id("escrow")).to_have_text(eur(0))

    # The cleared trade of the traded slot, the energy chart and the bill against BaU.
    trades = page.get_by_test_id("trades")
    expect(trades).to_contain_text(f"slot {traded['slot']}")
    expect(trades).to_contain_text("1.500 kWh")
    price = (SELL_PRICE + BUY_PRICE) // 2
    expect(trades).to_contain_text(eur(1_500 * price))
    period = traded["slot"] // int(client.get("/market").json()["period_slots"])
    bill = buyer.get("/bills", params={"period": period}).json()
    expect(page.get_by_test_id("bau-cost")).to_have_text(eur(bill["bau_cost"]))
    expect(page.get_by_test_id("net-cost")).to_have_text(eur(bill["net_cost"]))
    expect(page.get_by_test_id("savings")).to_contain_text(eur(abs(bill["savings"])))
    chart = page.get_by_role("img", name=re.compile("Energy per day"))
    expect(chart).to_be_visible()
    # 2,000 Wh metered import, 1,500 Wh bought locally: 500 Wh from the grid.
    energy = page.get_by_role("table", name="Energy per day", include_hidden=True)
    expect(energy).to_contain_text("2 kWh")
    expect(energy).to_contain_text("1.5 kWh")
    expect(energy).to_contain_text("0.5 kWh")
    page.screenshot(path=shots / "member-bill.png", full_page=True)

    to_phone(page)
    expect(page.get_by_test_id("savings")).to_be_visible()
    no_sideways_scroll(page)
    page.screenshot(path=shots / "member-phone.png", full_page=True)


def test_dso_sees_members_and_confirms_a_top_up(
    open_page: OpenPage,
    client: httpx.Client,
    node: Node,
    settings: Settings,
    dso: Wallet,
    shots: Path,
) -> None:
    member = new_member(client, dso)
    request = member.post("/wallet/top-ups", {"amount": 25 * EUR}).json()
    index_once(node, settings)  # members and meters are read from the event index
    page, _ = open_page(dso.account, "#/dso")
    sign_in(page)
    members = page.get_by_role("table", name="Members", exact=True)
    expect(members.locator(f"code[title='{member.address}']")).to_be_visible()
    expect(page.get_by_role("table", name=re.compile("Tariff schedule"))).to_contain_text("uniform")
    expect(page.get_by_test_id("battery-note")).to_contain_text("in the statement of account")
    page.get_by_role("button", name=f"Confirm top-up {request['reference']}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Top-up {request['reference']} minted")
    assert member.get("/wallet").json()["balance"] == 25 * EUR
    # A battery lease for the member: set in the form, charged by every period's close.
    page.locator("#lease-member").fill(member.address)
    page.locator("#lease-amount").fill("1.5")
    page.get_by_role("button", name="Set lease").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Battery lease of {member.address} set to {eur(1_500_000_000)} a period"
    )
    assert dso.get(f"/dso/leases/{member.address}").json()["per_period"] == 1_500_000_000
    index_once(node, settings)
    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    leases = page.get_by_role("table", name="Battery leases", exact=True)
    expect(leases.locator(f"code[title='{member.address}']")).to_be_visible()
    expect(leases).to_contain_text(eur(1_500_000_000))
    page.screenshot(path=shots / "dso.png", full_page=True)


def test_no_bill_for_one_who_is_not_a_member(
    open_page: OpenPage, client: httpx.Client, node: Node, settings: Settings, shots: Path
) -> None:
    """Signed in, an account that never was a member gets no statement of account (no service
    fee charged to it, no empty bill): the page says it is not a member and never asks for one;
    the API would answer 404 not_member."""
    stranger = Account.create()
    page, _ = open_page(stranger, "#/member")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    sign_in(page)
    expect(page.get_by_role("heading", name="Not a member")).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"{stranger.address} is not a member")
    expect(page.get_by_test_id("statement")).to_have_count(0)
    expect(page.get_by_test_id("net-cost")).to_have_count(0)
    assert asked and not [u for u in asked if "/bills" in u or "/trades" in u], asked
    index_once(node, settings)  # "never was a member" is read from the event index
    wallet = Wallet(client, stranger)
    wallet.sign_in()
    refused = wallet.get("/bills", params={"period": 0})
    assert (refused.status_code, refused.json()["code"]) == (404, "not_member")
    page.screenshot(path=shots / "not-a-member.png", full_page=True)


def test_auditor_opens_a_slots_supply_and_demand_curves(
    open_page: OpenPage, traded: dict[str, Any], client: httpx.Client, node: Node, shots: Path
) -> None:
    auditor = Account.create()
    grant(node, "AUDITOR_ROLE", auditor.address)
    page, _ = open_page(auditor, "#/market")
    sign_in(page)
    expect(page.get_by_test_id("audit-ok")).to_have_text("No discrepancy")
    expect(page.get_by_test_id("supply-conserved")).to_contain_text("minted − redeemed")
    expect(page.get_by_role("img", name=re.compile("Clearing price and volume"))).to_be_visible()
    page.screenshot(path=shots / "market-audit.png", full_page=True)

    page.get_by_label("Slot", exact=True).fill(str(traded["slot"]))
    page.get_by_role("button", name="Show supply and demand").click()
    expect(page.get_by_role("heading", name=f"Slot {traded['slot']}", exact=True)).to_be_visible()
    price = (SELL_PRICE + BUY_PRICE) // 2
    expect(page.get_by_test_id("slot-outcome")).to_contain_text(
        f"1.500 kWh at 0.{price // 100:04d} €/kWh"
    )
    for part in ("supply-curve", "demand-curve", "clearing-point"):
        expect(page.get_by_test_id(part)).to_be_visible()
    book = page.get_by_role("table", name=f"Order book, slot {traded['slot']}", include_hidden=True)
    expect(book).to_contain_text("2.000 kWh")  # the sell offer, 1.500 kWh of it filled
    page.screenshot(path=shots / "slot-curves.png", full_page=True)

    to_phone(page)
    no_sideways_scroll(page)
    page.screenshot(path=shots / "slot-curves-phone.png", full_page=True)


def test_served_by_the_api_with_its_security_headers(client: httpx.Client) -> None:
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/dashboard/"
    page = client.get("/dashboard/")
    assert page.status_code == 200 and '<script type="module" src="app.js">' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    js = client.get("/dashboard/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert client.get("/dashboard/nope.js").status_code == 404
    assert "/dashboard" not in str(client.get("/openapi.json").json()["paths"])
