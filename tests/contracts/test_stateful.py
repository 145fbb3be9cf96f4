"""Stateful property test: random top-ups, orders (valid and invalid, up to the per-member cap),
cancellations, clearings, meter readings, imbalance settlements, debt, exits and re-entries, period
closes (profit sharing, service fees, battery leases set and ended), redemptions, tariff changes
(prices, fees and clearing mode; with the notice rule: only beyond the order horizon) and DSO
flexibility (requests, offers, merit-order acceptance, payment and penalty against the meter
baseline) against the real contracts. After every step:

- token supply == minted − redeemed == sum of all balances (members, DSO accounts, order book,
  Settlement's pass-through, flexibility escrow);
- the flexibility escrow == the budgets of the requests not yet settled;
- the book's escrow == sum of every unsettled slot's escrow == what its open buy orders lock;
- total debt == the sum of the members' debts;
- each settlement moved exactly what the rulebook module says, to the n€: trades (settle_order),
  each member's bill against its meters (bill: imbalance and BaU), what a balance could not cover
  (apply_charge: debt), profit shares and service fees (profit_shares, apply_charge), each
  flexibility acceptance (accept) and payment and penalty (settle_offer, apply_charge);
- the tariff in force for every slot the run touches is the one the model's schedule gives.

Slots are 6 hours long here (4 a day), so the flexibility baseline (the same slot of day on
earlier days) can have history within an example; examples settle few slots, so most deliveries
are unmeasured (no baseline day): measured payments and penalties are tested in
tests/contracts/test_flexibility.py and tests/matcher/test_matcher_flex.py, and are checked here
whenever a run reaches them.

`make test` runs at least 2,000 rule steps (hypothesis draws runs of varying length, so the test
keeps drawing examples until the count is reached; GRIDSHARE_STATEFUL_STEPS raises it: `make fuzz`
runs 10,000).
brownie 1.22.2's own `state_machine` fixture cannot subclass its compiled base class, so this
drives hypothesis directly: each example starts by reverting the chain to the snapshot taken
after deployment.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import pytest
from brownie import InvariantLens, chain
from brownie.exceptions import VirtualMachineError
from eth_account import Account
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from chain.codec import decode_order_word, decode_rules, encode_rules
from chain.flexibility import (
    FlexRequest,
    acceptance,
    accepted_indexes,
    decode_offers,
    net_import,
    outcomes,
    segment_slots,
    settlement_words,
)
from chain.metering import pack_reading_word, trade_words
from chain.signing import Reading
from chain.submission import SlotBook, Submission
from gridshare.settings import Settings
from market.billing import (
    OrderSettlement,
    apply_charge,
    bill,
    profit_pool,
    profit_shares,
    settle_order,
)
from market.clearing import Clearing, Mode
from market.orders import Order, Side
from market.tariff import SlotRules, Tariff
from tests.contracts.helpers import (
    clear_on_chain_book,
    imbalance_args,
    imbalance_settled,
    reverts_exact,
    sign_reading,
    sleep_until,
)

BUY, SELL = 0, 1
TARGET_STEPS = int(os.environ.get("GRIDSHARE_STATEFUL_STEPS", "2000"))
REPORT = os.environ.get("GRIDSHARE_STATEFUL_REPORT", "")
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
# Per member: None (no reading) or (import Wh, export Wh) for the slot being settled.
METERED = st.lists(
    # Imports up to 40 kWh (12 € at the default tariff), so charges outrun balances at times.
    st.one_of(st.none(), st.tuples(st.integers(0, 40_000), st.integers(0, 4_000))),
    min_size=5,
    max_size=5,
)
PERIOD_SLOTS = 6
HORIZON = 3  # order horizon = tariff notice, short so that changes bind within an example
MEMBER_CAP = 2  # orders per member and slot, low so that the cap is reached
# Tariffs a change may bring in: other prices, fees and clearing modes (the deployed one is
# Settings' default, uniform). The last one is invalid (feed-in above retail) on purpose.
TARIFFS = [
    SlotRules(Tariff(220_000, 60_000, 90_000, 30_000, 8_000, 3_000, 1_500_000_000, 180_000), m)
    for m in ("pay-as-bid", "community", "uniform")
] + [
    SlotRules(Tariff(210_000, 80_000, 110_000, 50_000, 4_000, 6_000, 2_500_000_000, 150_000), m)
    for m in ("community", "uniform", "pay-as-bid")
]
INVALID_TARIFF = (100_000, 150_000, 0, 0, 0, 0, 120_000, 0, 0, 120_000)  # feed-in above retail
# A change's first slot relative to the earliest one the notice allows (current + horizon + 1):
# zero and below must be refused (the lowest reach back into past slots).
NOTICE = st.integers(min_value=-HORIZON - 3, max_value=4)
# Before the snapshot every example starts from, the DSO schedules a change every 2 slots beyond the
# notice, cycling through TARIFFS: every example settles slots under several tariffs and modes
# (an example settles a handful of slots), and change_tariff rules withdraw and replace them.
PRESCHEDULED = 12
SLOT_SECONDS = 21_600
FLEX_MAX_PRICE = 150_000
# Per offer: member, Wh, price (partly above the maximum on purpose).
FLEX_OFFERS = st.lists(
    st.tuples(WHO, st.integers(1, 3_000), st.integers(0, FLEX_MAX_PRICE + 20_000)), max_size=3
)


@pytest.fixture(scope="module")
def settings() -> Settings:
    """Short profit-sharing periods, so runs close several; no reading deadline, so a slot
    settles right after delivery and time moves one slot per settlement, keeping the orders
    (placed 2-3 slots ahead of the current one) within reach of a short example."""
    return Settings(
        period_slots=PERIOD_SLOTS,
        reading_deadline_seconds=0,
        order_horizon_slots=HORIZON,
        max_orders_per_member_slot=MEMBER_CAP,
        slot_seconds=SLOT_SECONDS,
    )


class MarketMachine(RuleBasedStateMachine):
    """Rule-based state machine over one deployment; `bind` sets the deployment before a run."""

    dep: Any
    lens: Any
    people: list[Any]
    dso: Any
    matcher: Any
    holders: list[Any]
    initial_schedule: list[tuple[int, SlotRules]]

    meters: list[tuple[bytes, str]]
    oracle: Any
    role_codes: list[int]

    @classmethod
    def bind(
        cls,
        dep: Any,
        lens: Any,
        people: list[Any],
        roles: dict[str, Any],
        meters: list[tuple[bytes, str]],
    ) -> None:
        cls.dep = dep
        cls.lens = lens
        cls.people = people
        cls.dso, cls.matcher, cls.oracle = roles["dso"], roles["matcher"], roles["oracle"]
        cls.holders = [
            *people,
            roles["fee"],
            roles["net"],
            roles["supply"],
            dep.settlement,  # passes intent value through within a settlement: holds nothing
            dep.flexibility,
            dep.order_book,
        ]
        count = int(dep.community.tariffCount())
        entries = [dep.community.tariffEntry(i) for i in range(count)]
        cls.initial_schedule = [(int(start), decode_rules(t)) for start, t in entries]
        cls.meters = meters
        cls.role_codes = [int(dep.community.memberRole(p)) for p in people]

    counts: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        chain.revert()
        self.counts["examples"] += 1
        self.refs = 0
        self.pending: set[int] = set()  # slots with orders, not yet settled
        self.open_ids: list[int] = []
        self.sequence = [0] * len(self.people)  # each meter's last signed sequence
        self.exiting: dict[int, int] = {}  # member index -> exit slot
        self.gone: set[int] = set()  # members who left (and may re-enter)
        self.closed_periods = int(self.dep.imbalance.firstSlot()) // PERIOD_SLOTS
        self.words: dict[int, list[int]] = {}  # each settled slot's reading words
        self.flex: dict[int, int] = {}  # open flexibility request id -> slot
        self.flex_accepted: set[int] = set()
        self.flex_escrow: dict[int, int] = {}  # budget of each unsettled request
        self.schedule = list(self.initial_schedule)  # the model's tariff schedule
        self.checked: dict[int, SlotRules] = {}  # slots whose chain tariff was compared
        self.placed: Counter[tuple[int, int]] = Counter()  # (slot, member) -> orders placed
        self.leases = [0] * len(self.people)  # each member's battery lease per period

    def rules_at(self, slot: int) -> SlotRules:
        """The tariff in force for `slot` by the model's schedule, checked against the chain's
        (once per slot until a change reaches it: each check is a call)."""
        rules = next(r for start, r in reversed(self.schedule) if start <= slot)
        if self.checked.get(slot) != rules:
            assert decode_rules(self.dep.community.tariffAt(slot)) == rules
            self.checked[slot] = rules
        return rules

    # ------------------------------------------------------------------ rules

    @rule(who=WHO, amount=AMOUNT)
    def top_up(self, who: int, amount: int) -> None:
        self.counts["rules"] += 1
        self.refs += 1
        ref = f"state-{self.refs}".encode().ljust(32, b"\0")
        if who in self.gone:  # no longer a member: the token refuses to mint to it
            with reverts_exact("EnergyTokenNotMember", self.people[who]):
                self.dep.token.topUp(self.people[who], amount, ref, {"from": self.dso})
            return
        self.dep.token.topUp(self.people[who], amount, ref, {"from": self.dso})

    @rule(
        orders=st.lists(st.tuples(WHO, SIDE, ENERGY, BID, ASK), min_size=1, max_size=4),
        ahead=AHEAD,
    )
    def place(self, orders: list[tuple[int, int, int, int, int]], ahead: int) -> None:
        """Up to four orders for one slot (each slot now settles, readings and all, in its
        own step, so orders come in groups to keep slots trading)."""
        self.counts["rules"] += 1
        slot = int(self.dep.community.currentSlot()) + ahead
        for who, side, energy, bid, ask in orders:
            self._place(slot, who, side, energy, ask if side == SELL else bid)

    def _place(self, slot: int, who: int, side: int, energy: int, price: int) -> None:
        owner = self.people[who]
        try:
            tx = self.dep.order_book.placeOrder(slot, side, energy, price, {"from": owner})
        except VirtualMachineError as exc:
            self._expect_rejection(exc, owner, slot, who, side, energy, price)
            self.counts["rejected"] += 1
            return
        self.placed[slot, who] += 1
        assert self.placed[slot, who] <= MEMBER_CAP
        assert self.dep.order_book.memberOrderCount(slot, owner) == self.placed[slot, who]
        self.pending.add(slot)
        self.open_ids.append(int(tx.return_value))
        self.counts["orders"] += 1

    @rule(pick=PICK)
    def cancel(self, pick: int) -> None:
        self.counts["rules"] += 1
        if not self.open_ids:
            return
        order_id = self.open_ids[pick % len(self.open_ids)]
        slot, _, word = self.dep.order_book.orderById(order_id)
        if int(self.dep.community.gateClosure(slot)) <= chain.time():
            self.open_ids.remove(order_id)  # its gate closed while time moved on: it will settle
            return
        owner = "0x" + format(int(word) & ((1 << 160) - 1), "040x")
        self.dep.order_book.cancelOrder(order_id, {"from": owner})
        self.open_ids.remove(order_id)

    @rule(metered=METERED)
    def settle(self, metered: list[tuple[int, int] | None]) -> None:
        """Take the next slot through its whole life: trades, readings, imbalance, exits."""
        self.counts["rules"] += 1
        slot = int(self.dep.imbalance.nextSlot())
        sleep_until(int(self.dep.community.gateClosure(slot)) + 1)
        # Slots settle in order (Settlement.nextSlot): the trades of any earlier slot not yet
        # settled go first, each checked like this one.
        for earlier in range(int(self.dep.settlement.nextSlot()), slot):
            self._settle_trades(earlier)
        book, sub, settled = self._settle_trades(slot)

        # The next slot's flexibility requests are accepted between its gate and its delivery.
        if slot + 1 in self.flex.values():
            sleep_until(int(self.dep.community.gateClosure(slot + 1)) + 1)
            self._accept_flex(slot + 1)
        sleep_until(int(self.dep.community.slotStart(slot + 1)) + 1)
        words = self._relay_readings(slot, metered)
        deadline = int(self.dep.imbalance.readingDeadlineSeconds())
        sleep_until(int(self.dep.community.slotStart(slot + 1)) + deadline + 1)
        self._settle_imbalance(slot, words, trade_words(book.entries, sub.fills), settled)
        self.words[slot] = words
        self._settle_flex(slot)
        self._complete_exits()

    @rule(offers=FLEX_OFFERS, quantity=st.integers(1, 4_000), direction=st.integers(0, 1))
    def flex_request(
        self, offers: list[tuple[int, int, int]], quantity: int, direction: int
    ) -> None:
        """The DSO asks for flexibility in a future slot (the next one whose gate is open, so
        it is accepted in the settle step); members offer. A refused offer must be refused
        for the rule's reason."""
        self.counts["rules"] += 1
        flex, token = self.dep.flexibility, self.dep.token
        slot = int(self.dep.community.currentSlot()) + 1
        gate = int(self.dep.community.gateClosure(slot))
        if gate <= chain.time() + 1:
            slot += 1
            gate = int(self.dep.community.gateClosure(slot))
        net = self.holders[len(self.people) + 1]
        if int(token.balanceOf(net)) < quantity * FLEX_MAX_PRICE:
            self.refs += 1
            ref = f"flex-{self.refs}".encode().ljust(32, b"\0")
            token.topUp(net, 1000 * 10**9, ref, {"from": self.dso})
        tx = flex.publishRequest(
            slot, direction, quantity, FLEX_MAX_PRICE, gate, {"from": self.dso}
        )
        rid = int(tx.return_value)
        self.flex[rid] = slot
        self.flex_escrow[rid] = quantity * FLEX_MAX_PRICE
        offered: set[int] = set()
        for who, q, price in offers:
            try:
                flex.offer(rid, q, price, {"from": self.people[who]})
            except VirtualMachineError as exc:
                error = (exc.revert_msg or "").split(":", 1)[0]
                if who in self.exiting or who in self.gone:
                    assert error == "FlexibilityNotMember"
                elif price > FLEX_MAX_PRICE:
                    assert error == "FlexibilityPriceAboveMax"
                else:
                    assert who in offered and error == "FlexibilityAlreadyOffered"
                continue
            assert who not in offered and price <= FLEX_MAX_PRICE
            offered.add(who)
            self.counts["flex_offers"] += 1

    @rule(who=WHO, roll=st.integers(0, 7))
    def leave(self, who: int, roll: int) -> None:
        """A member asks to leave (one draw in eight, so the market does not empty): its open
        orders go, a penalty applies within the lock-in."""
        self.counts["rules"] += 1
        member = self.people[who]
        if roll != 0 or who in self.exiting or who in self.gone:
            return
        debt = int(self.dep.token.debtOf(member))
        balance = int(self.dep.token.balanceOf(member))
        tx = self.dep.membership.requestExit({"from": member})
        event = tx.events["ExitRequested"]
        penalty = int(event["penalty"])
        outcome = apply_charge(balance + int(event["escrowReturned"]), debt, penalty)
        assert event["penaltyCollected"] == outcome.collected
        assert self.dep.token.debtOf(member) == outcome.debt
        assert self.dep.token.balanceOf(member) == outcome.balance
        self.exiting[who] = int(event["exitSlot"])
        if "OrderCancelled" in tx.events:
            cancelled = {int(e["id"]) for e in tx.events["OrderCancelled"]}
            self.open_ids = [i for i in self.open_ids if i not in cancelled]
        self.counts["exits"] += 1
        self.counts["debts"] += outcome.debt > debt

    @rule(who=WHO)
    def rejoin(self, who: int) -> None:
        """A member who left is registered again, with its old meter id (no replay possible)."""
        self.counts["rules"] += 1
        if who not in self.gone:
            return
        member = self.people[who]
        self.dep.community.registerMember(member, self.role_codes[who], 0, {"from": self.dso})
        meter_id, key = self.meters[who]
        signer = Account.from_key(key).address
        self.dep.community.registerMeter(meter_id, member, signer, {"from": self.dso})
        self.gone.discard(who)
        self.counts["rejoins"] += 1

    @rule(who=WHO, lease=st.integers(0, 3 * 10**9))
    def set_lease(self, who: int, lease: int) -> None:
        """The DSO sets a member's battery lease (0 ends it), refused for anyone who is not a
        member now (leaving or left) unless 0; every later close charges it after the service
        fee. A lease outlives an exit: a member who rejoins is charged it again."""
        self.counts["rules"] += 1
        member = self.people[who]
        if lease and (who in self.exiting or who in self.gone):
            with reverts_exact("ProfitSharingNotMember", member):
                self.dep.profit_sharing.setLease(member, lease, {"from": self.dso})
            return
        self.dep.profit_sharing.setLease(member, lease, {"from": self.dso})
        self.leases[who] = lease
        self.counts["leases"] += 1

    @rule()
    def close_period(self) -> None:
        self.counts["rules"] += 1
        period = self.closed_periods
        if int(self.dep.imbalance.nextSlot()) < (period + 1) * PERIOD_SLOTS:
            return
        listed = sorted(
            (i for i in range(len(self.people)) if i not in self.exiting and i not in self.gone),
            key=lambda i: int(self.people[i].address, 16),
        )
        accounts_ = [self.people[i] for i in listed]
        exports = [int(self.dep.imbalance.exportOf(period, a)) for a in accounts_]
        shares = profit_shares(
            profit_pool(int(self.dep.imbalance.platformFeesOf(period)), 5000),
            exports,
            total_wh=int(self.dep.imbalance.totalExportOf(period)),
        )
        fee = self.rules_at(period * PERIOD_SLOTS).tariff.service_fee
        before = [
            (int(self.dep.token.balanceOf(a)), int(self.dep.token.debtOf(a))) for a in accounts_
        ]
        # In two chunks (the close continues after the last member billed).
        half = len(accounts_) // 2
        chunks = [accounts_[:half], accounts_[half:]] if half else [accounts_]
        billed = []
        for chunk in chunks:
            tx = self.dep.profit_sharing.closePeriod(period, chunk, {"from": self.dso})
            billed += list(tx.events["PeriodBilled"]) if "PeriodBilled" in tx.events else []
        assert self.dep.profit_sharing.periodClosed(period)
        rows = zip(listed, accounts_, before, shares, billed, strict=True)
        for i, a, (balance, debt), share, event in rows:
            # The service fee first, then the lease, in one collect.
            charged = apply_charge(balance + share, debt, fee)
            outcome = apply_charge(charged.balance, charged.debt, self.leases[i])
            collected = charged.collected + outcome.collected
            assert (event["share"], event["lease"], event["collected"]) == (
                share,
                self.leases[i],
                collected,
            )
            assert self.dep.token.balanceOf(a) == outcome.balance
            assert self.dep.token.debtOf(a) == outcome.debt
        self.closed_periods += 1
        self.counts["periods"] += 1
        self.counts["shared"] += sum(shares)

    @rule(notice=NOTICE, pick=st.integers(0, len(TARIFFS)))
    def change_tariff(self, notice: int, pick: int) -> None:
        """The DSO schedules a tariff (another mode, prices and fees): refused for any slot the
        notice does not cover (current + horizon and before, past slots included) and for an
        invalid tariff; otherwise it replaces the entries from its first slot on."""
        self.counts["rules"] += 1
        now = int(self.dep.community.currentSlot())
        boundary = int(self.dep.community.slotStart(now + 1))
        if boundary - chain.time() < 30:  # no slot boundary between this read and the block
            sleep_until(boundary + 1)
            now += 1
        earliest = now + HORIZON + 1
        start = earliest + notice - 1
        values = INVALID_TARIFF if pick == len(TARIFFS) else encode_rules(TARIFFS[pick])
        try:
            tx = self.dep.community.scheduleTariff(start, values, {"from": self.dso})
        except VirtualMachineError as exc:
            error = (exc.revert_msg or "").split(":", 1)[0]
            # The transaction's block may already lie in the next slot: the notice is judged
            # then, so the earliest allowed slot is re-read after a refusal.
            earliest = int(self.dep.community.currentSlot()) + HORIZON + 1
            if start < earliest:
                assert error == "CommunityTariffTooEarly"
            else:
                assert (error, pick) == ("CommunityInvalidTariff", len(TARIFFS))
            self.counts["tariffs_refused"] += 1
            return
        assert start >= earliest and pick < len(TARIFFS)
        withdrawn = [start_ for start_, _ in self.schedule if start_ >= start]
        self.schedule = [e for e in self.schedule if e[0] < start] + [(start, TARIFFS[pick])]
        self.checked.clear()
        events = tx.events["TariffWithdrawn"] if "TariffWithdrawn" in tx.events else []  # noqa: SIM401
        assert [int(e["fromSlot"]) for e in events] == sorted(withdrawn, reverse=True)
        assert int(self.dep.community.tariffCount()) == len(self.schedule)
        self.counts["tariffs"] += 1

    @rule(who=WHO, amount=AMOUNT, roll=st.integers(0, 3))
    def redeem(self, who: int, amount: int, roll: int) -> None:
        """Redeem part of what is free, or (one draw in four) all of it, so that later charges
        can exceed the balance: debt. Redeeming pays debts first, so only the balance beyond the
        debt can leave; asking for more reverts."""
        self.counts["rules"] += 1
        holder = self.people[who]
        balance, debt = token_state(self.dep.token, holder)
        free = max(0, balance - debt)
        if debt and balance and roll == 1:
            try:
                self.dep.token.redeem(free + 1, b"\x01" * 32, {"from": holder})
            except VirtualMachineError as exc:
                assert (exc.revert_msg or "").startswith("ERC20InsufficientBalance")
                assert token_state(self.dep.token, holder) == (balance, debt)
                return
            raise AssertionError("redeemed tokens owed as debt")
        amount = free if roll == 0 else min(amount, free)
        if amount == 0:
            return
        self.dep.token.redeem(amount, b"\x01" * 32, {"from": holder})
        repaid = min(balance, debt)
        assert token_state(self.dep.token, holder) == (balance - repaid - amount, debt - repaid)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def conservation_and_escrow(self) -> None:
        slots = sorted(self.pending)
        supply, minted, redeemed, balances, held, slot_escrows, books, debts, total_debt = (
            self.lens.read(self.dep.token, self.holders, self.dep.order_book, slots)
        )
        # Token supply == minted − redeemed == sum of all balances (members, DSO, escrow).
        assert supply == minted - redeemed == sum(balances)
        assert balances[-1] == held  # the last holder is the order book
        # The flexibility contract holds exactly the budgets of the requests not yet settled.
        assert balances[-2] == sum(self.flex_escrow.values())
        # Escrow == sum of unsettled slots' escrow == what their open buy orders lock.
        assert held == sum(slot_escrows)
        # Debt is a claim outside the supply: the total is the members' sum.
        assert total_debt == sum(debts)  # only members owe, but every holder is read
        for slot, slot_escrow, words in zip(slots, slot_escrows, books, strict=True):
            entries = [decode_order_word(i, int(w)) for i, w in enumerate(words)]
            locked = sum(
                self.rules_at(slot).tariff.escrow_for(
                    Order(i, Side(e.side), e.energy_wh, e.price, e.owner)
                )
                for i, e in enumerate(entries)
                if not e.cancelled
            )
            assert slot_escrow == locked

    # ------------------------------------------------------------------ helpers

    def _relay_readings(self, slot: int, metered: list[tuple[int, int] | None]) -> list[int]:
        """Each member with a registered meter and a drawn reading has its meter sign it; the
        oracle relays them in one batch. Returns the reading words in acceptance order."""
        batch = []
        for who, value in enumerate(metered):
            if value is None or who in self.gone:
                continue
            self.sequence[who] += 1
            meter_id, key = self.meters[who]
            r = Reading(meter_id, slot, value[0], value[1], self.sequence[who])
            batch.append((r, sign_reading(self.dep.readings, key, r)))
        if not batch:
            return []
        tx = self.dep.readings.submitReadings(
            [r.as_tuple() for r, _ in batch], [sig for _, sig in batch], {"from": self.oracle}
        )
        self.counts["readings"] += len(batch)
        return [
            pack_reading_word(e["member"], e["importWh"], e["exportWh"])
            for e in tx.events["ReadingAccepted"]
        ]

    def _settle_imbalance(
        self,
        slot: int,
        words: list[int],
        trades: list[int],
        settled: dict[str, list[OrderSettlement]],
    ) -> None:
        """Each member's bill against its meters equals the rulebook's, and its balance and debt
        move as apply_charge says."""
        chunk, members, words, trades = imbalance_args(words, trades)  # one chunk: few members
        token = self.dep.token
        before = {m: token_state(token, m) for m in members}
        tx = self.dep.imbalance.settleImbalance(
            slot, chunk, members, words, trades, {"from": self.matcher}
        )
        events = imbalance_settled(tx) if members else []
        assert [e["member"] for e in events] == members
        tariff = self.rules_at(slot).tariff
        for e in events:
            m = int(e["exportWh"]) - int(e["importWh"])
            expected = bill(tariff, m, settled.get(e["member"].lower(), []))
            assert e["tradedNetSoldWh"] == expected.sold_wh - expected.bought_wh
            assert e["credit"] == expected.imbalance_credit
            assert e["energyCharge"] == expected.imbalance_energy_charge
            assert e["networkCharge"] == expected.imbalance_network_charge
            assert e["bauCost"] == expected.bau_cost
            balance, debt = before[e["member"]]
            charge = expected.imbalance_energy_charge + expected.imbalance_network_charge
            outcome = apply_charge(balance, debt, charge)
            assert e["collected"] == outcome.collected
            assert token.balanceOf(e["member"]) == outcome.balance + expected.imbalance_credit
            assert token.debtOf(e["member"]) == outcome.debt
            self.counts["debts"] += outcome.debt > debt
        self.counts["imbalances"] += len(members)

    def _accept_flex(self, slot: int) -> None:
        """Accept the slot's requests as the rulebook says (the contract checks the merit order)."""
        for rid in [r for r, s in self.flex.items() if s == slot]:
            req = FlexRequest.from_call(rid, self.dep.flexibility.requestOf(rid))
            acc = acceptance(req, self.dep.flexibility.offersOf(rid))
            tx = self.dep.flexibility.acceptOffers(rid, acc, {"from": self.matcher})
            assert tx.events["FlexAccepted"]["volumeWh"] == sum(acc)
            self.flex_accepted.add(rid)

    def _settle_flex(self, slot: int) -> None:
        """Pay and penalise the slot's requests; each member's payment, penalty, balance and
        debt as the rulebook says, the rest of the budget back to the network account."""
        flex, token = self.dep.flexibility, self.dep.token
        lookback = int(flex.lookbackDays())
        for rid in [r for r, s in self.flex.items() if s == slot]:
            req = FlexRequest.from_call(rid, flex.requestOf(rid))
            offers = decode_offers(flex.offersOf(rid))
            # A request not accepted before its delivery lapses: its whole budget is refunded.
            acc = acceptance(req, flex.offersOf(rid)) if rid in self.flex_accepted else []
            slots = segment_slots(slot, SLOT_SECONDS, lookback)
            words, counts = settlement_words(slots, lambda s: list(self.words.get(s, [])))
            segments = [net_import([] if s is None else self.words.get(s, [])) for s in slots]
            active = {
                str(p.address)
                for i, p in enumerate(self.people)
                if i not in self.exiting and i not in self.gone
            }
            expected = outcomes(req, offers, acc, segments, is_member=active.__contains__)
            before = {o.member: token_state(token, o.member) for o in offers}
            net_before = int(token.balanceOf(req.payer))
            tx = flex.settleRequest(
                rid, acc, accepted_indexes(offers, acc), words, counts, {"from": self.matcher}
            )
            del self.flex[rid]
            assert req.escrow == self.flex_escrow.pop(rid)
            events = tx.events["FlexDelivered"] if expected else []
            assert sorted(int(e["index"]) for e in events) == sorted(expected)
            collected = 0
            for e in events:
                out = expected[int(e["index"])]
                assert e["measured"] == out.measured
                assert (e["deliveredWh"], e["payment"], e["penalty"]) == (
                    out.delivered_wh,
                    out.payment,
                    out.penalty,
                )
                if out.measured:
                    assert (e["baselineWh"], e["meteredWh"]) == (out.baseline_wh, out.metered_wh)
                    self.counts["flex_measured"] += 1
                balance, debt = before[e["member"]]
                charged = apply_charge(balance, debt, out.penalty)
                assert e["collected"] == charged.collected
                assert token_state(token, e["member"]) == (
                    charged.balance + out.payment,
                    charged.debt,
                )
                collected += charged.collected
                self.counts["flex_paid"] += out.payment
                self.counts["flex_penalties"] += out.penalty
            paid = sum(o.payment for o in expected.values())
            assert int(token.balanceOf(req.payer)) == net_before + req.escrow - paid + collected
            self.counts["flex_settled"] += 1

    def _complete_exits(self) -> None:
        next_slot = int(self.dep.imbalance.nextSlot())
        for who, exit_slot in list(self.exiting.items()):
            if next_slot <= exit_slot:
                continue
            member = self.people[who]
            balance, debt = (
                int(self.dep.token.balanceOf(member)),
                int(self.dep.token.debtOf(member)),
            )
            if debt > balance:
                try:
                    self.dep.membership.completeExit(member, {"from": self.dso})
                except VirtualMachineError as exc:
                    assert (exc.revert_msg or "").startswith("MembershipDebtOutstanding")
                    continue
                raise AssertionError("an exit completed with debt outstanding")
            self.dep.membership.completeExit(member, {"from": self.dso})
            assert token_state(self.dep.token, member) == (balance - debt, 0)
            del self.exiting[who]
            self.gone.add(who)

    def _settle_trades(
        self, slot: int
    ) -> tuple[SlotBook, Submission, dict[str, list[OrderSettlement]]]:
        """Clear and settle `slot`'s trades as the matcher does (its gate closed, every earlier
        slot settled); every holder's balance moves as the rulebook says. Returns the book, the
        submission and the settlements by owner."""
        assert int(self.dep.settlement.nextSlot()) == slot
        book, clearing, sub = clear_on_chain_book(self.dep.community, self.dep.order_book, slot)
        before = self._balances()
        self.dep.settlement.settleSlot(slot, *sub.args(), {"from": self.matcher})
        after = self._balances()
        settled = self._check_payouts(slot, book, clearing, before, after)
        assert int(self.dep.settlement.nextSlot()) == slot + 1
        # "settled" counts slots that had orders (as before every slot settled); "slots" all.
        self.counts["settled"] += slot in self.pending
        self.counts["slots"] += 1
        self.pending.discard(slot)
        self.counts["traded_wh"] += clearing.volume_wh
        ids = set(book.ids)
        self.open_ids = [i for i in self.open_ids if i not in ids]
        return book, sub, settled

    def _balances(self) -> list[int]:
        snapshot = self.lens.read(self.dep.token, self.holders, self.dep.order_book, [])
        return [int(b) for b in snapshot[3]]

    def _expect_rejection(
        self,
        exc: VirtualMachineError,
        owner: Any,
        slot: int,
        who: int,
        side: int,
        energy: int,
        price: int,
    ) -> None:
        """An order may only be refused for a reason the rulebook gives, with its error."""
        error = (exc.revert_msg or "").split(":", 1)[0]
        t = self.rules_at(slot).tariff
        if energy == 0:
            assert error == "OrderBookZeroEnergy"
        elif who in self.exiting or who in self.gone:
            assert error == "OrderBookNotMember"
        elif side == SELL and who in CONSUMERS:
            assert error == "OrderBookRoleCannotSell"
        elif not t.feed_in_price <= price <= t.retail_price:
            assert error == "OrderBookPriceOutOfBounds"
        elif self.placed[slot, who] >= MEMBER_CAP:
            assert error == "OrderBookMemberSlotFull"
            self.counts["capped"] += 1
        else:
            escrow = t.escrow_for(Order(0, Side.BUY, energy, price, owner.address))
            assert error == "ERC20InsufficientBalance"
            assert escrow > int(self.dep.token.balanceOf(owner))

    def _check_payouts(
        self, slot: int, book: SlotBook, clearing: Clearing, before: list[int], after: list[int]
    ) -> dict[str, list[OrderSettlement]]:
        """Each holder's balance change equals the rulebook's settlement of its orders. Returns
        the settlements by owner (lower-case address)."""
        by_owner: dict[str, list[OrderSettlement]] = {}
        expected = [0] * len(self.holders)
        position = {str(h.address).lower(): i for i, h in enumerate(self.holders)}
        # holders: the people, the fee, network and supply accounts, Settlement, flexibility, the
        # order book
        fee_i, net_i, book_i = len(self.people), len(self.people) + 1, len(self.holders) - 1
        rules = self.rules_at(slot)
        self.counts[f"slots_{rules.mode}"] += 1
        for order in book.open_orders():
            s = settle_order(rules.tariff, order, clearing.fills[order.id])
            by_owner.setdefault(order.owner.lower(), []).append(s)
            expected[position[order.owner.lower()]] += s.received_by_member
            expected[book_i] -= s.escrow
            expected[fee_i] += s.platform_fee
            expected[net_i] += s.network_fee
        assert [a - b for a, b in zip(after, before, strict=True)] == expected
        assert clearing.mode is Mode(rules.mode)
        return by_owner


