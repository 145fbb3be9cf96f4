"""History over HTTP from the real event index: one slot traded through the API, metered,
settled against the meters on-chain, indexed (`indexer` into the API's SQLite file), then read
back as trades, readings and bills, and checked against what the chain itself settled."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from web3.types import Wei

from api.client import Wallet
from chain.devchain import advance_to
from chain.node import Node, Sender
from gridshare.settings import Settings
from tests.api.chainops import (
    BUY_PRICE,
    SELL_PRICE,
    index_once,
    trade_metered_slot,
)
from tests.apiserver import DSO_ACCOUNT, new_member


@pytest.fixture(scope="module")
def traded(client: httpx.Client, node: Node, settings: Settings, dso: Wallet) -> dict[str, Any]:
    return trade_metered_slot(client, node, settings, dso)


def test_bills_match_what_the_chain_settled(traded: dict[str, Any]) -> None:
    slot = traded["slot"]
    price = (SELL_PRICE + BUY_PRICE) // 2
    for who in ("seller", "buyer"):
        w: Wallet = traded[who]
        r = w.get("/bills", params={"from_slot": slot, "to_slot": slot})
        assert r.status_code == 200, r.text
        body = r.json()
        (line,) = body["slots"]
        chain = traded["imbalance"][w.address]
        figures = {x["key"]: x["amount"] for x in body["lines"]}
        assert line["slot"] == slot and line["metered"]
        assert line["bau_cost"] == chain["bauCost"] == body["bau_cost"]
        assert figures["grid_credit"] == -chain["credit"]
        assert figures["grid_energy"] == chain["energyCharge"]
        assert figures["grid_network"] == chain["networkCharge"]
        assert line["savings"] == line["bau_cost"] - line["net_cost"]
        assert body["net_cost"] == line["net_cost"] == figures["net_cost"]
        assert all(x["label"] and x["explanation"] for x in body["lines"])
    buyer = traded["buyer"].get("/bills", params={"from_slot": slot, "to_slot": slot}).json()
    line = buyer["slots"][0]
    figures = {x["key"]: x["amount"] for x in buyer["lines"]}
    assert line["bought_wh"] == 1_500 and figures["energy_bought"] == 1_500 * price
    assert figures["import_wh"] == 2_000
    assert line["savings"] > 0  # 1,500 Wh bought locally below retail


def test_an_open_period_has_no_service_fee_yet(traded: dict[str, Any]) -> None:
    """The service fee is what the period's close billed (PeriodBilled): none before."""
    w: Wallet = traded["buyer"]
    period = traded["slot"] // 1440
    by_period = w.get("/bills", params={"period": period}).json()
    by_range = w.get("/bills", params={"from_slot": traded["slot"], "to_slot": traded["slot"]})
    figures = {x["key"]: x["amount"] for x in by_period["lines"]}
    assert figures["service_fee"] == 0
    assert by_period["net_cost"] == by_range.json()["net_cost"]


