"""The wallet API over a community deployed in the `sharing` mode (a real anvil, a slot settled
by the matcher from meter-signed readings, the API over real HTTP with its own index): the
market says how the community works, a member's bill shows what the community covered and what
it exported to the community, bill against BaU, and per slot its coverage (GET /sharing/slots);
trading endpoints answer 409 `sharing_mode`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.client import Wallet
from chain.devchain import free_port
from tests.api.chainops import index_once
from tests.apiserver import api_settings, serve
from tests.sharing import FLOWS, SharingCommunity, sharing_chain

FIGURES = ("consumption_wh", "covered_wh", "grid_draw_wh", "production_wh", "to_community_wh")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SharingCommunity, int]]:
    with sharing_chain(tmp_path_factory.mktemp("sharing-api")) as chain:
        community = SharingCommunity.with_members(chain, len(FLOWS))
        slot, _block = community.settle_slot(FLOWS)
        yield community, slot


@pytest.fixture(scope="module")
def api(
    shared: tuple[SharingCommunity, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    community, _slot = shared
    settings = api_settings(community.chain, free_port(), tmp_path_factory.mktemp("sharing-db"))
    index_once(community.node, settings)
    with (
        serve(settings, community.chain.network_id) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


def member(api: httpx.Client, community: SharingCommunity, index: int) -> Wallet:
    w = Wallet(api, community.keys[index])
    w.sign_in()
    return w


def bill(w: Wallet, slot: int) -> dict[str, Any]:
    r = w.get("/bills", params={"from_slot": slot, "to_slot": slot})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_the_market_says_the_community_shares(api: httpx.Client) -> None:
    body = api.get("/market").json()
    assert body["market_mode"] == "sharing"
    assert body["sharing_key"] == "dynamic"
    assert "SharingSettlement" in body["contracts"] and "OrderBook" not in body["contracts"]
    status = api.get("/audit/status").json()
    assert status["next_slot"] > status["first_slot"] and status["escrow_held"] == 0


def test_a_consumers_bill_shows_what_the_community_covered(
    api: httpx.Client, shared: tuple[SharingCommunity, int]
) -> None:
    community, slot = shared
    consumer = member(api, community, 1)  # FLOWS[1]: imports 700 Wh
    body = bill(consumer, slot)
    lines = {x["key"]: x["amount"] for x in body["lines"]}
    assert lines["import_wh"] == 700
    assert 0 < lines["bought_wh"] < 700  # E < D: the community covered part of it
    assert lines["energy_bought"] > 0 and lines["grid_energy"] > 0
    assert body["savings"] == body["bau_cost"] - body["net_cost"] > 0
    (only,) = body["slots"]
    assert (only["slot"], only["metered"], only["bought_wh"]) == (slot, True, lines["bought_wh"])


def test_a_producers_bill_shows_what_it_exported_to_the_community(
    api: httpx.Client, shared: tuple[SharingCommunity, int]
) -> None:
    community, slot = shared
    producer = member(api, community, 0)  # FLOWS[0]: exports 900 Wh
    body = bill(producer, slot)
    lines = {x["key"]: x["amount"] for x in body["lines"]}
    assert lines["export_wh"] == 900 and lines["sold_wh"] == 900  # E < D: all of it shared
    assert lines["energy_sold"] < 0 and lines["grid_credit"] == 0
    assert body["net_cost"] < body["bau_cost"] < 0  # earns more than at feed-in


def test_trading_endpoints_answer_sharing_mode(
    api: httpx.Client, shared: tuple[SharingCommunity, int]
) -> None:
    community, slot = shared
    w = member(api, community, 2)
    for response in (
        w.get("/orders"),
        w.get("/trades", params={"from_slot": slot, "to_slot": slot}),
        api.get(f"/slots/{slot}"),
    ):
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "sharing_mode"
    assert w.get("/wallet").status_code == 200  # the wallet itself answers as ever


def test_sharing_slots_give_each_slots_coverage_as_the_bill_counts_it(
    api: httpx.Client, shared: tuple[SharingCommunity, int]
) -> None:
    community, slot = shared
    for index, (imp, exp) in enumerate(FLOWS):
        w = member(api, community, index)
        r = w.get("/sharing/slots", params={"from_slot": slot - 1, "to_slot": slot})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["member"], body["from_slot"], body["to_slot"]) == (w.address, slot - 1, slot)
        (only,) = body["slots"]  # slot - 1 settled empty: no row for it
        assert only["slot"] == slot
        assert (only["consumption_wh"], only["production_wh"]) == (imp, exp)
        assert only["covered_wh"] + only["grid_draw_wh"] == imp
        assert only["to_community_wh"] + only["to_grid_wh"] == exp
        assert only["covered_wh"] <= only["allotment_wh"] or imp == 0
        assert {k: body["totals"][k] for k in FIGURES} == {k: only[k] for k in FIGURES}
        got = bill(w, slot)
        lines = {x["key"]: x["amount"] for x in got["lines"]}
        assert (only["covered_wh"], only["to_community_wh"]) == (
            lines["bought_wh"],
            lines["sold_wh"],
        )
        (billed,) = got["slots"]
        assert (only["net_cost"], only["bau_cost"], only["savings"]) == (
            billed["net_cost"],
            billed["bau_cost"],
            billed["savings"],
        )
    # E < D: the community's production is all shared, and covers part of the demand.
    everyone = [
        member(api, community, i).get("/sharing/slots", params={"from_slot": slot, "to_slot": slot})
        for i in range(len(FLOWS))
    ]
    rows = [r.json()["slots"][0] for r in everyone]
    assert (
        sum(r["covered_wh"] for r in rows) == sum(r["to_community_wh"] for r in rows) == 900 + 120
    )


def test_sharing_slots_need_a_member_and_a_range(api: httpx.Client) -> None:
    assert api.get("/sharing/slots", params={"period": 0}).status_code == 401
    stranger = Wallet(api)
    stranger.sign_in()
    r = stranger.get("/sharing/slots", params={"period": 0})
    assert r.status_code == 404 and r.json()["code"] == "not_member"
    assert stranger.get("/sharing/slots", params={"from_slot": 5}).status_code == 422
