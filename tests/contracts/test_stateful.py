"""Stateful property test: random top-ups, orders (valid and invalid), cancellations, clearings and
redemptions against the real contracts. After every step:

- token supply == minted − redeemed == sum of all balances (members, DSO accounts, order book);
- the book's escrow == sum of every unsettled slot's escrow == what its open buy orders lock;
- each settlement moved exactly what the rulebook module says, to the n€.

`make test` runs at least 2,000 rule steps (hypothesis draws runs of varying length, so the test
keeps drawing examples until the count is reached; GRIDSHARE_STATEFUL_STEPS raises it).
brownie 1.22.2's own `state_machine` fixture cannot subclass its compiled base class, so this
drives hypothesis directly: each example starts by reverting the chain to the snapshot taken
after deployment.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any, ClassVar

from brownie import InvariantLens, chain
from brownie.exceptions import VirtualMachineError
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from chain.codec import decode_order_word, decode_rules
from chain.submission import SlotBook
from market.billing import settle_order
from market.clearing import Clearing, Mode
from market.orders import Order, Side
from tests.contracts.helpers import clear_on_chain_book

BUY, SELL = 0, 1
TARGET_STEPS = int(os.environ.get("GRIDSHARE_STATEFUL_STEPS", "2000"))
STEPS_PER_EXAMPLE = 50


WHO = st.integers(min_value=0, max_value=4)
AMOUNT = st.integers(min_value=1, max_value=50 * 10**9)
SIDE = st.integers(min_value=0, max_value=1)
ENERGY = st.integers(min_value=0, max_value=4_000)  # 0 is invalid input, on purpose
# Around the default tariff's bounds [70000, 200000], partly outside on purpose; buyers bid high
# and sellers ask low so that most slots trade.
BID = st.integers(min_value=120_000, max_value=210_000)
ASK = st.integers(min_value=60_000, max_value=150_000)
AHEAD = st.integers(min_value=2, max_value=3)
PICK = st.integers(min_value=0, max_value=2**16)


class MarketMachine(RuleBasedStateMachine):
    """Rule-based state machine over one deployment; `bind` sets the deployment before a run."""

    dep: Any
    lens: Any
    people: list[Any]
    dso: Any
    matcher: Any
    holders: list[Any]
    slot_rules: Any

    @classmethod
    def bind(
        cls, dep: Any, lens: Any, people: list[Any], dso: Any, matcher: Any, fee: Any, net: Any
    ) -> None:
        cls.dep = dep
        cls.lens = lens
        cls.people = people
        cls.dso = dso
        cls.matcher = matcher
        cls.holders = [*people, fee, net, dep.order_book]
        cls.slot_rules = decode_rules(dep.community.tariffAt(0))

    counts: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        chain.revert()
        self.counts["examples"] += 1
        self.refs = 0
        self.pending: set[int] = set()  # slots with orders, not yet settled
        self.open_ids: list[int] = []

    # ------------------------------------------------------------------ rules

    @rule(who=WHO, amount=AMOUNT)
    def top_up(self, who: int, amount: int) -> None:
        self.counts["rules"] += 1
        self.refs += 1
        ref = f"state-{self.refs}".encode().ljust(32, b"\0")
        self.dep.token.topUp(self.people[who], amount, ref, {"from": self.dso})

    @rule(who=WHO, side=SIDE, energy=ENERGY, bid=BID, ask=ASK, ahead=AHEAD)
    def place(self, who: int, side: int, energy: int, bid: int, ask: int, ahead: int) -> None:
        self.counts["rules"] += 1
        price = ask if side == SELL else bid
        owner = self.people[who]
        slot = int(self.dep.community.currentSlot()) + ahead
        try:
            tx = self.dep.order_book.placeOrder(slot, side, energy, price, {"from": owner})
        except VirtualMachineError as exc:
            self._expect_rejection(exc, owner, who, side, energy, price)
            self.counts["rejected"] += 1
            return
        self.pending.add(slot)
        self.open_ids.append(int(tx.return_value))
        self.counts["orders"] += 1

    @rule(pick=PICK)
    def cancel(self, pick: int) -> None:
        self.counts["rules"] += 1
        if not self.open_ids:
            return
        order_id = self.open_ids[pick % len(self.open_ids)]
        _, _, word = self.dep.order_book.orderById(order_id)
        owner = "0x" + format(int(word) & ((1 << 160) - 1), "040x")
        self.dep.order_book.cancelOrder(order_id, {"from": owner})
        self.open_ids.remove(order_id)

    @rule()
    def settle(self) -> None:
        self.counts["rules"] += 1
        if not self.pending:
            return
        slot = min(self.pending)
        delta = int(self.dep.community.gateClosure(slot)) - chain.time() + 1
        if delta > 0:
            chain.sleep(delta)
            chain.mine()
        book, clearing, sub = clear_on_chain_book(self.dep.community, self.dep.order_book, slot)
        before = self._balances()
        self.dep.settlement.settleSlot(slot, *sub.args(), {"from": self.matcher})
        after = self._balances()
        self._check_payouts(book, clearing, before, after)
        self.pending.discard(slot)
        self.counts["settled"] += 1
        self.counts["traded_wh"] += clearing.volume_wh
        ids = set(book.ids)
        self.open_ids = [i for i in self.open_ids if i not in ids]

    @rule(who=WHO, amount=AMOUNT)
    def redeem(self, who: int, amount: int) -> None:
        self.counts["rules"] += 1
        holder = self.people[who]
        amount = min(amount, int(self.dep.token.balanceOf(holder)))
        if amount == 0:
            return
        self.dep.token.redeem(amount, b"\x01" * 32, {"from": holder})

    # ------------------------------------------------------------------ invariants

    @invariant()
    def conservation_and_escrow(self) -> None:
        slots = sorted(self.pending)
        supply, minted, redeemed, balances, held, slot_escrows, books = self.lens.read(
            self.dep.token, self.holders, self.dep.order_book, slots
        )
        # Token supply == minted − redeemed == sum of all balances (members, DSO, escrow).
        assert supply == minted - redeemed == sum(balances)
        assert balances[-1] == held  # the last holder is the order book
        # Escrow == sum of unsettled slots' escrow == what their open buy orders lock.
        assert held == sum(slot_escrows)
        for slot_escrow, words in zip(slot_escrows, books, strict=True):
            entries = [decode_order_word(i, int(w)) for i, w in enumerate(words)]
            locked = sum(
                self.slot_rules.tariff.escrow_for(
                    Order(i, Side(e.side), e.energy_wh, e.price, e.owner)
                )
                for i, e in enumerate(entries)
                if not e.cancelled
            )
            assert slot_escrow == locked

    # ------------------------------------------------------------------ helpers

    def _balances(self) -> list[int]:
        snapshot = self.lens.read(self.dep.token, self.holders, self.dep.order_book, [])
        return [int(b) for b in snapshot[3]]

    def _expect_rejection(
        self, exc: VirtualMachineError, owner: Any, who: int, side: int, energy: int, price: int
    ) -> None:
        """An order may only be refused for a reason the rulebook gives, with its error."""
        error = (exc.revert_msg or "").split(":", 1)[0]
        t = self.slot_rules.tariff
        if energy == 0:
            assert error == "OrderBookZeroEnergy"
        elif side == SELL and who in CONSUMERS:
            assert error == "OrderBookRoleCannotSell"
        elif not t.feed_in_price <= price <= t.retail_price:
            assert error == "OrderBookPriceOutOfBounds"
        else:
            escrow = t.escrow_for(Order(0, Side.BUY, energy, price, owner.address))
            assert error == "ERC20InsufficientBalance"
            assert escrow > int(self.dep.token.balanceOf(owner))

    def _check_payouts(
        self, book: SlotBook, clearing: Clearing, before: list[int], after: list[int]
    ) -> None:
        """Each holder's balance change equals the rulebook's settlement of its orders."""
        expected = [0] * len(self.holders)
        position = {str(h.address).lower(): i for i, h in enumerate(self.holders)}
        fee_i, net_i, book_i = len(self.people), len(self.people) + 1, len(self.people) + 2
        for order in book.open_orders():
            s = settle_order(self.slot_rules.tariff, order, clearing.fills[order.id])
            expected[position[order.owner.lower()]] += s.received_by_member
            expected[book_i] -= s.escrow
            expected[fee_i] += s.platform_fee
            expected[net_i] += s.network_fee
        assert [a - b for a, b in zip(after, before, strict=True)] == expected
        assert clearing.mode is Mode(self.slot_rules.mode)


CONSUMERS = {1, 4}  # bob, erin


def test_market_invariants(
    market: Any,
    alice: Any,
    bob: Any,
    carol: Any,
    dave: Any,
    erin: Any,
    members: Any,
    dso: Any,
    matcher: Any,
    fee_account: Any,
    network_account: Any,
) -> None:
    lens = InvariantLens.deploy({"from": dso})
    MarketMachine.bind(
        market, lens, [alice, bob, carol, dave, erin], dso, matcher, fee_account, network_account
    )
    chain.snapshot()
    while MarketMachine.counts["rules"] < TARGET_STEPS:
        run_state_machine_as_test(
            MarketMachine,
            settings=settings(
                # Hypothesis starts each run with short examples and lengthens them; 40 or more
                # examples average ~40 steps each here, so one run usually reaches the target.
                max_examples=max(40, TARGET_STEPS // 40),
                stateful_step_count=STEPS_PER_EXAMPLE,
                deadline=None,
                database=None,
            ),
        )
    counts = MarketMachine.counts
    print(f"stateful: {dict(counts)}")
    # The run must have exercised the market, not just idled.
    assert counts["rules"] >= TARGET_STEPS
    assert (
        counts["settled"] > 0 and counts["orders"] > counts["settled"] and counts["traded_wh"] > 0
    )
