"""The matcher carrying signed intents from the pool into each slot's settlement, on a real
ganache and a real SQLite pool: what it includes, what it leaves out and why (the member sees the
reason in the pool), how a forged intent that reached the pool is dropped, and how a restarted
matcher records what an already settled slot carried."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.codec import ROLE_CODES
from chain.intents import Intent, SignedIntent, intent_typed_data
from chain.node import Node, Sender
from chain.signing import sign_typed_data
from gridshare.settings import Settings
from intents.pool import IntentPool
from matcher.service import Matcher
from tests.matcher.helpers import DSO, EUR, MEMBERS, Market

FAR = 2**40  # a deadline beyond the test


@pytest.fixture(scope="module")
def keyed(market: Market, node: Node) -> dict[str, LocalAccount]:
    """Members with keys (the node's own accounts cannot sign typed data here): two prosumers
    with 100 €, a prosumer with 0.05 € and a consumer with 100 €."""
    people = {
        "pia": (Account.from_key("0x" + "51" * 32), "prosumer", 100 * EUR),
        "quinn": (Account.from_key("0x" + "52" * 32), "prosumer", 100 * EUR),
        "ravi": (Account.from_key("0x" + "53" * 32), "prosumer", EUR // 20),
        "sam": (Account.from_key("0x" + "54" * 32), "consumer", 100 * EUR),
    }
    for name, (account, role, top_up) in people.items():
        market.dso_call("Community", "registerMember", account.address, ROLE_CODES[role], 0)
        ref = f"intent-test-{name}".encode().ljust(32, b"\0")
        market.dso_call("EnergyToken", "topUp", account.address, top_up, ref)
    node.send_value(Sender(market.accounts[DSO]), people["quinn"][0].address, 10**18)
    return {name: account for name, (account, _, _) in people.items()}


@pytest.fixture
def pool(tmp_path: Path) -> IntentPool:
    return IntentPool(f"sqlite:///{tmp_path / 'intents.sqlite'}")


@pytest.fixture
def matcher(node: Node, settings: Settings, pool: IntentPool) -> Matcher:
    assert settings.matcher is not None
    m = Matcher(node, Sender(settings.matcher), pool)
    m.run_once()  # whatever earlier tests left due
    return m


def sign(
    node: Node, who: LocalAccount, slot: int, side: str, wh: int, price: int, **terms: int
) -> SignedIntent:
    intent = Intent(
        who.address,
        slot,
        side,
        wh,
        price,
        terms.get("epoch", 0),
        terms.get("deadline", FAR),
    )
    settlement = node.manifest.contracts["Settlement"]
    typed = intent_typed_data(intent, node.manifest.chain_id, settlement)
    return SignedIntent(intent, sign_typed_data(typed, who.key))


def status(pool: IntentPool, s: SignedIntent) -> tuple[str, str | None]:
    got = pool.get(s.intent.id)
    assert got is not None
    return got.status, got.reason


def test_intents_and_a_direct_order_settle_in_one_book(
    market: Market, matcher: Matcher, node: Node, pool: IntentPool, keyed: dict[str, LocalAccount]
) -> None:
    slot = market.open_slot()
    now = market.now()
    buy = sign(node, keyed["pia"], slot, "buy", 2000, 180_000)
    small = sign(node, keyed["sam"], slot, "buy", 500, 170_000)
    for s in (buy, small):
        assert pool.add(s, now)
    market.place(MEMBERS[1], slot, "sell", 2000, 90_000)
    pia_before = market.balance(keyed["pia"].address)
    market.close_gate(slot)

    (result,) = [r for r in matcher.run_once() if r.slot == slot]

    assert (result.intents, result.left_out, result.orders) == (2, 0, 3)
    # The direct offer (2000 Wh at 90000) meets pia's bid (180000) first: p = 135000.
    assert (result.price, result.volume_wh) == (135_000, 2000)
    assert status(pool, buy) == ("included", None) and status(pool, small) == ("included", None)
    rate = 5_000 + 40_000  # default tariff: trade_fee_buy + p2p_grid_fee
    assert pia_before - market.balance(keyed["pia"].address) == 2000 * (135_000 + rate)


def test_what_the_contract_would_refuse_is_left_out_with_its_reason(
    market: Market, matcher: Matcher, node: Node, pool: IntentPool, keyed: dict[str, LocalAccount]
) -> None:
    slot = market.open_slot()
    now = market.now()
    settlement = node.contract("Settlement")
    node.transact(
        settlement.functions.revokeIntents(),
        Sender.from_key("0x" + keyed["quinn"].key.hex().removeprefix("0x")),
    )
    ok = sign(node, keyed["pia"], slot, "sell", 1000, 100_000)
    cases = {
        "uncovered": sign(node, keyed["ravi"], slot, "buy", 1000, 200_000),  # ravi has 0.05 €
        "revoked": sign(node, keyed["quinn"], slot, "sell", 500, 100_000),  # signed at epoch 0
        "role_cannot_sell": sign(node, keyed["sam"], slot, "sell", 500, 100_000),
        "expired": sign(node, keyed["pia"], slot, "buy", 500, 150_000, deadline=now + 1),
        "price_out_of_bounds": sign(node, keyed["pia"], slot, "buy", 500, 10**6),
    }
    for s in (ok, *cases.values()):
        assert pool.add(s, now)
    market.close_gate(slot)

    (result,) = [r for r in matcher.run_once() if r.slot == slot]

    assert (result.intents, result.left_out) == (1, len(cases))
    assert status(pool, ok) == ("included", None)
    for reason, s in cases.items():
        assert status(pool, s) == ("left_out", reason), reason


def test_a_forged_intent_in_the_pool_is_dropped_and_the_slot_still_settles(
    market: Market, matcher: Matcher, node: Node, pool: IntentPool, keyed: dict[str, LocalAccount]
) -> None:
    slot = market.open_slot()
    now = market.now()
    good = sign(node, keyed["pia"], slot, "sell", 800, 100_000)
    real = sign(node, keyed["quinn"], slot, "buy", 800, 150_000, epoch=1)
    forged = SignedIntent(real.intent, sign(node, keyed["sam"], slot, "buy", 1, 1).signature)
    assert pool.add(good, now) and pool.add(forged, now)
    market.close_gate(slot)

    (result,) = [r for r in matcher.run_once() if r.slot == slot]

    assert (result.intents, result.left_out) == (1, 1)
    assert status(pool, forged) == ("left_out", "bad_signature")
    assert status(pool, good) == ("included", None)


def test_a_restarted_matcher_records_what_a_settled_slot_carried(
    market: Market,
    node: Node,
    settings: Settings,
    pool: IntentPool,
    keyed: dict[str, LocalAccount],
    tmp_path: Path,
) -> None:
    assert settings.matcher is not None
    Matcher(node, Sender(settings.matcher), pool).run_once()
    slot = market.open_slot()
    now = market.now()
    carried = sign(node, keyed["pia"], slot, "sell", 600, 100_000)
    late = sign(node, keyed["sam"], slot, "buy", 600, 150_000)
    assert pool.add(carried, now)
    # The first matcher settled the slot with only `carried`, then died before writing the
    # outcome to the pool (its copy of the pool here, so the shared one stays pending).
    other = IntentPool(f"sqlite:///{tmp_path / 'other.sqlite'}")
    assert other.add(carried, now)
    market.close_gate(slot)
    Matcher(node, Sender(settings.matcher), other).run_once()
    assert pool.add(late, now)  # arrived after the slot was settled
    assert status(pool, carried) == ("pending", None)

    Matcher(node, Sender(settings.matcher), pool).settle(slot)

    assert status(pool, carried) == ("included", None)
    assert status(pool, late) == ("left_out", "not_included")
