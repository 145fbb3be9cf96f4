"""Driving the test chain: one whole traded, metered, settled and indexed slot (the steps it is
made of are bench/chainops.py's, which the API benchmark shares)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from eth_account import Account

from api.client import EUR, Wallet
from bench.chainops import settle_imbalance_through, submit_reading, submit_span
from chain.devchain import advance_past_reading_deadline, close_gate
from chain.node import Node, Sender
from chain.signing import Reading, ReadingSpan
from gridshare.settings import Settings
from indexer.migrate import make_engine
from indexer.service import Indexer
from matcher.service import Matcher
from tests.apiserver import MATCHER_ACCOUNT, new_member

SELL_PRICE, BUY_PRICE = 100_000, 160_000


def index_once(node: Node, settings: Settings) -> None:
    Indexer(node, make_engine(settings.index_db_url), batch_blocks=500, confirmations=0).run_once()


def trade_metered_slot(
    client: httpx.Client, node: Node, settings: Settings, dso: Wallet
) -> dict[str, Any]:
    """A seller and a buyer, each with a meter; they trade 1,500 Wh in a slot of their own, the
    seller's meter shows 1,000 Wh export (short 500), the buyer's 2,000 Wh import (500 more)."""
    seller = new_member(client, dso, top_up=10 * EUR)
    buyer = new_member(client, dso, top_up=10 * EUR)
    meters = {}
    for i, w in enumerate((seller, buyer)):
        key = Account.create()
        meter_id = bytes([0xEE, i]) + secrets.token_bytes(30)
        r = dso.post(
            "/dso/meters",
            {"meter_id": "0x" + meter_id.hex(), "member": w.address, "signer": key.address},
        )
        assert r.status_code == 201, r.text
        meters[w.address] = (key, meter_id)
    slot = int(client.get("/market").json()["current_slot"]) + 4
    assert (
        seller.post(
            "/orders/direct", seller.direct_order(slot, "sell", 2_000, SELL_PRICE)
        ).status_code
        == 201
    )
    assert (
        buyer.post("/orders/direct", buyer.direct_order(slot, "buy", 1_500, BUY_PRICE)).status_code
        == 201
    )
    close_gate(node, slot)
    Matcher(node, Sender(str(node.w3.eth.accounts[MATCHER_ACCOUNT]))).run_once()
    advance_past_reading_deadline(node, slot)
    # The seller's meter signs its reading alone, the buyer's as a span (of this one slot).
    key, meter_id = meters[seller.address]
    submit_reading(node, key, meter_id, Reading(meter_id, slot, 0, 1_000, 1))
    key, meter_id = meters[buyer.address]
    submit_span(node, key, ReadingSpan(meter_id, slot, 1, ((2_000, 0),)))
    Matcher(node, Sender(str(node.w3.eth.accounts[MATCHER_ACCOUNT]))).run_once()
    settle_imbalance_through(node, slot)
    index_once(node, settings)
    settled = node.events(
        "ImbalanceSettlement",
        "ImbalanceSettled",
        from_block=node.manifest.deployed_at_block,
        argument_filters={"slot": slot},
    )
    return {
        "slot": slot,
        "seller": seller,
        "buyer": buyer,
        "imbalance": {str(e["args"]["member"]): e["args"] for e in settled},
    }
