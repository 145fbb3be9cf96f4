"""Trade settlement: the rulebook's worked example and the three clearing modes, settled through the
contracts with exact token movements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from chain.intents import EMPTY_BATCH
from chain.submission import Submission
from market.clearing import Clearing
from tests.contracts.conftest import EUR
from tests.contracts.helpers import catch_up, clear_on_chain_book, reverts_with

BUY, SELL = 0, 1
PROSUMER, CONSUMER = 2, 1
# Wide enough bounds for the rulebook's example prices (150000 .. 300000 n€/Wh).
EXAMPLE_BOUNDS = {"retail_price": 300_000, "feed_in_price": 100_000, "community_price": 250_000}
NO_FEES = {"trade_fee_buy": 0, "trade_fee_sell": 0, "p2p_grid_fee": 0}
FEES = {"trade_fee_buy": 5_000, "trade_fee_sell": 4_000, "p2p_grid_fee": 40_000}


@pytest.fixture(scope="module")
def people(alice: Any, bob: Any, carol: Any, dave: Any) -> dict[str, Any]:
    return {
        "alice": (alice, PROSUMER),
        "bob": (bob, CONSUMER),
        "carol": (carol, PROSUMER),
        "dave": (dave, PROSUMER),
    }


def place_example(dep: Any, slot: int, alice: Any, bob: Any, carol: Any, dave: Any) -> None:
    """Bids #1 buy 3000 Wh @ 300000 (alice), #2 buy 2000 Wh @ 220000 (bob);
    offers #3 sell 2500 Wh @ 150000 (carol), #4 sell 2000 Wh @ 240000 (dave)."""
    dep.order_book.placeOrder(slot, BUY, 3000, 300_000, {"from": alice})
    dep.order_book.placeOrder(slot, BUY, 2000, 220_000, {"from": bob})
    dep.order_book.placeOrder(slot, SELL, 2500, 150_000, {"from": carol})
    dep.order_book.placeOrder(slot, SELL, 2000, 240_000, {"from": dave})


def balances(dep: Any, *who: Any) -> list[int]:
    return [int(dep.token.balanceOf(a)) for a in who]


def settle(dep: Any, slot: int, matcher: Any, close_gate: Any) -> Any:
    close_gate(dep.community, slot)
    catch_up(dep, slot, matcher)  # slots settle in order
    _, clearing, sub = clear_on_chain_book(dep.community, dep.order_book, slot)
    tx = dep.settlement.settleSlot(slot, *sub.args(), {"from": matcher})
    return clearing, sub, tx


@dataclass(frozen=True)
class ExampleRun:
    """The rulebook's example book settled in a fresh market. `delta`: balance changes of alice
    (#1), bob (#2), carol (#3), dave (#4), the DSO fee account and the DSO network account."""

    dep: Any
    slot: int
    clearing: Clearing
    sub: Submission
    tx: Any
    delta: list[int]


@pytest.fixture
def run_example(
    make_market: Any,
    people: Any,
    alice: Any,
    bob: Any,
    carol: Any,
    dave: Any,
    fee_account: Any,
    network_account: Any,
    matcher: Any,
    close_gate: Any,
) -> Callable[..., ExampleRun]:
    def _run(**tariff: Any) -> ExampleRun:
        dep = make_market(people, **EXAMPLE_BOUNDS, **tariff)
        slot = int(dep.community.currentSlot()) + 2
        holders = (alice, bob, carol, dave, fee_account, network_account)
        before = balances(dep, *holders)
        place_example(dep, slot, alice, bob, carol, dave)
        assert list(dep.order_book.slotOrderIds(slot)) == [1, 2, 3, 4]
        clearing, sub, tx = settle(dep, slot, matcher, close_gate)
        delta = [a - b for a, b in zip(balances(dep, *holders), before, strict=True)]
        assert sum(delta) == 0  # settlement moves tokens, it never creates or destroys them
        return ExampleRun(dep, slot, clearing, sub, tx, delta)

    return _run


def test_worked_example_uniform_settles_to_the_rulebook_numbers(
    run_example: Callable[..., ExampleRun],
) -> None:
    run = run_example(**NO_FEES, mode="uniform")
    assert run.clearing.clearing_price == 270_000
    assert run.sub.fills == [3000, 0, 2500, 500]
    # #1 pays 0.81 €, #2 is unfilled (escrow fully released), #3 and #4 receive.
    assert run.delta == [-810_000_000, 0, 675_000_000, 135_000_000, 0, 0]
    ev = run.tx.events["SlotSettled"]
    assert (ev["slot"], ev["mode"], ev["price"], ev["volumeWh"]) == (run.slot, 0, 270_000, 3000)
    assert ev["tradeValue"] == 810_000_000
    assert list(ev["fills"]) == [3000, 0, 2500, 500]
    assert [int(v) for v in run.dep.settlement.clearingOf(run.slot)] == [1, 0, 270_000, 3000]
    assert run.dep.order_book.slotEscrow(run.slot) == 0
    assert run.dep.token.balanceOf(run.dep.order_book) == 0


def test_worked_example_with_fees_pays_the_dso_accounts(
    run_example: Callable[..., ExampleRun],
) -> None:
    run = run_example(**FEES, mode="uniform")
    # #1 escrowed 3000 * (300000 + 5000 + 40000); #2 escrowed 2000 * (220000 + 45000).
    assert run.tx.events["SlotClosed"]["escrowReleased"] == 3000 * 345_000 + 2000 * 265_000
    assert run.delta == [
        -(810_000_000 + 3000 * (5_000 + 40_000)),  # price + buy fee + p2p network charge
        0,
        675_000_000 - 2500 * 4_000,  # price − sell fee
        135_000_000 - 500 * 4_000,
        3000 * 5_000 + 3000 * 4_000,  # platform fees: buy side + sell side
        3000 * 40_000,  # p2p network charge
    ]
    ev = run.tx.events["SlotSettled"]
    assert (ev["platformFees"], ev["networkFees"]) == (27_000_000, 120_000_000)


