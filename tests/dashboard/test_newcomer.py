"""The newcomer's path, as `make dashboard` runs it: `gridshare dashboard` (a private chain, a
small demo community run for a day, the indexer and the API) over real HTTP and in Chromium with
no browser wallet: sign in as a household through the dev sign-in helper, place and withdraw an
order, sign in as the DSO; the API's docs render with no other host reachable; then Ctrl-C
stops every process it started.

The tests share one `gridshare dashboard` (about 90 s to start) and run in file order: the last
one stops it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from playwright.sync_api import expect

from api.client import siwe_message
from chain.devchain import ROOT, free_port
from tests.dashboard.test_dashboard import PHONE, eur, place_order
from tests.dashboard.test_layout import fits

HERE = Path(__file__).resolve().parent
GRIDSHARE = [sys.executable, "-c", "from gridshare.cli import app; app()"]
START_SECONDS = 300
READY = re.compile(r"is running on a private chain: open (http://\S+)/")
DEPLOYING = re.compile(r"deploying on (gridshare-dev-\d+)")


@dataclass
class Dashboard:
    process: subprocess.Popen[str]
    url: str
    report: Path
    """The demo day's report folder (`--out`)."""
    lines: list[str] = field(default_factory=list)

    def accounts(self) -> dict[str, str]:
        """Name -> address of the accounts the dev sign-in helper offers."""
        rows = httpx.get(f"{self.url}/dev/accounts").json()
        return {r["name"]: r["address"] for r in rows}


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    report = tmp_path_factory.mktemp("newcomer-report")
    args = [
        *GRIDSHARE,
        "dashboard",
        "--community",
        str(HERE / "newcomer.toml"),
        "--port",
        str(free_port()),
        "--out",
        str(report),
    ]
    process = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if (match := READY.search(line)) and not found:
                found.append(match.group(1))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + START_SECONDS
    while not found:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("gridshare dashboard did not start:\n" + "\n".join(lines[-30:]))
        time.sleep(0.5)
    yield Dashboard(process, found[0], report, lines)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def _sign_in(url: str, address: str) -> dict[str, Any]:
    """Sign in over HTTP as `address`, the dev helper signing the SIWE message."""
    n = httpx.get(f"{url}/auth/nonce").json()
    message = siwe_message(address, n["domain"], n["chain_id"], n["nonce"])
    signed = httpx.post(f"{url}/dev/sign-message", json={"address": address, "message": message})
    assert signed.status_code == 200, signed.text
    login = httpx.post(
        f"{url}/auth/login", json={"message": message, "signature": signed.json()["signature"]}
    )
    assert login.status_code == 200, login.text
    session: dict[str, Any] = login.json()
    return session


def test_prints_where_to_go_and_signs_in_households_and_the_dso(dashboard: Dashboard) -> None:
    text = "\n".join(dashboard.lines)
    assert "newcomer: 24/24 slots" in text  # the demo day ran first
    assert f"API and its docs: {dashboard.url}/docs" in text
    accounts = dashboard.accounts()
    assert list(accounts) == ["a", "b", "c", "DSO"]
    for name, address in accounts.items():
        assert re.search(rf"^\s+{name}\s+\w+\s+{address}$", text, re.M), name
    household = _sign_in(dashboard.url, accounts["b"])
    assert household["roles"] == ["member"]
    wallet = httpx.get(
        f"{dashboard.url}/wallet", headers={"Authorization": f"Bearer {household['token']}"}
    ).json()
    assert wallet["member_role"] == "consumer" and wallet["balance"] > 0
    assert "dso" in _sign_in(dashboard.url, accounts["DSO"])["roles"]
    # It signs only for the demo's accounts.
    stranger = "0x" + "11" * 20
    refused = httpx.post(
        f"{dashboard.url}/dev/sign-message", json={"address": stranger, "message": "hi"}
    )
    assert refused.status_code == 404 and refused.json()["code"] == "unknown_dev_account"


def test_in_the_browser_a_household_orders_and_withdraws_then_the_dso_signs_in(
    dashboard: Dashboard, browser: Any, shots: Path
) -> None:
    accounts = dashboard.accounts()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=dashboard.url)
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto("/dashboard/#/member")
        page.wait_for_selector("body[data-ready='true']")
        assert page.evaluate("window.ethereum === undefined")  # no browser wallet at all
        page.get_by_test_id("dev-account").first.select_option(label="a (prosumer)")
        page.get_by_role("button", name="Sign in on this dev chain").first.click()
        expect(page.get_by_test_id("signed-in")).to_contain_text(accounts["a"][:6])
        expect(page.get_by_test_id("signed-in")).to_contain_text("member")

        slot = int(httpx.get(f"{dashboard.url}/market").json()["current_slot"]) + 3
        place_order(page, "sell", slot, 500, "0.12")
        open_orders = page.get_by_test_id("open-orders")
        expect(open_orders).to_contain_text("pending")
        page.screenshot(path=shots / "newcomer-order.png", full_page=True)
        withdraw = page.get_by_role("button", name=re.compile("^Withdraw order "))
        withdraw.click()
        expect(page.get_by_role("status")).to_contain_text("withdrawn")
        expect(open_orders).to_contain_text("nothing yet")

        page.get_by_role("button", name="Sign out").click()
        page.get_by_test_id("dev-account").first.select_option(label="DSO (dso)")
        page.get_by_role("button", name="Sign in on this dev chain").first.click()
        expect(page.get_by_test_id("signed-in")).to_contain_text("dso")
        page.goto("/dashboard/#/dso")
        members = page.get_by_role("table", name="Members", exact=True)
        for name in ("a", "b", "c"):
            expect(members.locator(f"code[title='{accounts[name]}']")).to_be_visible()
        page.screenshot(path=shots / "newcomer-dso.png", full_page=True)
    finally:
        context.close()


