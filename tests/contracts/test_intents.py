"""Signed intents carried into a slot's settlement (the batched path): the rulebook's example as
intents in all three modes, intents beside direct orders in one book, each holder's account
written once, and the tamper suite: every forged, replayed, foreign, expired, revoked, uncovered
or malformed intent reverts with its named error, and so does a slot out of order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from brownie import chain

from chain.intents import Intent as IntentMsg
from chain.intents import IntentBatch, SignedIntent, intent_typed_data
from chain.signing import sign_typed_data
from tests.contracts.conftest import EUR, MEMBER_KEYS
from tests.contracts.helpers import catch_up, clear_on_chain_book, reverts_with

BUY, SELL = 0, 1
PROSUMER, CONSUMER = 2, 1
EXAMPLE_BOUNDS = {"retail_price": 300_000, "feed_in_price": 100_000, "community_price": 250_000}
FEES = {"trade_fee_buy": 5_000, "trade_fee_sell": 4_000, "p2p_grid_fee": 40_000}
BUY_RATE = 5_000 + 40_000
SELL_FEE = 4_000


@pytest.fixture(scope="module")
def people(alice: Any, bob: Any, carol: Any, dave: Any) -> dict[str, Any]:
    return {
        "alice": (alice, PROSUMER),
        "bob": (bob, CONSUMER),
        "carol": (carol, PROSUMER),
        "dave": (dave, PROSUMER),
    }


def signed(
    dep: Any,
    name: str,
    account: Any,
    slot: int,
    side: str,
    energy: int,
    price: int,
    *,
    epoch: int = 0,
    deadline: int | None = None,
    chain_id: int | None = None,
    contract: str | None = None,
    key: str | None = None,
) -> SignedIntent:
    """`name`'s intent, signed with its test key under the Settlement's domain (or another)."""
    intent = IntentMsg(
        owner=account.address,
        slot=slot,
        side=side,
        energy_wh=energy,
        limit_price=price,
        epoch=epoch,
        deadline=deadline if deadline is not None else chain.time() + 86_400,
    )
    typed = intent_typed_data(
        intent, chain.id if chain_id is None else chain_id, contract or dep.settlement.address
    )
    return SignedIntent(intent, sign_typed_data(typed, key or MEMBER_KEYS[name]))


def example_intents(dep: Any, slot: int, who: dict[str, Any]) -> list[SignedIntent]:
    """The rulebook's example book as intents: alice buys 3000 @ 300000, bob buys 2000 @ 220000,
    carol sells 2500 @ 150000, dave sells 2000 @ 240000."""
    return [
        signed(dep, "alice", who["alice"], slot, "buy", 3000, 300_000),
        signed(dep, "bob", who["bob"], slot, "buy", 2000, 220_000),
        signed(dep, "carol", who["carol"], slot, "sell", 2500, 150_000),
        signed(dep, "dave", who["dave"], slot, "sell", 2000, 240_000),
    ]


def settle_batch(dep: Any, slot: int, batch: IntentBatch, matcher: Any) -> tuple[Any, Any]:
    """Clear the direct book plus `batch` as the matcher does and settle it."""
    catch_up(dep, slot, matcher)
    _book, clearing, sub = clear_on_chain_book(dep.community, dep.order_book, slot, batch)
    return clearing, dep.settlement.settleSlot(slot, *sub.args(), {"from": matcher})


def balances(dep: Any, *who: Any) -> list[int]:
    return [int(dep.token.balanceOf(a)) for a in who]


@pytest.fixture
def market_with(make_market: Any, people: Any, close_gate: Any) -> Callable[..., tuple[Any, int]]:
    """A fresh market in `mode` with fees, and a slot whose gate has just closed."""

    def _make(mode: str = "uniform", **extra: Any) -> tuple[Any, int]:
        dep = make_market(people, **EXAMPLE_BOUNDS, **FEES, mode=mode, **extra)
        slot = int(dep.community.currentSlot()) + 2
        close_gate(dep.community, slot)
        return dep, slot

    return _make


def names(alice: Any, bob: Any, carol: Any, dave: Any) -> dict[str, Any]:
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave}


@pytest.mark.parametrize(
    ("mode", "price"),
    [("uniform", 270_000), ("pay-as-bid", None), ("community", 250_000)],
)
def test_the_example_as_intents_settles_to_the_rulebook(
    market_with: Any,
    alice: Any,
    bob: Any,
    carol: Any,
    dave: Any,
    fee_account: Any,
    network_account: Any,
    matcher: Any,
    mode: str,
    price: int | None,
) -> None:
    dep, slot = market_with(mode)
    who = names(alice, bob, carol, dave)
    batch = IntentBatch.of(example_intents(dep, slot, who))
    holders = (alice, bob, carol, dave, fee_account, network_account)
    before = balances(dep, *holders)
    clearing, tx = settle_batch(dep, slot, batch, matcher)
    delta = [a - b for a, b in zip(balances(dep, *holders), before, strict=True)]
    assert clearing.clearing_price == price
    # Each member pays or receives exactly what the pure clearing says, plus fees.
    expected: dict[str, int] = {}
    name_of = {a.address.lower(): n for n, a in who.items()}
    owner_of = {s.intent.id: name_of[s.intent.owner.lower()] for s in batch.intents}
    for fill in clearing.fills.values():
        owner = owner_of[fill.order_id]
        if fill.side == "buy":
            expected[owner] = expected.get(owner, 0) - fill.amount - BUY_RATE * fill.filled_wh
        else:
            expected[owner] = expected.get(owner, 0) + fill.amount - SELL_FEE * fill.filled_wh
    assert delta[:4] == [expected.get(n, 0) for n in ("alice", "bob", "carol", "dave")]
    volume = clearing.volume_wh
    assert delta[4:] == [volume * (5_000 + SELL_FEE), volume * 40_000]
    assert sum(delta) == 0
    assert dep.token.balanceOf(dep.settlement) == 0  # a pass-through only
    ev = tx.events["SlotSettled"]
    assert [int(i) for i in ev["intentIds"]] == [s.intent.id for s in batch.intents]
    assert [int(w) for w in ev["intentWords"]] == [s.intent.order_word() for s in batch.intents]
    # The rest of each id's terms: an auditor recomputes every id from the event alone.
    assert [int(a) for a in ev["intentAux"]] == [s.intent.event_aux() for s in batch.intents]
    assert [
        IntentMsg.of_settled(slot, int(w), int(a)).id
        for w, a in zip(ev["intentWords"], ev["intentAux"], strict=True)
    ] == [int(i) for i in ev["intentIds"]]
    assert dep.settlement.minOrderWh() == dep.order_book.minOrderWh()
    # Every holder's account is written once: one Transfer per holder that traded.
    moved = [e for e in tx.events["Transfer"] if dep.settlement.address in (e["from"], e["to"])]
    touched = [e["from"] if e["to"] == dep.settlement.address else e["to"] for e in moved]
    assert len(touched) == len(set(touched))


def test_direct_orders_rank_before_intents_at_equal_price(
    market_with: Any, alice: Any, bob: Any, carol: Any, matcher: Any, close_gate: Any
) -> None:
    dep, _ = market_with("uniform")
    slot = int(dep.community.currentSlot()) + 2
    # bob's direct bid and alice's intent bid at the same price; carol offers enough for one.
    dep.order_book.placeOrder(slot, BUY, 1000, 200_000, {"from": bob})
    close_gate(dep.community, slot)
    batch = IntentBatch.of(
        [
            signed(dep, "alice", alice, slot, "buy", 1000, 200_000),
            signed(dep, "carol", carol, slot, "sell", 1000, 150_000),
        ]
    )
    clearing, tx = settle_batch(dep, slot, batch, matcher)
    alice_id = next(s.intent.id for s in batch.intents if s.intent.owner == alice.address)
    direct_id = int(dep.order_book.slotOrderIds(slot)[0])
    assert clearing.fills[direct_id].filled_wh == 1000  # the direct order (lower id) goes first
    assert clearing.fills[alice_id].filled_wh == 0
    fills = [int(f) for f in tx.events["SlotSettled"]["fills"]]
    assert fills[0] == 1000 and sorted(fills[1:]) == [0, 1000]


def test_a_member_buying_and_selling_is_written_once_with_its_net(
    market_with: Any, alice: Any, bob: Any, carol: Any, matcher: Any
) -> None:
    dep, slot = market_with("pay-as-bid")
    batch = IntentBatch.of(
        [
            signed(dep, "alice", alice, slot, "buy", 1000, 260_000),
            signed(dep, "alice", alice, slot, "sell", 500, 120_000),
            signed(dep, "bob", bob, slot, "buy", 500, 250_000),
            signed(dep, "carol", carol, slot, "sell", 1000, 130_000),
        ]
    )
    before = balances(dep, alice)
    clearing, tx = settle_batch(dep, slot, batch, matcher)
    mine = {s.intent.id for s in batch.intents if s.intent.owner == alice.address}
    net = 0
    for fill in clearing.fills.values():
        if fill.order_id not in mine:
            continue
        if fill.side == "buy":
            net -= fill.amount + BUY_RATE * fill.filled_wh
        else:
            net += fill.amount - SELL_FEE * fill.filled_wh
    assert net != 0
    assert balances(dep, alice)[0] - before[0] == net
    alice_moves = [e for e in tx.events["Transfer"] if alice.address in (e["from"], e["to"])]
    assert len(alice_moves) == 1


# ----------------------------------------------------------------------------------- tampering


@pytest.fixture
def example(market_with: Any, alice: Any, bob: Any, carol: Any, dave: Any) -> Any:
    dep, slot = market_with("uniform")
    return dep, slot, names(alice, bob, carol, dave)


def submit(dep: Any, slot: int, batch_args: Any, fills: list[int], matcher: Any) -> Any:
    catch_up(dep, slot, matcher)
    return dep.settlement.settleSlot(slot, 0, 270_000, batch_args, fills, [], {"from": matcher})


def honest(dep: Any, slot: int, intents: list[SignedIntent]) -> tuple[IntentBatch, list[int]]:
    batch = IntentBatch.of(intents)
    _b, _c, sub = clear_on_chain_book(dep.community, dep.order_book, slot, batch)
    return batch, sub.fills


def test_the_honest_example_batch_settles(example: Any, matcher: Any) -> None:
    dep, slot, who = example
    batch, fills = honest(dep, slot, example_intents(dep, slot, who))
    submit(dep, slot, batch.args(), fills, matcher)
    assert dep.settlement.clearingOf(slot)[0]


@pytest.mark.parametrize(
    "forgery",
    ["other-key", "other-chain", "other-contract", "other-slot", "other-epoch"],
)
def test_forged_or_foreign_intents_are_refused(example: Any, matcher: Any, forgery: str) -> None:
    dep, slot, who = example
    intents = example_intents(dep, slot, who)
    if forgery == "other-key":
        bad = signed(dep, "alice", who["alice"], slot, "buy", 3000, 300_000, key=MEMBER_KEYS["bob"])
    elif forgery == "other-chain":
        bad = signed(dep, "alice", who["alice"], slot, "buy", 3000, 300_000, chain_id=1)
    elif forgery == "other-contract":
        bad = signed(
            dep, "alice", who["alice"], slot, "buy", 3000, 300_000, contract=dep.order_book.address
        )
    elif forgery == "other-slot":  # signed for the next slot, replayed into this one
        moved = signed(dep, "alice", who["alice"], slot + 1, "buy", 3000, 300_000)
        bad = SignedIntent(replace(moved.intent, slot=slot), moved.signature)
    else:  # signed under an epoch that is not the member's
        bad = signed(dep, "alice", who["alice"], slot, "buy", 3000, 300_000, epoch=7)
    batch, fills = honest(dep, slot, [bad, *intents[1:]])
    with reverts_with("SettlementIntentBadSignature"):
        submit(dep, slot, batch.args(), fills, matcher)


def test_a_revoked_intent_no_longer_verifies(example: Any, matcher: Any) -> None:
    dep, slot, who = example
    intents = example_intents(dep, slot, who)
    tx = dep.settlement.revokeIntents({"from": who["alice"]})
    assert tx.events["IntentsRevoked"]["epoch"] == 1
    assert dep.settlement.intentEpoch(who["alice"]) == 1
    batch, fills = honest(dep, slot, intents)
    with reverts_with("SettlementIntentBadSignature"):
        submit(dep, slot, batch.args(), fills, matcher)
    resigned = signed(dep, "alice", who["alice"], slot, "buy", 3000, 300_000, epoch=1)
    batch, fills = honest(dep, slot, [resigned, *intents[1:]])
    tx = submit(dep, slot, batch.args(), fills, matcher)
    # The event names the epoch each intent was verified under (alice's 1, the others' 0).
    aux = tx.events["SlotSettled"]["intentAux"]
    assert [int(a) >> 64 for a in aux] == [s.intent.epoch for s in batch.intents]
    assert sorted(int(a) >> 64 for a in aux) == [0] * (len(aux) - 1) + [1]


def test_a_revocation_outlives_an_exit_and_only_the_settlement_moves_an_epoch(
    example: Any, dso: Any, matcher: Any
) -> None:
    """The epoch sits in Community's member record beside the role (one storage read per holder
    at settlement). It survives the member leaving and joining again, so an intent revoked
    before the exit stays refused after the return; only the Settlement (INTENTS_ROLE) moves it."""
    dep, slot, who = example
    c, alice = dep.community, who["alice"]
    intents = example_intents(dep, slot, who)
    with reverts_with("AccessControlUnauthorizedAccount"):
        c.nextIntentEpoch(alice, {"from": alice})
    with reverts_with("AccessControlUnauthorizedAccount"):
        c.nextIntentEpoch(alice, {"from": dso})
    dep.settlement.revokeIntents({"from": alice})
    c.grantRole(c.MEMBERSHIP_ROLE(), dso, {"from": dso})  # as Membership does
    c.beginExit(alice, {"from": dso})
    assert c.intentEpochOf(alice) == 1
    c.completeExit(alice, {"from": dso})
    assert c.memberRole(alice) == 0 and c.intentEpochOf(alice) == 1
    c.registerMember(alice, PROSUMER, 0, {"from": dso})
    assert dep.settlement.intentEpoch(alice) == 1
    assert [list(x) for x in c.intentHolders([alice, who["bob"]])] == [[PROSUMER, CONSUMER], [1, 0]]
    batch, fills = honest(dep, slot, intents)
    with reverts_with("SettlementIntentBadSignature"):
        submit(dep, slot, batch.args(), fills, matcher)


def test_an_intent_included_twice_or_out_of_id_order_is_refused(example: Any, matcher: Any) -> None:
    dep, slot, who = example
    batch, fills = honest(dep, slot, example_intents(dep, slot, who))
    words, sigs, members = batch.args()
    # The first intent twice (its fill entry duplicated): ids must strictly ascend.
    twice = (words[:2] + words, sigs[:2] + sigs, members)
    with reverts_with("SettlementIntentsNotAscending"):
        submit(dep, slot, twice, [fills[0], *fills], matcher)
    # Two intents swapped.
    swapped = (words[2:4] + words[0:2] + words[4:], sigs[2:4] + sigs[0:2] + sigs[4:], members)
    with reverts_with("SettlementIntentsNotAscending"):
        submit(dep, slot, swapped, [fills[1], fills[0], *fills[2:]], matcher)


def test_an_expired_intent_is_refused(example: Any, matcher: Any) -> None:
    dep, slot, who = example
    intents = example_intents(dep, slot, who)
    late = signed(dep, "bob", who["bob"], slot, "buy", 2000, 220_000, deadline=chain.time() - 1)
    batch, fills = honest(dep, slot, [intents[0], late, *intents[2:]])
    with reverts_with("SettlementIntentExpired"):
        submit(dep, slot, batch.args(), fills, matcher)


def test_an_uncovered_intent_is_refused(example: Any, matcher: Any, dso: Any) -> None:
    dep, slot, who = example
    # alice's 3000 Wh at 270000 + 45000 fees cost 0.945 €: leave her 0.5 €.
    keep = int(dep.token.balanceOf(who["alice"])) - EUR // 2
    dep.token.redeem(keep, b"\x01" * 32, {"from": who["alice"]})
    batch, fills = honest(dep, slot, example_intents(dep, slot, who))
    with reverts_with("SettlementIntentUncovered"):
        submit(dep, slot, batch.args(), fills, matcher)


def test_a_consumer_cannot_sell_and_a_non_member_cannot_trade(
    example: Any, matcher: Any, erin: Any
) -> None:
    dep, slot, who = example
    intents = example_intents(dep, slot, who)
    bob_sells = signed(dep, "bob", who["bob"], slot, "sell", 500, 150_000)  # bob is a consumer
    batch, fills = honest(dep, slot, [*intents, bob_sells])
    with reverts_with("SettlementIntentRoleCannotSell"):
        submit(dep, slot, batch.args(), fills, matcher)
    stranger = signed(dep, "erin", erin, slot, "buy", 500, 300_000)  # erin is no member here
    batch, fills = honest(dep, slot, [*intents, stranger])
    with reverts_with("SettlementIntentNotMember"):
        submit(dep, slot, batch.args(), fills, matcher)


def test_terms_outside_the_rulebook_are_refused(example: Any, matcher: Any) -> None:
    dep, slot, who = example
    intents = example_intents(dep, slot, who)
    greedy = signed(dep, "alice", who["alice"], slot, "buy", 3000, 300_001)  # above retail
    batch, fills = honest(dep, slot, [greedy, *intents[1:]])
    with reverts_with("SettlementIntentPriceOutOfBounds"):
        submit(dep, slot, batch.args(), fills, matcher)


def test_malformed_batches_are_refused(example: Any, matcher: Any) -> None:
    dep, slot, who = example
    batch, fills = honest(dep, slot, example_intents(dep, slot, who))
    words, sigs, members = batch.args()
    cancelled = [words[0] | (1 << 241), *words[1:]]
    with reverts_with("SettlementIntentMalformed"):
        submit(dep, slot, (cancelled, sigs, members), fills, matcher)
    # The member index of the first intent pointing at another holder.
    other = (words[1] & ((1 << 64) - 1)) | (((words[1] >> 64) + 1) % len(members) << 64)
    with reverts_with("SettlementIntentMalformed"):
        submit(dep, slot, ([words[0], other, *words[2:]], sigs, members), fills, matcher)
    with reverts_with("SettlementMembersNotAscending"):
        submit(dep, slot, (words, sigs, list(reversed(members))), fills, matcher)
    with reverts_with("SettlementBatchMalformed"):
        submit(dep, slot, (words, sigs[:-1], members), fills, matcher)


def test_non_clearing_results_with_intents_are_refused(example: Any, matcher: Any) -> None:
    dep, slot, who = example
    batch, fills = honest(dep, slot, example_intents(dep, slot, who))
    over = list(fills)
    over[over.index(max(over))] += 1
    with reverts_with("SettlementOverFill"):
        submit(dep, slot, batch.args(), over, matcher)
    with reverts_with("SettlementFillsLength"):  # an entry of the book left out
        submit(dep, slot, batch.args(), fills[:-1], matcher)
    catch_up(dep, slot, matcher)
    with reverts_with("SettlementClearingPrice"):
        dep.settlement.settleSlot(slot, 0, 260_000, batch.args(), fills, [], {"from": matcher})


def test_a_direct_order_cannot_be_left_out(
    example: Any, matcher: Any, carol: Any, close_gate: Any
) -> None:
    dep, _, who = example
    slot = int(dep.community.currentSlot()) + 2
    dep.order_book.placeOrder(slot, SELL, 1000, 120_000, {"from": carol})
    close_gate(dep.community, slot)
    batch = IntentBatch.of(example_intents(dep, slot, who))
    _b, _c, sub = clear_on_chain_book(dep.community, dep.order_book, slot, batch)
    assert sub.fills[0] == 1000  # the cheapest offer is the direct one, and it is filled
    catch_up(dep, slot, matcher)
    # Leaving it out: the book the contract reads still has it, so the fills do not line up.
    with reverts_with("SettlementFillsLength"):
        dep.settlement.settleSlot(slot, *sub.args()[:3], sub.fills[1:], [], {"from": matcher})
    # Giving it nothing while the intents trade breaks the priority walk.
    starved = [0, *sub.fills[1:]]
    with reverts_with("SettlementVolumeMismatch"):
        dep.settlement.settleSlot(slot, *sub.args()[:3], starved, [], {"from": matcher})


def test_slots_settle_in_order_and_once(example: Any, matcher: Any) -> None:
    dep, slot, who = example
    first = int(dep.settlement.nextSlot())
    assert slot > first
    with reverts_with("SettlementOutOfOrder"):
        dep.settlement.settleSlot(slot, 0, 0, ([], [], []), [], [], {"from": matcher})
    catch_up(dep, slot, matcher)
    batch, fills = honest(dep, slot, example_intents(dep, slot, who))
    submit(dep, slot, batch.args(), fills, matcher)
    assert dep.settlement.nextSlot() == slot + 1
    with reverts_with("SettlementAlreadySettled"):
        submit(dep, slot, batch.args(), fills, matcher)
