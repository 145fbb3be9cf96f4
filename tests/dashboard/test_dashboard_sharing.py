"""The dashboard of a community deployed in the `sharing` mode, in headless Chromium: a real
anvil with two slots settled by the matcher from meter-signed readings, indexed, the API over
real HTTP. A member signs in and sees no order or trade UI but its coverage: consumption (G.01)
= community coverage (G.03) + residual grid draw, export to the community and to the grid, per
period, day and slot, and its bill against business as usual; every figure shown is the API's
(GET /sharing/slots, GET /bills). Screenshots under reports/screenshots/, also at a phone's
size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from playwright.sync_api import expect

from api.client import Wallet
from chain.devchain import free_port
from chain.node import Node
from gridshare.settings import Settings
from tests.api.chainops import index_once
from tests.apiserver import api_settings, serve
from tests.dashboard.conftest import OpenPage
from tests.dashboard.test_dashboard import PHONE, eur, sign_in
from tests.dashboard.test_layout import fits
from tests.sharing import FLOWS, SharingCommunity, sharing_chain

SECOND = [(0, 2000), (400, 0), (0, 0), (100, 0), (50, 0)]
"""A sunnier slot: E = 2,000 >= D = 550, every consumer covered, the rest to the grid."""


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharingCommunity]:
    with sharing_chain(tmp_path_factory.mktemp("sharing-dashboard")) as chain:
        community = SharingCommunity.with_members(chain, len(FLOWS))
        # Both slots in one day (each settle moves past a reading deadline: a few slots apart).
        community.room_in_the_day(16)
        community.settle_slot(FLOWS)
        community.settle_slot(SECOND)
        yield community


@pytest.fixture(scope="module")
def node(shared: SharingCommunity) -> Node:
    """This module's chain (in place of the directory's trading one) for `open_page`."""
    return shared.node


@pytest.fixture(scope="module")
def sharing_settings(
    shared: SharingCommunity, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    settings = api_settings(shared.chain, free_port(), tmp_path_factory.mktemp("sharing-db"))
    index_once(shared.node, settings)
    return settings


@pytest.fixture(scope="module")
def base_url(shared: SharingCommunity, sharing_settings: Settings) -> Iterator[str]:
    """The sharing deployment's API (in place of the directory's) for `open_page`."""
    with serve(sharing_settings, shared.chain.network_id) as url:
        yield url


def kwh(wh: int) -> str:
    """Wh as the dashboard shows it (format.js `kwh`)."""
    return f"{wh // 1000:,}.{wh % 1000:03d} kWh"


def figures(base_url: str, shared: SharingCommunity, index: int, period: str) -> dict[str, Any]:
    """Member `index`'s /sharing/slots and /bills of `period`, as the API answers them."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        w = Wallet(client, shared.keys[index])
        w.sign_in()
        slots = w.get("/sharing/slots", params={"period": period})
        bill = w.get("/bills", params={"period": period})
    assert slots.status_code == 200 and bill.status_code == 200, (slots.text, bill.text)
    return {"sharing": slots.json(), "bill": bill.json()}


def shows_totals(page: Any, api: dict[str, Any]) -> None:
    t, bill = api["sharing"]["totals"], api["bill"]
    for testid, key in (
        ("sharing-consumption", "consumption_wh"),
        ("sharing-covered", "covered_wh"),
        ("sharing-grid-draw", "grid_draw_wh"),
        ("sharing-to-community", "to_community_wh"),
        ("sharing-to-grid", "to_grid_wh"),
    ):
        expect(page.get_by_test_id(testid)).to_have_text(kwh(t[key]))
    expect(page.get_by_test_id("net-cost")).to_have_text(eur(bill["net_cost"]))
    expect(page.get_by_test_id("bau-cost")).to_have_text(eur(bill["bau_cost"]))
    # The API's figures are the statement's: coverage is what the member bought from the
    # community, its export to the community what it sold; G.01 = G.03 + residual grid draw.
    lines = {x["key"]: x["amount"] for x in bill["lines"]}
    assert (t["covered_wh"], t["to_community_wh"]) == (lines["bought_wh"], lines["sold_wh"])
    assert t["consumption_wh"] - t["production_wh"] == lines["import_wh"] - lines["export_wh"]
    assert t["covered_wh"] + t["grid_draw_wh"] == t["consumption_wh"]
    assert t["to_community_wh"] + t["to_grid_wh"] == t["production_wh"]