def test_no_bill_for_one_who_never_was_a_member(
    client: httpx.Client, traded: dict[str, Any]
) -> None:
    stranger = Wallet(client)
    stranger.sign_in()
    for params in ({"period": traded["slot"] // 1440}, {"from_slot": 0, "to_slot": 10}):
        r = stranger.get("/bills", params=params)
        assert r.status_code == 404, r.text
        assert r.json() == {
            "code": "not_member",
            "message": f"{stranger.address} is not and never was a member: it has no bills",
        }


def test_a_former_member_keeps_its_bills(
    client: httpx.Client, node: Node, settings: Settings, dso: Wallet, traded: dict[str, Any]
) -> None:
    m = new_member(client, dso)
    node.w3.eth.send_transaction(
        {"from": node.w3.eth.accounts[DSO_ACCOUNT], "to": m.address, "value": Wei(10**17)}
    )
    leave = node.contract("Membership").functions.requestExit()
    node.transact(leave, Sender.from_key("0x" + bytes(m.account.key).hex()))
    community = node.contract("Community").functions
    assert int(node.call(community.memberRole(m.address))) == 0  # no role on the chain now
    index_once(node, settings)  # its MemberRegistered event is in the index
    r = m.get("/bills", params={"from_slot": traded["slot"], "to_slot": traded["slot"]})
    assert r.status_code == 200, r.text
    assert r.json()["slots"] == []


def test_trades_and_readings(traded: dict[str, Any]) -> None:
    slot = traded["slot"]
    buyer: Wallet = traded["buyer"]
    (trade,) = buyer.get("/trades", params={"from_slot": slot, "to_slot": slot}).json()
    assert trade["side"] == "buy" and trade["filled_wh"] == 1_500
    assert trade["paid"] == trade["amount"] + trade["platform_fee"] + trade["network_fee"]
    # The buyer's meter signed a span (one ReadingSpanAccepted), the seller's a single reading.
    (reading,) = buyer.get("/readings", params={"from_slot": slot, "to_slot": slot}).json()
    assert (reading["slot"], reading["import_wh"], reading["export_wh"]) == (slot, 2_000, 0)
    assert reading["sequence"] == 1 and reading["tx_hash"].startswith("0x")
    seller: Wallet = traded["seller"]
    (sold,) = seller.get("/readings", params={"from_slot": slot, "to_slot": slot}).json()
    assert (sold["slot"], sold["import_wh"], sold["export_wh"]) == (slot, 0, 1_000)
    assert sold["tx_hash"] != reading["tx_hash"]
    after = buyer.get("/readings", params={"from_slot": slot + 1, "to_slot": slot + 9}).json()
    assert after == []


def test_every_reading_of_a_slot_for_auditors(client: httpx.Client, traded: dict[str, Any]) -> None:
    """The public readings of a slot hold the span's reading and the single one alike (a span's
    event has no slot column for /events to filter by), each with its member."""
    slot = traded["slot"]
    window = {"from_slot": slot, "to_slot": slot}
    rows = client.get(f"/slots/{slot}/readings").json()
    got = {(r["member"], r["slot"], r["import_wh"], r["export_wh"]) for r in rows}
    buyer, seller = traded["buyer"].address, traded["seller"].address
    assert {(buyer, slot, 2_000, 0), (seller, slot, 0, 1_000)} <= got
    assert all(r["slot"] == slot for r in rows)
    own = traded["buyer"].get("/readings", params=window).json()
    assert [
        {k: v for k, v in r.items() if k != "member"} for r in rows if r["member"] == buyer
    ] == own
    singles = client.get(
        "/events",
        params={"contract": "MeterReadings", "event": "ReadingAccepted", "where": f"slot={slot}"},
    ).json()
    assert buyer not in {e["member"] for e in singles}  # why the slot page links here


def test_public_slots_and_events(client: httpx.Client, traded: dict[str, Any]) -> None:
    slot = traded["slot"]
    (s,) = client.get("/slots", params={"from_slot": slot, "to_slot": slot}).json()
    assert s["price"] == (SELL_PRICE + BUY_PRICE) // 2 and s["volume_wh"] == 1_500
    placed = client.get(
        "/events",
        params={"contract": "OrderBook", "event": "OrderPlaced", "where": f"slot={slot}"},
    ).json()
    assert {e["owner"] for e in placed} == {traded["seller"].address, traded["buyer"].address}
    unknown = client.get("/events", params={"contract": "OrderBook", "event": "Nope"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_event"
    bad = client.get(
        "/events", params={"contract": "OrderBook", "event": "OrderPlaced", "where": "nope=1"}
    )
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_filter"


def test_bad_ranges_are_422(traded: dict[str, Any]) -> None:
    w: Wallet = traded["buyer"]
    assert w.get("/bills").json()["code"] == "invalid_range"
    assert w.get("/bills", params={"from_slot": 5, "to_slot": 4}).status_code == 422
    assert w.get("/bills", params={"from_slot": 0, "to_slot": 10**9}).json()["code"] == (
        "range_too_long"
    )


def test_fee_income(traded: dict[str, Any], dso: Wallet) -> None:
    slot = traded["slot"]
    income = dso.get("/dso/fee-income", params={"from_slot": slot, "to_slot": slot}).json()
    assert income["slots_settled"] == 1
    assert income["platform_fees"] == 1_500 * (5_000 + 5_000)  # both sides' trade fees
    assert income["network_fees"] == 1_500 * 40_000
    assert (
        traded["buyer"].get("/dso/fee-income", params={"from_slot": 0, "to_slot": 1}).json()["code"]
        == "not_dso"
    )


def test_dso_statement(traded: dict[str, Any], dso: Wallet) -> None:
    """The DSO's statement of the traded slot: its fees and what the meters' settlement charged
    or credited, each line named and explained, adding up to the net income."""
    slot = traded["slot"]
    r = dso.get("/dso/statement", params={"from_slot": slot, "to_slot": slot})
    assert r.status_code == 200, r.text
    body = r.json()
    lines = {x["key"]: x["amount"] for x in body["lines"]}
    assert lines["dso_platform_fees"] == 1_500 * (5_000 + 5_000)
    assert lines["dso_local_network"] == 1_500 * 40_000
    imbalance = traded["imbalance"].values()
    assert lines["dso_energy_sales"] == sum(x["energyCharge"] for x in imbalance)
    assert lines["dso_energy_purchases"] == -sum(x["credit"] for x in imbalance)
    assert body["net_income"] == sum(x["amount"] for x in body["lines"] if x["part"] == "cost")
    assert traded["buyer"].get("/dso/statement", params={"period": 0}).status_code == 403


def test_audit_report_for_auditors(
    client: httpx.Client, traded: dict[str, Any], dso: Wallet
) -> None:
    report = dso.get("/audit/report").json()
    assert report["ok"] is True, report
    assert traded["buyer"].get("/audit/report").json()["code"] == "not_auditor"


def test_trades_name_what_moved(traded: dict[str, Any], client: httpx.Client) -> None:
    """A direct buy's refund is named escrow_returned (its escrow at the limit price, less what
    it paid), not `received`; a sell's credit is `received`."""
    slot = traded["slot"]
    span = {"from_slot": slot, "to_slot": slot}
    (buy,) = traded["buyer"].get("/trades", params=span).json()
    (sell,) = traded["seller"].get("/trades", params=span).json()
    assert buy["kind"] == sell["kind"] == "direct"
    tariff = client.get("/market").json()["tariff"]
    fees_buy = (tariff["trade_fee_buy"] + tariff["p2p_grid_fee"]) * 1_500
    assert buy["paid"] == buy["amount"] + buy["platform_fee"] + buy["network_fee"]
    assert buy["escrow_returned"] == BUY_PRICE * 1_500 + fees_buy - buy["paid"] > 0
    assert buy["received"] == 0
    assert sell["received"] == sell["amount"] - sell["platform_fee"] > 0
    assert sell["paid"] == sell["escrow_returned"] == sell["network_fee"] == 0


def test_periods_newest_first_with_their_status(
    client: httpx.Client, traded: dict[str, Any], node: Node
) -> None:
    market = client.get("/market").json()
    length = market["period_slots"]
    body = client.get("/periods").json()
    current = body["current_period"]
    assert current == market["current_slot"] // length and body["period_slots"] == length
    assert [p["period"] for p in body["periods"]] == list(range(current, -1, -1))[:100]
    first = body["periods"][0]
    assert (first["from_slot"], first["to_slot"]) == (current * length, (current + 1) * length - 1)
    assert first["starts_at"] == market["genesis"] + first["from_slot"] * market["slot_seconds"]
    assert first["ends_at"] - first["starts_at"] == length * market["slot_seconds"]
    assert first["status"] == "open"
    # Settled against the meters through some slot, but no period is complete on this chain:
    # periods are 1,440 slots long.
    next_slot = int(node.call(node.contract("ImbalanceSettlement").functions.nextSlot()))
    assert traded["slot"] < next_slot < length
    assert body["last_complete_period"] is None
    assert client.get("/periods", params={"before": 0}).json()["periods"] == []
    assert client.get("/periods", params={"limit": 0}).status_code == 422
    assert client.get("/periods", params={"limit": 1001}).status_code == 422


def new_head(node: Node, user: Wallet) -> None:
    """Mine a block and wait until the API's head poller has seen it."""
    advance_to(node, node.block_timestamp())
    head = node.block_number()
    deadline = time.monotonic() + 10
    while user.get("/health").json()["head_block"] < head:
        assert time.monotonic() < deadline, "the API did not see the new head"
        time.sleep(0.02)


def test_audit_progress_while_it_runs_and_the_last_result_after(
    traded: dict[str, Any], dso: Wallet, node: Node
) -> None:
    """GET /audit/report runs the audit in the API's background job; GET /audit/progress shows
    the run's phase meanwhile, then keeps the result with its block after the chain moves."""
    reports: list[dict[str, Any]] = []
    waiters = [
        threading.Thread(target=lambda: reports.append(dso.get("/audit/report").json()))
        for _ in range(2)
    ]
    new_head(node, dso)  # the last report is behind the head: the next one is a new run
    for waiter in waiters:
        waiter.start()
    seen: list[dict[str, Any]] = []
    while any(w.is_alive() for w in waiters):
        seen.append(dso.get("/audit/progress").json())
        time.sleep(0.01)
    report, again = reports
    assert again == report  # two requests during one run: one run, one answer
    assert report["ok"] is True, report
    running = [p["running"] for p in seen if p["running"] is not None]
    assert running, "no poll saw the run under way"
    assert {r["phase"] for r in running} <= {"reading events", "reading balances", "checking"}
    assert all(r["block"] == report["block"] and r["finished_at"] is None for r in running)
    assert len({r["started_at"] for r in running}) == 1
    after = dso.get("/audit/progress").json()
    assert after["running"] is None and after["last_error"] is None
    assert after["last"]["block"] == report["block"] and after["last"]["phase"] == "done"
    assert after["last"]["events_read"] == report["events_read"]
    assert after["last_report"] == report
    # The chain moves on: the last result stays, at its block.
    new_head(node, dso)
    later = dso.get("/audit/progress").json()
    assert later["head_block"] > report["block"] == later["last"]["block"]
    assert later["last_report"] == report
    assert traded["buyer"].get("/audit/progress").json()["code"] == "not_auditor"