def test_pay_as_bid_pays_each_pair_at_the_bid(run_example: Callable[..., ExampleRun]) -> None:
    run = run_example(**NO_FEES, mode="pay-as-bid")
    assert run.clearing.clearing_price is None and run.sub.price == 0
    assert len(run.sub.pairs) == 2  # (1,3,2500), (1,4,500), both at bid #1's 300000
    assert run.delta == [-300_000 * 3000, 0, 300_000 * 2500, 300_000 * 500, 0, 0]
    assert run.tx.events["SlotSettled"]["price"] == 0


def test_community_mode_pro_rata_at_the_aggregator_price(
    run_example: Callable[..., ExampleRun],
) -> None:
    # pc = 250000: eligible bids #1 (300000); offers #3 (150000) and #4 (240000).
    # S = 4500, D = 3000, V = 3000: #3 gets floor(2500*3000/4500) = 1666,
    # #4 floor(2000*3000/4500) = 1333, leftover 1 Wh to the lowest id (#3): 1667 + 1333 = 3000.
    run = run_example(**NO_FEES, mode="community")
    assert run.sub.price == 250_000
    assert run.sub.fills == [3000, 0, 1667, 1333]
    assert run.delta == [-250_000 * 3000, 0, 250_000 * 1667, 250_000 * 1333, 0, 0]


def test_empty_slot_and_slot_that_does_not_cross(
    make_market: Any, people: Any, alice: Any, carol: Any, matcher: Any, close_gate: Any
) -> None:
    dep = make_market(people, **EXAMPLE_BOUNDS, **NO_FEES, mode="uniform")
    empty = int(dep.community.currentSlot()) + 2
    close_gate(dep.community, empty)
    catch_up(dep, empty, matcher)  # slots settle in order
    tx = dep.settlement.settleSlot(empty, 0, 0, EMPTY_BATCH.args(), [], [], {"from": matcher})
    assert tx.events["SlotSettled"]["volumeWh"] == 0
    assert dep.order_book.slotSettled(empty)

    slot = int(dep.community.currentSlot()) + 2
    before = balances(dep, alice, carol)
    dep.order_book.placeOrder(slot, BUY, 1000, 150_000, {"from": alice})
    dep.order_book.placeOrder(slot, SELL, 1000, 160_000, {"from": carol})
    clearing, sub, tx = settle(dep, slot, matcher, close_gate)
    assert clearing.volume_wh == 0 and sub.price == 0
    assert balances(dep, alice, carol) == before  # escrow returned in full
    assert dep.token.balanceOf(dep.order_book) == 0


def test_cancelled_orders_are_skipped_and_not_refunded_twice(
    make_market: Any, people: Any, alice: Any, bob: Any, carol: Any, matcher: Any, close_gate: Any
) -> None:
    dep = make_market(people, **EXAMPLE_BOUNDS, **FEES, mode="uniform")
    slot = int(dep.community.currentSlot()) + 2
    start = balances(dep, alice, bob, carol)
    tx = dep.order_book.placeOrder(slot, BUY, 1000, 250_000, {"from": alice})
    dep.order_book.placeOrder(slot, BUY, 1000, 200_000, {"from": bob})
    dep.order_book.placeOrder(slot, SELL, 1500, 150_000, {"from": carol})
    dep.order_book.cancelOrder(tx.return_value, {"from": alice})
    assert balances(dep, alice)[0] == start[0]
    clearing, sub, _ = settle(dep, slot, matcher, close_gate)
    assert sub.fills == [0, 1000, 1000]
    assert clearing.clearing_price == 175_000
    end = balances(dep, alice, bob, carol)
    assert end[0] == start[0]
    assert start[1] - end[1] == 1000 * (175_000 + 45_000)
    assert end[2] - start[2] == 1000 * (175_000 - 4_000)


def test_fifteen_minute_slots_settle_too(
    make_market: Any,
    people: Any,
    alice: Any,
    carol: Any,
    matcher: Any,
    close_gate: Any,
    settings: Any,
) -> None:
    quarter = settings.model_copy(update={"slot_seconds": 900, "gate_closure_seconds": 120})
    dep = make_market(people, settings=quarter, **EXAMPLE_BOUNDS, **NO_FEES, mode="uniform")
    assert dep.community.slotSeconds() == 900
    slot = int(dep.community.currentSlot()) + 2
    dep.order_book.placeOrder(slot, BUY, 400, 200_000, {"from": alice})
    dep.order_book.placeOrder(slot, SELL, 300, 180_000, {"from": carol})
    # Slots settle in order: settle every earlier slot (the one before closes its gate first), so
    # the refusal is the open gate's, not SettlementOutOfOrder.
    close_gate(dep.community, slot - 1)
    catch_up(dep, slot, matcher)
    with reverts_with("OrderBookGateOpen"):
        dep.settlement.settleSlot(
            slot, 0, 190_000, EMPTY_BATCH.args(), [300, 300], [], {"from": matcher}
        )
    clearing, sub, _ = settle(dep, slot, matcher, close_gate)
    assert (clearing.clearing_price, sub.fills) == (190_000, [300, 300])


def test_total_supply_is_unchanged_by_settlement(run_example: Callable[..., ExampleRun]) -> None:
    run = run_example(**FEES, mode="uniform")
    assert run.dep.token.totalSupply() == 4 * 100 * EUR  # the four members' top-ups, nothing more
