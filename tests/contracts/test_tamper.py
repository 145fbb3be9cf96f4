"""The tamper suite: for each rule the Settlement contract enforces, a submitted clearing that
breaks it reverts with the rule's named custom error. Each case starts from the rulebook's correct
clearing of the same book and breaks exactly one thing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chain.codec import pack_pair, pack_transfer
from chain.intents import EMPTY_BATCH
from tests.contracts.helpers import catch_up, clear_on_chain_book, reverts_with

BUY, SELL = 0, 1
UNIFORM, PAY_AS_BID, COMMUNITY = 0, 1, 2
BOUNDS = {"retail_price": 300_000, "feed_in_price": 100_000, "community_price": 250_000}
# Book indices (placement order) of the tamper book, see `place_book`.
B1, B2, B3, CANCELLED, S1, S2, S3 = range(7)


def place_book(dep: Any, slot: int, alice: Any, bob: Any, carol: Any, dave: Any, erin: Any) -> None:
    """bids: B1 3000@300000, B2 2000@220000, B3 1000@260000, a cancelled 500@280000;
    offers: S1 2500@150000, S2 2000@240000, S3 1000@240000 (same price as S2, later id).
    Uniform walk: (B1,S1,2500) (B1,S2,500) (B3,S2,1000); then B2 220000 < S2 240000: stop.
    b* = 260000, a* = 240000, p = 250000."""
    ob = dep.order_book
    ob.placeOrder(slot, BUY, 3000, 300_000, {"from": alice})
    ob.placeOrder(slot, BUY, 2000, 220_000, {"from": bob})
    ob.placeOrder(slot, BUY, 1000, 260_000, {"from": erin})
    cancelled = ob.placeOrder(slot, BUY, 500, 280_000, {"from": bob}).return_value
    ob.placeOrder(slot, SELL, 2500, 150_000, {"from": carol})
    ob.placeOrder(slot, SELL, 2000, 240_000, {"from": dave})
    ob.placeOrder(slot, SELL, 1000, 240_000, {"from": alice})
    ob.cancelOrder(cancelled, {"from": bob})


def _market(mode: str) -> Callable[..., Any]:
    @pytest.fixture(scope="module")
    def fixture(
        make_market: Any,
        alice: Any,
        bob: Any,
        carol: Any,
        dave: Any,
        erin: Any,
        close_gate: Any,
        matcher: Any,
    ) -> tuple[Any, int]:
        people = {
            "alice": (alice, 2),
            "bob": (bob, 1),
            "carol": (carol, 2),
            "dave": (dave, 2),
            "erin": (erin, 1),
        }
        dep = make_market(people, **BOUNDS, mode=mode)
        slot = int(dep.community.currentSlot()) + 2
        place_book(dep, slot, alice, bob, carol, dave, erin)
        close_gate(dep.community, slot)
        catch_up(dep, slot, matcher)  # slots settle in order: `slot` is next
        return dep, slot

    return fixture


uniform_market = _market("uniform")
pab_market = _market("pay-as-bid")
community_market = _market("community")


def submit(
    dep: Any, slot: int, matcher: Any, mode: int, price: int, fills: list[int], pairs: list[int]
) -> Any:
    return dep.settlement.settleSlot(
        slot, mode, price, EMPTY_BATCH.args(), fills, pairs, {"from": matcher}
    )


def correct(dep: Any, slot: int) -> tuple[int, list[int], list[int]]:
    _, _, sub = clear_on_chain_book(dep.community, dep.order_book, slot)
    return sub.price, list(sub.fills), list(sub.pairs)


def test_the_correct_clearings_are_what_the_docstring_says(
    uniform_market: Any, pab_market: Any, community_market: Any, matcher: Any
) -> None:
    dep, slot = uniform_market
    price, fills, pairs = correct(dep, slot)
    assert (price, fills, pairs) == (250_000, [3000, 0, 1000, 0, 2500, 1500, 0], [])
    submit(dep, slot, matcher, UNIFORM, price, fills, pairs)

    dep, slot = pab_market
    price, fills, pairs = correct(dep, slot)
    assert pairs == [pack_pair(B1, S1, 2500), pack_pair(B1, S2, 500), pack_pair(B3, S2, 1000)]
    submit(dep, slot, matcher, PAY_AS_BID, price, fills, pairs)

    dep, slot = community_market
    price, fills, pairs = correct(dep, slot)
    # D = 4000 (B1, B3); S = 5500: floors 1818, 1454, 727 (sum 3999), leftover 1 Wh to S1.
    assert (price, fills) == (250_000, [3000, 0, 1000, 0, 1819, 1454, 727])
    submit(dep, slot, matcher, COMMUNITY, price, fills, pairs)


def _moved(fills: list[int], changes: dict[int, int]) -> list[int]:
    out = list(fills)
    for index, delta in changes.items():
        out[index] += delta
    return out


WALK_FILL_TAMPERS = [
    # (rule, changes to the correct fills, expected error)
    ("no over-fill", {B1: +1, S3: +1}, "SettlementOverFill"),
    ("cancelled orders get nothing", {CANCELLED: +1, S3: +1}, "SettlementCancelledFilled"),
    ("bought == sold", {B1: -1}, "SettlementVolumeMismatch"),
    ("priority by price", {B3: -1000, B2: +1000}, "SettlementPriorityViolated"),
    ("priority by id at equal price", {S2: -1000, S3: +1000}, "SettlementPriorityViolated"),
    ("at most one partial order per side", {B1: -1, B2: +1}, "SettlementTwoPartials"),
    ("no crossing pair left unmatched", {B3: -500, S2: -500}, "SettlementCrossingLeft"),
]


@pytest.mark.parametrize(
    "rule,changes,error", WALK_FILL_TAMPERS, ids=[t[0] for t in WALK_FILL_TAMPERS]
)
def test_uniform_fill_tampers(
    uniform_market: Any, matcher: Any, rule: str, changes: dict[int, int], error: str
) -> None:
    dep, slot = uniform_market
    price, fills, _ = correct(dep, slot)
    with reverts_with(error):
        submit(dep, slot, matcher, UNIFORM, price, _moved(fills, changes), [])


@pytest.mark.parametrize(
    "rule,changes,error", WALK_FILL_TAMPERS, ids=[t[0] for t in WALK_FILL_TAMPERS]
)
def test_pay_as_bid_fill_tampers(
    pab_market: Any, matcher: Any, rule: str, changes: dict[int, int], error: str
) -> None:
    dep, slot = pab_market
    price, fills, pairs = correct(dep, slot)
    with reverts_with(error):
        submit(dep, slot, matcher, PAY_AS_BID, price, _moved(fills, changes), pairs)


def test_uniform_price_must_be_the_midpoint_of_the_last_pair(
    uniform_market: Any, matcher: Any
) -> None:
    dep, slot = uniform_market
    price, fills, _ = correct(dep, slot)
    for wrong in (price + 1, price - 1, 0):
        with reverts_with("SettlementClearingPrice"):
            submit(dep, slot, matcher, UNIFORM, wrong, fills, [])


def test_uniform_volume_beyond_the_walk_breaks_a_limit(uniform_market: Any, matcher: Any) -> None:
    # Also trade B2 (220000) with S2 (240000): a non-crossing pair. Its midpoint 230000 is below
    # S2's limit; any other price is not the midpoint.
    dep, slot = uniform_market
    _, fills, _ = correct(dep, slot)
    more = _moved(fills, {B2: +500, S2: +500})
    with reverts_with("SettlementLimitViolated"):
        submit(dep, slot, matcher, UNIFORM, 230_000, more, [])
    with reverts_with("SettlementClearingPrice"):
        submit(dep, slot, matcher, UNIFORM, 250_000, more, [])


def test_no_trade_means_no_price(
    make_market: Any, alice: Any, carol: Any, matcher: Any, close_gate: Any
) -> None:
    dep = make_market({"alice": (alice, 2), "carol": (carol, 2)}, **BOUNDS, mode="uniform")
    slot = int(dep.community.currentSlot()) + 2
    dep.order_book.placeOrder(slot, BUY, 1000, 150_000, {"from": alice})
    dep.order_book.placeOrder(slot, SELL, 1000, 160_000, {"from": carol})
    close_gate(dep.community, slot)
    catch_up(dep, slot, matcher)  # slots settle in order
    with reverts_with("SettlementClearingPrice"):
        submit(dep, slot, matcher, UNIFORM, 155_000, [0, 0], [])
    submit(dep, slot, matcher, UNIFORM, 0, [0, 0], [])


def test_every_order_gets_exactly_one_fill_entry(uniform_market: Any, matcher: Any) -> None:
    dep, slot = uniform_market
    price, fills, _ = correct(dep, slot)
    with reverts_with("SettlementFillsLength"):
        submit(
            dep, slot, matcher, UNIFORM, price, [*fills, 0], []
        )  # an order the book does not have
    with reverts_with("SettlementFillsLength"):
        submit(dep, slot, matcher, UNIFORM, price, fills[:-1], [])


def test_mode_must_be_the_mode_in_force(uniform_market: Any, matcher: Any) -> None:
    dep, slot = uniform_market
    price, fills, _ = correct(dep, slot)
    with reverts_with("SettlementModeMismatch"):
        submit(dep, slot, matcher, COMMUNITY, price, fills, [])


def test_pairs_only_in_pay_as_bid(uniform_market: Any, matcher: Any) -> None:
    dep, slot = uniform_market
    price, fills, _ = correct(dep, slot)
    with reverts_with("SettlementPairInvalid"):
        submit(dep, slot, matcher, UNIFORM, price, fills, [pack_pair(B1, S1, 2500)])


def test_only_the_matcher_settles_once_after_gate_closure(
    uniform_market: Any, matcher: Any, outsider: Any, dso: Any, close_gate: Any
) -> None:
    dep, slot = uniform_market
    price, fills, _ = correct(dep, slot)
    none = EMPTY_BATCH.args()
    with reverts_with("SettlementNotMatcher"):
        dep.settlement.settleSlot(slot, UNIFORM, price, none, fills, [], {"from": outsider})
    with reverts_with("SettlementNotMatcher"):
        dep.settlement.settleSlot(slot, UNIFORM, price, none, fills, [], {"from": dso})
    submit(dep, slot, matcher, UNIFORM, price, fills, [])
    with reverts_with("SettlementAlreadySettled"):
        submit(dep, slot, matcher, UNIFORM, price, fills, [])
    future = int(dep.community.currentSlot()) + 3
    # Slots settle in order: settle every slot before `future` (the one before closes its gate
    # first), so the refusal is the open gate's, not SettlementOutOfOrder.
    close_gate(dep.community, future - 1)
    catch_up(dep, future, matcher)
    with reverts_with("OrderBookGateOpen"):
        submit(dep, future, matcher, UNIFORM, 0, [], [])


def test_closing_a_slot_is_for_the_settlement_contract_only(
    uniform_market: Any, matcher: Any
) -> None:
    dep, slot = uniform_market
    with reverts_with("OrderBookNotSettlement"):
        dep.order_book.closeSlot(slot, [pack_transfer(matcher.address, 1)], {"from": matcher})


PAIR_TAMPERS = [
    # (rule, pairs given the correct ones p0, p1, p2, expected error)
    (
        "quantity is min of remainders",
        lambda p: [pack_pair(B1, S1, 2400), *p[1:]],
        "SettlementPairInvalid",
    ),
    (
        "switch only when exhausted",
        lambda p: [pack_pair(B1, S1, 2500), pack_pair(B3, S2, 1000), pack_pair(B1, S2, 500)],
        "SettlementPairInvalid",
    ),
    (
        "walk in priority order",
        lambda p: [pack_pair(B3, S1, 1000), pack_pair(B1, S1, 1500), pack_pair(B1, S2, 1500)],
        "SettlementPairInvalid",
    ),
    ("indices in range", lambda p: [pack_pair(99, S1, 2500), *p[1:]], "SettlementPairInvalid"),
    ("buy index is a bid", lambda p: [pack_pair(S1, B1, 2500), *p[1:]], "SettlementPairInvalid"),
    ("pairs add up to the fills", lambda p: p[:-1], "SettlementPairsMismatchFills"),
]


@pytest.mark.parametrize("rule,tamper,error", PAIR_TAMPERS, ids=[t[0] for t in PAIR_TAMPERS])
def test_pay_as_bid_pair_tampers(
    pab_market: Any, matcher: Any, rule: str, tamper: Callable[[list[int]], list[int]], error: str
) -> None:
    dep, slot = pab_market
    price, fills, pairs = correct(dep, slot)
    with reverts_with(error):
        submit(dep, slot, matcher, PAY_AS_BID, price, fills, tamper(pairs))


def test_pay_as_bid_non_crossing_pair_breaks_a_limit(pab_market: Any, matcher: Any) -> None:
    dep, slot = pab_market
    _, fills, pairs = correct(dep, slot)
    more = _moved(fills, {B2: +500, S2: +500})
    with reverts_with("SettlementLimitViolated"):
        submit(dep, slot, matcher, PAY_AS_BID, 0, more, [*pairs, pack_pair(B2, S2, 500)])


def test_pay_as_bid_has_no_clearing_price(pab_market: Any, matcher: Any) -> None:
    dep, slot = pab_market
    _, fills, pairs = correct(dep, slot)
    with reverts_with("SettlementClearingPrice"):
        submit(dep, slot, matcher, PAY_AS_BID, 250_000, fills, pairs)


COMMUNITY_TAMPERS = [
    ("leftover Wh to the lowest id", {S1: -1, S2: +1}, "SettlementProRata"),
    ("ineligible orders get nothing", {B2: +1, S1: -1, B1: 0}, "SettlementProRata"),
    ("pro rata, not priority", {S1: +681, S2: -454, S3: -227}, "SettlementProRata"),
]


@pytest.mark.parametrize(
    "rule,changes,error", COMMUNITY_TAMPERS, ids=[t[0] for t in COMMUNITY_TAMPERS]
)
def test_community_tampers(
    community_market: Any, matcher: Any, rule: str, changes: dict[int, int], error: str
) -> None:
    dep, slot = community_market
    price, fills, _ = correct(dep, slot)
    with reverts_with(error):
        submit(dep, slot, matcher, COMMUNITY, price, _moved(fills, changes), [])


def test_community_price_is_the_aggregators(community_market: Any, matcher: Any) -> None:
    dep, slot = community_market
    price, fills, _ = correct(dep, slot)
    with reverts_with("SettlementClearingPrice"):
        submit(dep, slot, matcher, COMMUNITY, price - 1, fills, [])
