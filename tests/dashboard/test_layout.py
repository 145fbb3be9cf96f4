"""The dashboard fits a 1,280 px wide screen and a phone (390 px): in every view, with a member's
open on-chain order (its Cancel button), trades and statement on the page and every <details>
opened, no element lies outside the viewport, no table scrolls sideways and neither does the
page. Then the DSO's statement of account and the audit card: the last result shows at once
while a new run is under way, and the new result replaces it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from api.client import Wallet
from chain.devchain import advance_to
from chain.node import Node
from tests.api.chainops import BUY_PRICE
from tests.dashboard.conftest import OpenPage
from tests.dashboard.test_dashboard import eur, sign_in

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

# Every element's box against the viewport (SVG shapes are clipped by their <svg>, a phone's
# table headers are visually hidden, the skip link waits off-screen until focused), and every
# table's scroll box.
OUTSIDE_JS = """() => {
  for (const d of document.querySelectorAll('details')) d.open = true;
  const width = document.documentElement.clientWidth;
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('thead, .skip') || (el instanceof SVGElement && el.tagName !== 'svg')) continue;
    const r = el.getBoundingClientRect();
    if (!r.width && !r.height) continue;
    if (r.left < -0.5 || r.right > width + 0.5) {
      const text = (el.textContent || '').trim().slice(0, 40);
      bad.push(`${el.tagName} [${Math.round(r.left)}, ${Math.round(r.right)}] ${text}`);
    }
  }
  for (const wrap of document.querySelectorAll('.table-wrap')) {
    if (wrap.scrollWidth > wrap.clientWidth + 1) {
      bad.push(`table scrolls: ${wrap.querySelector('caption').textContent}`);
    }
  }
  return { bad, page: document.documentElement.scrollWidth, width };
}"""


def fits(page: Any) -> None:
    found = page.evaluate(OUTSIDE_JS)
    assert found["page"] <= found["width"], f"the page is {found['page']} px wide"
    assert not found["bad"], found["bad"][:10]


def inside(page: Any, locator: Any) -> None:
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box


@pytest.mark.parametrize("size", SIZES)
def test_member_view_fits(
    size: str,
    open_page: OpenPage,
    traded: dict[str, Any],
    client: httpx.Client,
    shots: Path,
) -> None:
    buyer: Wallet = traded["buyer"]
    if not buyer.get("/orders", params={"status": "open"}).json():
        slot = int(client.get("/market").json()["current_slot"]) + 5
        placed = buyer.post("/orders/direct", buyer.direct_order(slot, "buy", 500, BUY_PRICE))
        assert placed.status_code == 201, placed.text
    page, _ = open_page(buyer.account, "#/member", **SIZES[size])
    sign_in(page)
    cancel = page.get_by_role("button", name="Cancel order ")
    expect(cancel).to_be_visible()
    expect(page.get_by_test_id("trades")).to_contain_text(f"slot {traded['slot']}")
    expect(page.get_by_test_id("statement")).to_be_visible()
    inside(page, cancel)
    fits(page)
    page.screenshot(path=shots / f"layout-member-{size}.png", full_page=True)


@pytest.mark.parametrize("size", SIZES)
def test_dso_and_market_views_fit(
    size: str, open_page: OpenPage, traded: dict[str, Any], dso: Wallet, shots: Path
) -> None:
    page, _ = open_page(dso.account, "#/dso", **SIZES[size])
    sign_in(page)
    expect(page.get_by_test_id("dso-statement")).to_be_visible()
    fits(page)
    page.screenshot(path=shots / f"layout-dso-{size}.png", full_page=True)
    page.goto("/dashboard/#/market")
    expect(page.get_by_test_id("audit-ok")).to_have_text("No discrepancy")
    fits(page)
    page.screenshot(path=shots / f"layout-market-{size}.png", full_page=True)


def test_dso_statement_of_the_period_picked(
    open_page: OpenPage, traded: dict[str, Any], client: httpx.Client, dso: Wallet
) -> None:
    periods = client.get("/periods").json()
    period = periods["current_period"]  # nothing is complete on this chain: the current one
    assert periods["last_complete_period"] is None
    statement = dso.get("/dso/statement", params={"period": period}).json()
    page, _ = open_page(dso.account, "#/dso")
    sign_in(page)
    picker = page.get_by_test_id("dso-period-select")
    expect(picker).to_have_value(str(period))
    expect(picker.locator("option")).to_have_count(period + 1)
    table = page.get_by_test_id("dso-statement")
    expect(page.get_by_test_id("dso-net-income")).to_have_text(eur(statement["net_income"]))
    for line in statement["lines"]:
        if line["amount"] and line["part"] != "energy":
            row = table.get_by_role("row").filter(has_text=line["label"]).first
            expect(row).to_contain_text(line["explanation"])
            expect(row).to_contain_text(eur(line["amount"]))
    expect(page.get_by_test_id("dso-period-note")).to_contain_text("still in progress")


def test_audit_card_shows_the_last_result_while_a_run_is_under_way(
    open_page: OpenPage, traded: dict[str, Any], dso: Wallet, node: Node
) -> None:
    first = dso.get("/audit/report").json()
    advance_to(node, node.block_timestamp())  # the chain moves on: the next run is a new one
    head = node.block_number()
    deadline = time.monotonic() + 10
    while dso.get("/health").json()["head_block"] < head:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    page, _ = open_page(dso.account, "#/dso")
    held: list[Any] = []
    page.route("**/audit/report", lambda route: held.append(route))  # answered when released
    sign_in(page)
    page.goto("/dashboard/#/market")
    expect(page.get_by_test_id("audit-last")).to_contain_text(f"block {first['block']}")
    expect(page.get_by_test_id("audit-last")).to_contain_text(f"the chain is at block {head}")
    expect(page.get_by_test_id("audit-ok")).to_have_text("No discrepancy")  # the last result
    expect(page.get_by_test_id("audit-progress")).not_to_contain_text("Audited")
    deadline = time.monotonic() + 10
    while not held:
        assert time.monotonic() < deadline, "the page did not ask for a new audit"
        page.wait_for_timeout(50)
    held[0].continue_()
    expect(page.get_by_test_id("audit-progress")).to_have_text(f"Audited at block {head}.")
    expect(page.get_by_test_id("audit-last")).to_have_count(0)
    expect(page.get_by_test_id("audit-ok")).to_have_text("No discrepancy")