def test_a_member_sees_its_coverage_per_slot_and_day_and_its_bill(
    open_page: OpenPage, base_url: str, shared: SharingCommunity, shots: Path
) -> None:
    consumer = shared.keys[1]  # imports 700 Wh, then 400 Wh
    page, _wallet = open_page(consumer, "#/member")
    sign_in(page)
    expect(page.get_by_test_id("sharing-consumption")).to_be_visible()
    period = page.get_by_test_id("period-select").input_value()
    api = figures(base_url, shared, 1, period)
    shows_totals(page, api)
    slots = api["sharing"]["slots"]
    assert [s["consumption_wh"] for s in slots] == [700, 400]
    assert 0 < slots[0]["covered_wh"] < 700 and slots[1]["covered_wh"] == 400
    assert sum(s["net_cost"] for s in slots) == api["bill"]["net_cost"]
    # Per slot, in the chart's data table: each settled slot's figures as the API gives them.
    rows = page.get_by_test_id("sharing-slots").locator("tbody tr")
    expect(rows).to_have_count(len(slots))
    for row, s in zip(rows.all(), slots, strict=True):
        assert row.locator("td").all_text_contents() == [
            kwh(s["consumption_wh"]),
            kwh(s["covered_wh"]),
            kwh(s["grid_draw_wh"]),
            kwh(s["to_community_wh"]),
            kwh(s["to_grid_wh"]),
            eur(s["net_cost"]),
            eur(s["bau_cost"]),
        ]
    # Per day: both slots fall in one day here, so the day's row is the period's totals.
    t = api["sharing"]["totals"]
    (day,) = page.get_by_test_id("sharing-days").locator("tbody tr").all()
    assert day.locator("td").all_text_contents()[:3] == [
        kwh(t["consumption_wh"]),
        kwh(t["covered_wh"]),
        kwh(t["grid_draw_wh"]),
    ]
    # No order book in this mode: no order form, no orders, no trades.
    expect(page.get_by_role("button", name="Sign and place order")).to_have_count(0)
    expect(page.get_by_role("heading", name="My orders")).to_have_count(0)
    expect(page.get_by_test_id("trades")).to_have_count(0)
    fits(page)
    page.screenshot(path=shots / "sharing-member.png", full_page=True)

    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    expect(page.get_by_test_id("sharing-covered")).to_have_text(kwh(t["covered_wh"]))
    fits(page)
    page.screenshot(path=shots / "sharing-member-phone.png", full_page=True)


def test_a_producer_sees_its_export_to_the_community_and_the_grid(
    open_page: OpenPage, base_url: str, shared: SharingCommunity
) -> None:
    page, _wallet = open_page(shared.keys[0], "#/member")  # exports 900 Wh, then 2,000 Wh
    sign_in(page)
    expect(page.get_by_test_id("sharing-to-community")).to_be_visible()
    api = figures(base_url, shared, 0, page.get_by_test_id("period-select").input_value())
    shows_totals(page, api)
    t = api["sharing"]["totals"]
    assert t["production_wh"] == 2900 and 0 < t["to_grid_wh"] < 2000


def test_the_market_view_says_how_the_community_shares(open_page: OpenPage, shots: Path) -> None:
    page, _wallet = open_page(Account.create(), "#/market")
    expect(page.get_by_test_id("sharing-mode")).to_contain_text("dynamic key")
    expect(page.get_by_role("heading", name="Clearing prices and volumes")).to_have_count(0)
    page.screenshot(path=shots / "sharing-market.png", full_page=True)