def _report(counts: Counter[str], started: float) -> None:
    """`make fuzz` keeps the counts of its run (every step so far passed every check), updated
    after each batch of examples, so a run stopped early still tells what it verified."""
    if REPORT:
        out = {**dict(sorted(counts.items())), "seconds": round(time.monotonic() - started)}
        Path(REPORT).parent.mkdir(parents=True, exist_ok=True)
        Path(REPORT).write_text(json.dumps(out, indent=1) + "\n")


def token_state(token: Any, member: Any) -> tuple[int, int]:
    return int(token.balanceOf(member)), int(token.debtOf(member))


CONSUMERS = {1, 4}  # bob, erin


def test_market_invariants(
    market: Any,
    alice: Any,
    bob: Any,
    carol: Any,
    dave: Any,
    erin: Any,
    members: Any,
    meters: Any,
    dso: Any,
    oracle: Any,
    matcher: Any,
    fee_account: Any,
    network_account: Any,
    supply_account: Any,
) -> None:
    lens = InvariantLens.deploy({"from": dso})
    roles = {
        "dso": dso,
        "oracle": oracle,
        "matcher": matcher,
        "fee": fee_account,
        "net": network_account,
        "supply": supply_account,
    }
    names = ["alice", "bob", "carol", "dave", "erin"]
    now = int(market.community.currentSlot())
    for k in range(PRESCHEDULED):
        rules = encode_rules(TARIFFS[k % len(TARIFFS)])
        market.community.scheduleTariff(now + HORIZON + 1 + 2 * k, rules, {"from": dso})
    MarketMachine.bind(
        market, lens, [alice, bob, carol, dave, erin], roles, [meters[n] for n in names]
    )
    chain.snapshot()
    started = time.monotonic()
    while MarketMachine.counts["rules"] < TARGET_STEPS:
        run_state_machine_as_test(
            MarketMachine,
            settings=hypothesis_settings(
                # Examples average ~36 steps here (hypothesis draws their length; 3,477 steps in
                # 96 examples with the flexibility rule), so sizing
                # each run to the steps still missing usually reaches the target in one run
                # without overshooting it by a whole run.
                # At most 50 examples per run, so that a long run reports its progress.
                max_examples=max(10, min(50, (TARGET_STEPS - MarketMachine.counts["rules"]) // 35)),
                stateful_step_count=STEPS_PER_EXAMPLE,
                deadline=None,
                database=None,
            ),
        )
        _report(MarketMachine.counts, started)
    counts = MarketMachine.counts
    print(f"stateful: {dict(counts)}")
    # The run must have exercised the market, not just idled.
    assert counts["rules"] >= TARGET_STEPS
    assert (
        counts["settled"] > 0 and counts["orders"] > counts["settled"] and counts["traded_wh"] > 0
    )
    assert counts["readings"] > 0 and counts["imbalances"] > 0 and counts["periods"] > 0
    assert counts["exits"] > 0 and counts["debts"] > 0
    assert counts["tariffs"] > 0 and counts["tariffs_refused"] > 0 and counts["capped"] > 0
    assert all(counts[f"slots_{mode}"] > 0 for mode in ("uniform", "pay-as-bid", "community"))
    assert counts["flex_settled"] > 0 and counts["flex_offers"] > 0