def test_statements_open_on_the_last_complete_period_and_any_can_be_picked(
    dashboard: Dashboard, browser: Any, shots: Path
) -> None:
    """The demo day is over: a household's statement opens on it (the newest closed period),
    not on the empty current one; the current one can be picked too. The DSO's statement opens
    on the same period, and the audit card shows its run's progress, then its result."""
    url = dashboard.url
    accounts = dashboard.accounts()
    deadline = time.monotonic() + 60
    while True:  # until the indexer, started with the API, has indexed the day's close
        periods = httpx.get(f"{url}/periods").json()
        complete, current = periods["last_complete_period"], periods["current_period"]
        assert complete is not None and complete < current, periods
        status = {p["period"]: p["status"] for p in periods["periods"]}[complete]
        if status == "closed":
            break
        assert status == "settled" and time.monotonic() < deadline, periods
        time.sleep(0.5)
    a = {"Authorization": f"Bearer {_sign_in(url, accounts['a'])['token']}"}
    bills = {
        p: httpx.get(f"{url}/bills", params={"period": p}, headers=a).json()
        for p in (complete, current)
    }
    saving = bills[complete]["savings"]
    said = (
        f"You saved {eur(saving)} against business as usual."
        if saving >= 0
        else f"You paid {eur(-saving)} more than business as usual."
    )
    # The day's close is in it: the service fee, charged at the close, is not zero.
    (fee,) = [x["amount"] for x in bills[complete]["lines"] if x["key"] == "service_fee"]
    assert fee > 0
    trades = httpx.get(f"{url}/trades", params={"period": complete}, headers=a).json()
    assert trades and {t["kind"] for t in trades} == {"intent"}  # the demo's agents sign intents
    assert all(t["escrow_returned"] == 0 for t in trades)
    dso = {"Authorization": f"Bearer {_sign_in(url, accounts['DSO'])['token']}"}
    dso_net = httpx.get(f"{url}/dso/statement", params={"period": complete}, headers=dso).json()
    # The report of the demo day (one period) has every statement, line by line to the n€: the
    # API's for every household and for the DSO are the same.
    report = json.loads((dashboard.report / "statements.json").read_text())
    assert (report["from_slot"], report["to_slot"]) == (
        bills[complete]["from_slot"],
        bills[complete]["to_slot"],
    )
    assert sorted(report["households"]) == sorted(n for n in accounts if n != "DSO")
    for name, household in report["households"].items():
        assert household["address"] == accounts[name]
        mine = {"Authorization": f"Bearer {_sign_in(url, accounts[name])['token']}"}
        bill = httpx.get(f"{url}/bills", params={"period": complete}, headers=mine).json()
        assert {x["key"]: x["amount"] for x in bill["lines"]} == household["lines"], name
    assert {x["key"]: x["amount"] for x in dso_net["lines"]} == report["dso"]
    assert bills[complete]["net_cost"] == report["households"]["a"]["lines"]["net_cost"]

    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=url)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.set_viewport_size(PHONE)  # signed out, the dev sign-in in the header: it fits
        page.goto("/dashboard/#/member")
        page.wait_for_selector("body[data-ready='true']")
        fits(page)
        page.set_viewport_size({"width": 1280, "height": 900})
        page.get_by_test_id("dev-account").first.select_option(label="a (prosumer)")
        page.get_by_role("button", name="Sign in on this dev chain").first.click()
        picker = page.get_by_test_id("period-select")
        expect(picker).to_have_value(str(complete))
        expect(picker.locator("option")).to_have_count(current + 1)
        expect(page.get_by_test_id("period-note")).to_contain_text("complete")
        expect(page.get_by_test_id("net-cost")).to_have_text(eur(bills[complete]["net_cost"]))
        expect(page.get_by_test_id("savings")).to_have_text(said)
        # The page's statement: every money line of the report's, as the page rounds it.
        expect(page.get_by_test_id("statement").locator("tbody tr").first).to_be_visible()
        shown = {
            label: amount
            for label, _, amount in page.evaluate(
                """Array.from(document.querySelectorAll("[data-testid=statement] tbody tr"))
                    .map((r) => Array.from(r.cells).map((c) => c.innerText.trim()))"""
            )
        }
        money = {
            x["label"]: eur(report["households"]["a"]["lines"][x["key"]])
            for x in bills[complete]["lines"]
            if x["part"] != "energy" and (x["part"] in ("cost", "total") or x["amount"])
        }
        assert money and {k: v for k, v in shown.items() if k in money} == money
        sides = {f"{t['side']} (signed intent)" for t in trades}
        for side in sides:
            expect(page.get_by_test_id("trades")).to_contain_text(side)
        rows = page.get_by_test_id("trades").locator("tbody tr")
        expect(rows).to_have_count(len(trades))
        page.screenshot(path=shots / "newcomer-statement.png", full_page=True)
        fits(page)  # a demo day's trades and statement, at 1,280 px and on a phone
        page.set_viewport_size(PHONE)
        page.reload()
        expect(page.get_by_test_id("trades").locator("tbody tr")).to_have_count(len(trades))
        fits(page)
        page.screenshot(path=shots / "newcomer-statement-phone.png", full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

        picker.select_option(str(current))
        expect(page).to_have_url(re.compile(rf"#/member/{current}$"))
        expect(page.get_by_test_id("period-note")).to_contain_text("in progress")
        expect(page.get_by_test_id("net-cost")).to_have_text(eur(bills[current]["net_cost"]))

        # More periods than the picker's list holds (the newest 1,000; here made 1): an older
        # one can still be typed in.
        def newest_only(route: Any) -> None:
            route.continue_(url=route.request.url.replace("limit=1000", "limit=1"))

        page.route(re.compile(r"/periods\?limit=1000$"), newest_only)
        page.reload()
        page.wait_for_selector("body[data-ready='true']")
        expect(picker.locator("option")).to_have_count(1)
        page.get_by_label("Or any period by number").fill(str(complete))
        page.get_by_role("button", name="Show period").click()
        expect(picker).to_have_value(str(complete))
        expect(page.get_by_test_id("period-note")).to_contain_text("complete")
        expect(page.get_by_test_id("net-cost")).to_have_text(eur(bills[complete]["net_cost"]))
        page.unroute(re.compile(r"/periods\?limit=1000$"))

        page.get_by_role("button", name="Sign out").click()
        page.get_by_test_id("dev-account").first.select_option(label="DSO (dso)")
        page.get_by_role("button", name="Sign in on this dev chain").first.click()
        expect(page.get_by_test_id("signed-in")).to_contain_text("dso")
        page.goto("/dashboard/#/dso")
        expect(page.get_by_test_id("dso-period-select")).to_have_value(str(complete))
        expect(page.get_by_test_id("dso-net-income")).to_have_text(eur(dso_net["net_income"]))
        page.screenshot(path=shots / "newcomer-dso-statement.png", full_page=True)

        page.goto("/dashboard/#/market")
        expect(page.get_by_test_id("audit-progress")).to_contain_text("Running the audit at block")
        expect(page.get_by_test_id("audit-ok")).to_have_text("No discrepancy")
        expect(page.get_by_test_id("audit-progress")).to_contain_text("Audited at block")
        took = httpx.get(f"{url}/audit/progress", headers=dso).json()["last"]["elapsed_ms"]
        print(f"the demo day's audit took {took} ms")
    finally:
        context.close()


def test_the_api_docs_render_with_nothing_but_the_api(
    dashboard: Dashboard, browser: Any, shots: Path
) -> None:
    """/docs is Swagger UI from the API's own files: with every other host cut off, it still
    renders the API's operations."""
    context = browser.new_context(base_url=dashboard.url)
    outside: list[str] = []

    def only_the_api(route: Any) -> None:
        if route.request.url.startswith(dashboard.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    try:
        context.route("**/*", only_the_api)
        page = context.new_page()
        page.goto("/docs")
        expect(page.get_by_role("heading", name=re.compile("gridshare wallet API"))).to_be_visible()
        expect(page.get_by_text("/auth/login", exact=True).first).to_be_visible()
        page.screenshot(path=shots / "newcomer-docs.png")
        assert not outside, outside
    finally:
        context.close()


def test_ctrl_c_stops_every_process_it_started(dashboard: Dashboard) -> None:
    children = psutil.Process(dashboard.process.pid).children(recursive=True)
    assert len(children) >= 3  # the chain, the API, the indexer
    started = time.monotonic()
    dashboard.process.send_signal(signal.SIGINT)
    assert dashboard.process.wait(30) == 0
    took = time.monotonic() - started
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, [p.pid for p in alive]
    assert any("the chain are gone" in line for line in dashboard.lines), dashboard.lines[-5:]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{dashboard.url}/health")
    print(f"stopped in {took:.1f} s; {len(gone)} child processes gone")
    # Its brownie network entry went with the chain.
    (network,) = {m.group(1) for line in dashboard.lines if (m := DEPLOYING.search(line))}
    assert network not in Path("~/.brownie/network-config.yaml").expanduser().read_text()
