"""Run a community on a real chain, slot by slot, through the real components.

Per slot `s` (time is moved with the node's `evm_increaseTime`, never slept):

1. each agent's orders for `s` are signed by the member's own key as EIP-712 intents and put in
   the intent pool (intents/pool.py), as the wallet API does; no transaction;
2. past `s`'s gate closure the matcher service (`matcher.service.Matcher`) takes them from the
   pool, clears and settles the slot in one transaction that carries them;
3. the agents learn their fills (the rulebook's clearing of the book the chain settled, checked
   against the settlement), run the slot (home and community batteries move) and their meters
   measure import and export;
4. the orders for `s + 1` are placed (its gate is still open);
5. time moves past the end of `s`; every meter signs its reading, the oracle relays them in one
   batch, and the matcher service settles `s`'s imbalance against them.
   The readings go through the meter oracle (`oracle/`): each signed on the meter's side with
   its own key (`oracle.meter.signing.sign_reading`) into the outbox, sent by the relay (which
   holds no meter key; exactly once), and checked against the chain's readings commitment.
   With `span_slots` > 1 (whole days: `sim.chainrun`), each meter signs its readings once per
   span instead (`sign_span`, e.g. a day), the relay sends every meter's span in one
   `submitReadingSpans`, and the matcher settles the span's slots' imbalance after it;
6. at the end of a billing period the DSO closes it: profit sharing, the service fee and each
   lessee's part of the battery lease (set on-chain at set-up, `ProfitSharing.setLease`); the
   battery's trading result is paid out to (or, if it lost, pulled from) its lessees in
   proportion to their shares, in one transaction.

Everything the report needs is recorded on the way; the tokens are checked against the chain at
the end (every member's balance change must equal its bill, and supply must be conserved).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, cast

from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from audit.checks import audit
from audit.fetch import fetch_events, fetch_state
from audit.model import Report as AuditReport
from chain.gateway import (
    CommunityGateway,
    EnergyTokenGateway,
    FlexibilityGateway,
    ImbalanceGateway,
    OrderBookGateway,
    PeriodClosed,
    ProfitSharingGateway,
    ReadingsGateway,
    SettlementGateway,
)
from chain.intents import Intent, SignedIntent, sign_intent
from chain.metering import pack_reading_word, readings_hash
from chain.node import ContractCall, Node, Receipt, Sender
from chain.settled import read_settled
from chain.submission import to_submission
from intents.pool import IntentPool
from market.billing import Bill, OrderSettlement, bill, settle_order, sum_bills
from market.clearing import Mode, clear
from market.orders import Side
from market.statement import Statement, dso_statement, member_statements
from market.tariff import SlotRules, Tariff
from market.units import NANO_PER_EUR, Wh
from matcher.service import Matcher
from oracle import outbox
from oracle.meter.signing import Domain, sign_reading, sign_span
from oracle.relay import Relay
from oracle.samples import meter_id
from oracle.slots import SlotEnergy
from sim.agents import (
    BatteryAgent,
    HouseholdAgent,
    MeterFlow,
    OrderPlan,
    make_strategy,
    split_by_shares,
)
from sim.community import Community
from sim.profiles import HouseholdProfile

# The agents' intents carry no deadline of their own (a constant far beyond any run), so that the
# dry run, which knows no genesis, computes the same intent ids (the tie-breaking ranks) as the
# chain run: an id depends on owner, slot, terms, epoch and deadline, never on the domain.
SIM_INTENT_DEADLINE = 2**40 - 1


def plan_intent(owner: str, slot: int, plan: OrderPlan) -> Intent:
    """An agent's order plan for chain slot `slot` as the intent its member signs."""
    return Intent(owner, slot, plan.side.value, plan.energy_wh, plan.price, 0, SIM_INTENT_DEADLINE)


GAS_MONEY_WEI = 10**18  # 1 ether of gas money per member wallet (development chains)
MANDATE = 2**256 - 1  # a lessee's standing mandate (ERC-20 allowance), revocable
MANDATE_GAS = 60_000  # an approve's gas limit (no estimate)
DSO_GAS = 1_000_000  # the gas limit of the DSO's set-up transactions (no estimate)


@dataclass(frozen=True)
class Roles:
    """Node accounts with the deployment's roles (scripts/deploy.py on a development chain)."""

    dso: str
    oracle: str
    matcher: str
    fee_account: str
    network_account: str
    supply_account: str

    @classmethod
    def dev(cls, accounts: Sequence[str]) -> Roles:
        return cls(accounts[0], accounts[1], accounts[2], accounts[3], accounts[4], accounts[8])


@dataclass
class Member:
    name: str
    role: str
    key: str
    meter: str
    """The meter's name in the oracle (its on-chain id is `oracle.samples.meter_id(meter)`)."""
    meter_key: str
    agent: HouseholdAgent | BatteryAgent
    sender: Sender = field(init=False)
    nonce: int = 0
    """Transactions this member's wallet has sent (the runner is its only sender)."""

    def __post_init__(self) -> None:
        self.sender = Sender.from_key(self.key)

    @property
    def address(self) -> str:
        return self.sender.address


@dataclass
class MemberLedger:
    """What happened to one member during the run."""

    bills: list[Bill] = field(default_factory=list)
    load_wh: int = 0
    pv_wh: int = 0
    import_wh: int = 0
    export_wh: int = 0
    service_fees: int = 0
    profit_share: int = 0
    lease_paid: int = 0
    battery_result: int = 0
    """Battery trading result credited (+) or collected (-) as a lessee."""
    topped_up: int = 0
    flex_net: int = 0
    """DSO flexibility: payments received minus penalties collected (sim/flex.py)."""
    balance_start: int = 0
    balance_end: int = 0

    def total(self) -> Bill:
        return sum_bills(self.bills, self.service_fees)

    @property
    def net_cost(self) -> int:
        """Everything the member paid (negative: earned), lease and battery result included."""
        return (
            self.total().net_cost
            - self.profit_share
            + self.lease_paid
            - self.battery_result
            - self.flex_net
        )

    @property
    def savings(self) -> int:
        return self.total().bau_cost - self.net_cost

    @property
    def chain_delta_matches(self) -> bool:
        """Its on-chain balance moved by exactly what the bill says (no debt in a normal run)."""
        return self.balance_end - self.balance_start - self.topped_up == -self.net_cost


@dataclass
class SlotLog:
    slot: int
    price: int | None
    volume_wh: int
    orders: int
    load_wh: int = 0
    pv_wh: int = 0
    import_wh: int = 0
    """Metered import of all members (the community battery included)."""
    export_wh: int = 0


@dataclass
class PeriodLog:
    period: int
    platform_fees: int
    pool: int
    battery_result: int
    lease: int


@dataclass
class RunResult:
    community: Community
    days: int
    members: list[Member]
    ledgers: dict[str, MemberLedger]
    slots: list[SlotLog]
    periods: list[PeriodLog]
    rules: SlotRules
    dso_income: dict[str, int]
    supply_conserved: bool
    audit: AuditReport | None
    """The independent audit of the run's chain (audit/, from events alone); None: dry run."""
    transactions: int
    seconds: float
    first_slot_start: int
    deployment: str | None = None
    """The text of the run's deployment manifest (`<deployments_dir>/<network>.json`), read
    before a `dev` chain and its temporary folder are removed; None: dry run."""
    setup_transactions: int = 0
    """Of `transactions`, those sent before the first slot (members, meters, gas money, floats)."""
    statements: dict[str, Statement] | None = None
    """Each member's statement of account over the run's slots, from the chain's events
    (`market.statement`); None: dry run."""
    dso_statement: Statement | None = None


Progress = Callable[[int, int], None]


class RunHooks(Protocol):
    """What a scenario adds to a chain run (sim/flex.py), at three points of `Runner.run`."""

    def before_slot(self, runner: Runner, index: int) -> None:
        """At the start of sim slot `index`, before its trades settle (its gate is open)."""

    def shift(self, runner: Runner, index: int) -> Mapping[str, Wh]:
        """After sim slot `index`'s trades settled, before delivery: extra net import (Wh,
        negative: less import or more export) per member name (see `shift_flow`)."""

    def after_slots(self, runner: Runner) -> None:
        """After the last slot's imbalance, before balances, conservation and the audit."""


def _batch_gas(entries: int) -> int:
    """The gas limit of a token batch (`transferBatch`, `transferFromBatch`) of `entries`: a fixed
    part and two balance writes, an allowance read and an event each, with room (no estimate)."""
    return 60_000 + 40_000 * entries


def _key(label: str) -> str:
    return "0x" + keccak(text=label).hex()


def deliver_battery(agent: BatteryAgent, settlements: list[OrderSettlement]) -> MeterFlow:
    """The community battery runs its fills (and values its stock at what it paid)."""
    buys = [s for s in settlements if s.side is Side.BUY]
    return agent.deliver(
        sum(s.filled_wh for s in buys),
        sum(s.filled_wh for s in settlements if s.side is Side.SELL),
        sum(s.paid_by_member for s in buys),
    )


def shift_flow(flow: MeterFlow, delta: Wh) -> MeterFlow:
    """The flow with `delta` Wh more net import: less import first, then more export (delta < 0);
    less export first, then more import (delta > 0)."""
    if delta < 0:
        cut = min(flow.import_wh, -delta)
        return MeterFlow(flow.import_wh - cut, flow.export_wh - delta - cut)
    cut = min(flow.export_wh, delta)
    return MeterFlow(flow.import_wh + delta - cut, flow.export_wh - cut)


def deliver_slot(
    members: list[Member],
    profiles: Mapping[str, HouseholdProfile],
    ledgers: Mapping[str, MemberLedger],
    tariff: Tariff,
    index: int,
    settlements: Mapping[str, list[OrderSettlement]],
    log: SlotLog,
    shift: Mapping[str, Wh] | None = None,
) -> dict[str, MeterFlow]:
    """Sim slot `index` delivered: each member's metered flow (households from their profiles,
    the battery from its fills), recorded with the slot's bill in its ledger and in `log`.
    `shift`: extra net import per member name (a scenario's response, e.g. flexibility); the
    agents' own state does not see it, the meters and the bills do."""
    flows: dict[str, MeterFlow] = {}
    for m in members:
        mine = settlements.get(m.address, [])
        ledger = ledgers[m.name]
        if isinstance(m.agent, HouseholdAgent):
            p = profiles[m.name]
            flow = m.agent.deliver(p.load_wh[index], p.pv_wh[index])
            ledger.load_wh += p.load_wh[index]
            ledger.pv_wh += p.pv_wh[index]
            log.load_wh += p.load_wh[index]
            log.pv_wh += p.pv_wh[index]
        else:
            flow = deliver_battery(m.agent, mine)
        if shift and shift.get(m.name):
            flow = shift_flow(flow, shift[m.name])
        ledger.import_wh += flow.import_wh
        ledger.export_wh += flow.export_wh
        log.import_wh += flow.import_wh
        log.export_wh += flow.export_wh
        ledger.bills.append(bill(tariff, flow.export_wh - flow.import_wh, mine))
        flows[m.address] = flow
    return flows


def placement_order(members: list[Member], index: int) -> list[Member]:
    """Members in the order their orders are placed for sim slot `index`: shuffled per slot by
    a hash of the slot and the address (deterministic), so that equal prices (ties go to the
    lower id) do not always favour the same member."""
    return sorted(members, key=lambda m: keccak(text=f"{index}:{m.address}"))


def book_value(runner_balance: int, member: Member | None) -> int:
    """The battery's tokens plus its stock at cost: its result is the change of this."""
    if member is None or not isinstance(member.agent, BatteryAgent):
        return 0
    return runner_balance + member.agent.stock_cost


def _member(
    community: Community, name: str, role: str, agent: HouseholdAgent | BatteryAgent, index: int
) -> Member:
    label = f"{community.name}/{index}/{name}"
    wallet, meter_key = _key(f"wallet:{label}"), _key(f"meter:{label}")
    return Member(name, role, wallet, f"sim-{index:04d}", meter_key, agent)


class _NoEstimate:
    """The node as the oracle's relay sees it here: transactions are sent with the block's gas
    limit instead of an estimate (ganache re-executes a transaction many times to estimate it,
    which cost about 0.3 s per slot's reading batch; unused gas is not charged). As with the
    matcher's settlement, a revert is then found in the mined receipt, with the same error."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._gas = node.block_gas_limit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    def transact(self, fn: ContractCall, sender: Sender, **kwargs: Any) -> Receipt:
        kwargs.setdefault("gas", self._gas)
        return self._node.transact(fn, sender, **kwargs)


class Runner:
    """Drives one deployed community (`node`) through `days` days of `profiles`."""

    def __init__(
        self,
        node: Node,
        community: Community,
        profiles: dict[str, HouseholdProfile],
        roles: Roles,
        outbox_url: str,
        audit_batch_blocks: int = 2000,
        hooks: RunHooks | None = None,
        intent_pool_url: str = "sqlite://",
        span_slots: int = 1,
        imbalance_carry_slots: int = 0,
    ) -> None:
        if span_slots < 1:
            raise ValueError(f"span_slots must be at least 1, not {span_slots}")
        self.span_slots = span_slots
        self._open: dict[str, list[SlotEnergy]] = {}  # per meter: slots not signed yet (spans)
        self._open_words: dict[int, list[int]] = {}  # per slot of the open span: reading words
        self.node = node
        self.hooks = hooks
        self.audit_batch_blocks = audit_batch_blocks
        self.community = community
        self.profiles = profiles
        self.roles = roles
        self.token = EnergyTokenGateway(node)
        self.community_gw = CommunityGateway(node)
        self.order_book = OrderBookGateway(node)
        self.readings = ReadingsGateway(node)
        self.imbalance = ImbalanceGateway(node)
        self.profit_sharing = ProfitSharingGateway(node)
        self.settlement = SettlementGateway(node)
        self.flexibility = (
            FlexibilityGateway(node) if "Flexibility" in node.manifest.contracts else None
        )
        self.pool = IntentPool(intent_pool_url)
        self._placed: dict[int, int] = {}  # intents signed per chain slot
        self.matcher = Matcher(
            node, Sender(roles.matcher), self.pool, imbalance_carry_slots=imbalance_carry_slots
        )
        # Periods ended and not closed yet (their settlement against meters is carried by the
        # next slot settlements): (period, the battery's book value at its end).
        self._closing: list[tuple[int, int]] = []
        self._battery_start = 0  # the battery's book value at the open period's start
        self.members = self.make_members(community)
        self.ledgers = {m.name: MemberLedger() for m in self.members}
        self.transactions = 0
        self._topups = 0
        self.account_topups: dict[str, int] = {}
        """Tokens minted to the DSO's own accounts during the run (left out of its income)."""
        self._now = 0  # latest block time this runner moved the chain to
        self.battery = next((m for m in self.members if m.role == "battery"), None)
        self.by_address = {m.address: m for m in self.members}
        self.outbox = outbox.open_outbox(outbox_url)
        self.relay = Relay(
            self.outbox,
            cast(Node, _NoEstimate(node)),
            Sender(roles.oracle),
            self.matcher.calendar(),
            batch_size=max(100, len(self.members)),
        )
        self.rules = self.community_gw.rules_at(0)

    @staticmethod
    def make_members(community: Community) -> list[Member]:
        """The households' and the battery's members: agents, wallets and meter keys. Keys are
        derived from the community's name and the member's position (development chains)."""
        strategy = make_strategy(community.strategy)
        members: list[Member] = []
        for i, h in enumerate(community.households):
            agent = HouseholdAgent(h, strategy, community.slot_minutes)
            members.append(_member(community, h.name, h.role, agent, i))
        if community.battery is not None:
            agent_b = BatteryAgent(community.battery, community.strategy, community.slot_minutes)
            members.append(_member(community, community.battery.name, "battery", agent_b, 9999))
        return members

    # -- transactions ------------------------------------------------------------------------

    def member_nonce(self, member: Member) -> int:
        """Count one more transaction from `member`'s wallet and return its nonce (the wallet
        counts its own: the runner is its only sender)."""
        self.transactions += 1
        member.nonce += 1
        return member.nonce - 1

    def dso_tx(self) -> Sender:
        """Count one more transaction from the DSO's account and return that account."""
        self.transactions += 1
        return Sender(self.roles.dso)

    def balance(self, address: str) -> int:
        return self.token.balance_of(address)

    def top_up(self, member: Member, amount: int) -> None:
        self._topups += 1
        ref = keccak(text=f"sim-topup:{member.address}:{self._topups}")
        self.token.top_up(member.address, amount, ref, sender=self.dso_tx(), gas=DSO_GAS)
        self.ledgers[member.name].topped_up += amount

    # -- setup -------------------------------------------------------------------------------

    def register(self) -> None:
        """Members, meters, gas money, prepaid tokens; a float for the supply account."""
        lock_in = self.community.lock_in_days * self.community.slots_per_day
        dso = Sender(self.roles.dso)
        for m in self.members:
            self.community_gw.register_member(
                m.address, m.role, lock_in, sender=self.dso_tx(), gas=DSO_GAS
            )
            signer = Account.from_key(m.meter_key).address
            self.community_gw.register_meter(
                meter_id(m.meter), m.address, signer, sender=self.dso_tx(), gas=DSO_GAS
            )
            self.node.send_value(dso, m.address, GAS_MONEY_WEI)
            self.transactions += 1
        for m in self.members:
            self.ledgers[m.name].balance_start = self.balance(m.address)
            if m is self.battery and self.community.battery is not None:
                self.top_up(m, self.community.battery.float_eur * NANO_PER_EUR)
            else:
                self.top_up(m, self.community.top_up_eur * NANO_PER_EUR)
        ref = keccak(text=f"sim-supply-float:{self.community_gw.address}")
        self.token.top_up(
            self.roles.supply_account,
            10_000 * NANO_PER_EUR,
            ref,
            sender=self.dso_tx(),
            gas=DSO_GAS,
        )
        self.authorise_mandates()
        self.set_leases()

    def top_up_account(self, address: str, amount: int, label: str) -> None:
        """Mint `amount` to one of the DSO's accounts (e.g. a flexibility budget)."""
        ref = keccak(text=f"sim-{label}:{self.community_gw.address}:{address}")
        self.token.top_up(address, amount, ref, sender=self.dso_tx(), gas=DSO_GAS)
        self.account_topups[address] = self.account_topups.get(address, 0) + amount

    def refill(self) -> None:
        """Top up every household whose balance fell below half its top-up."""
        amount = self.community.top_up_eur * NANO_PER_EUR
        for m in self.members:
            if m is not self.battery and self.balance(m.address) < amount // 2:
                self.top_up(m, amount)

    # -- one slot ----------------------------------------------------------------------------

    def _hour(self, index: int) -> int:
        return (index * self.community.slot_minutes) // 60 % 24

    def place_orders(self, slot: int, index: int) -> int:
        """Every agent's orders for chain slot `slot` (sim slot `index`), signed as intents into
        the pool. Returns the count."""
        tariff, hour, count = self.rules.tariff, self._hour(index), 0
        chain_id, settlement = self.node.manifest.chain_id, self.settlement.address
        now = self.node.block_timestamp()
        for m in placement_order(self.members, index):
            if isinstance(m.agent, HouseholdAgent):
                p = self.profiles[m.name]
                plans = m.agent.orders(tariff, hour, p.load_wh[index], p.pv_wh[index])
            else:
                plans = m.agent.orders(tariff, hour)
            for plan in plans:
                intent = plan_intent(m.address, slot, plan)
                signature = sign_intent(intent, chain_id, settlement, m.key)
                self.pool.add(SignedIntent(intent, signature), now)
                count += 1
        self._placed[slot] = count
        return count

    def move_to(self, timestamp: int) -> None:
        """Move chain time to `timestamp` unless it is there already (one mined block)."""
        if self._now < timestamp:
            self._now = self.node.advance_time(timestamp - self.node.block_timestamp())

    def settle_trades(self, slot: int) -> tuple[SlotLog, dict[str, list[OrderSettlement]]]:
        self.move_to(self.matcher.calendar().gate_closure(slot) + 1)
        settled = self.matcher.run_once()
        self.transactions += len(settled) + self.matcher.last_imbalance_pass.transactions
        return self.checked_clearing(slot)

    def checked_clearing(self, slot: int) -> tuple[SlotLog, dict[str, list[OrderSettlement]]]:
        """The rulebook's clearing of the book the chain settled (direct orders and the intents
        the settlement carried), checked against the settlement, and each owner's settled
        orders. Every intent the agents signed must have been carried."""
        book, fills = self.matcher.settled_book(slot)
        if len(book.ids) != self._placed.get(slot, len(book.ids)):
            raise RuntimeError(f"slot {slot}: the settlement left out intents the agents signed")
        mode = Mode(self.rules.mode)
        orders = book.open_orders()
        pc = self.rules.tariff.community_price if mode is Mode.COMMUNITY else None
        clearing = clear(orders, mode, pc)
        onchain = self.settlement.clearing_of(slot)
        expected = to_submission(book, clearing)
        if not onchain.settled or expected.fills != fills or onchain.mode != mode.value:
            raise RuntimeError(f"slot {slot}: the chain's settlement differs from the rulebook's")
        by_owner: dict[str, list[OrderSettlement]] = {}
        for order in orders:
            fill = clearing.fills[order.id]
            by_owner.setdefault(to_checksum_address(order.owner), []).append(
                settle_order(self.rules.tariff, order, fill)
            )
        log = SlotLog(slot, clearing.clearing_price, clearing.volume_wh, len(book.ids))
        return log, by_owner

    def settle_readings(self, slot: int, flows: dict[str, MeterFlow]) -> None:
        """After delivery: every meter signs its reading into the oracle's outbox, the oracle's
        relay sends them (one batch), and the matcher service settles the slot's imbalance.
        With spans, the slot's readings wait for the span's last slot (`run` relays a span the
        run's end cut short); then every meter signs its span, and the span's slots settle."""
        calendar = self.matcher.calendar()
        self.move_to(calendar.genesis + (slot + 1) * calendar.slot_seconds + 1)
        if self.span_slots > 1:
            self.open_readings(slot, flows)
            if (slot + 1) % self.span_slots == 0:
                self.relay_spans()
            return
        rows, words = self.signed_readings(slot, flows)
        with self.outbox.begin() as conn:
            outbox.add_readings(conn, rows)
        stats = self.relay.run_once()
        self.transactions += stats.transactions
        if stats.sent != len(rows) or stats.quarantined:
            raise RuntimeError(f"slot {slot}: the relay sent {stats.sent} of {len(rows)} readings")
        self.check_readings(slot, words)
        self.settle_imbalances([slot])

    def settle_imbalances(self, slots: list[int]) -> None:
        """The matcher's own imbalance step; every one of `slots` must be settled by it, or,
        if the matcher carries them in its slot settlements, by the run's end
        (`finish_imbalances`)."""
        settled = self.matcher.settle_imbalances(keep=self.matcher.imbalance_carry_slots)
        self.transactions += settled.transactions
        if self.matcher.router_gw is not None:
            return
        missing = sorted(set(slots) - set(settled.slots))
        if missing:
            raise RuntimeError(f"slots {missing}: the matcher did not settle their imbalance")

    def finish_imbalances(self, last: int) -> list[PeriodLog]:
        """At the run's end, what the slot settlements were left to carry is settled now, and
        the periods waiting for it are closed."""
        if self.matcher.router_gw is None:
            return []
        self.transactions += self.matcher.settle_imbalances().transactions
        if self.imbalance.next_slot() <= last:
            raise RuntimeError(f"slots up to {last}: the matcher did not settle their imbalance")
        return self.close_settled_periods()

    def open_readings(self, slot: int, flows: dict[str, MeterFlow]) -> None:
        """Each meter measured `slot`: kept (on the meter's side) until its span is signed."""
        words: list[int] = []
        for m in sorted(self.members, key=lambda m: m.meter):  # the relay's order in a slot
            flow = flows[m.address]
            self._open.setdefault(m.meter, []).append(
                SlotEnergy(m.meter, slot, flow.import_wh, flow.export_wh)
            )
            words.append(pack_reading_word(m.address, flow.import_wh, flow.export_wh))
        self._open_words[slot] = words

    def relay_spans(self) -> None:
        """Every meter signs its open span (`sign_span`, on the meter's side, its own key) into
        the outbox; the relay sends them; the chain's commitment of each of the span's slots is
        checked and the matcher settles their imbalance."""
        domain = Domain(self.node.manifest.chain_id, self.readings.address)
        rows = [
            sign_span(self._open[m.meter], m.meter_key, domain)
            for m in sorted(self.members, key=lambda m: m.meter)
        ]
        with self.outbox.begin() as conn:
            outbox.add_spans(conn, rows)
        stats = self.relay.run_once()
        self.transactions += stats.transactions
        expected = sum(len(v) for v in self._open.values())
        if stats.sent != expected or stats.quarantined:
            raise RuntimeError(f"the relay sent {stats.sent} of {expected} span readings")
        for slot, words in self._open_words.items():
            self.check_readings(slot, words)
        self.settle_imbalances(list(self._open_words))
        self._open.clear()
        self._open_words.clear()

    def signed_readings(
        self, slot: int, flows: dict[str, MeterFlow]
    ) -> tuple[list[dict[str, object]], list[int]]:
        """Every meter's signed reading of the slot as outbox rows, in the relay's order, and
        the reading words the chain commits to."""
        domain = Domain(self.node.manifest.chain_id, self.readings.address)
        return signed_slot_readings(self.members, slot, flows, domain)

    def check_readings(self, slot: int, words: list[int]) -> None:
        """The chain's reading commitment for the slot equals the meters' readings."""
        committed = self.readings.slot_readings(slot)
        if committed.count != len(words) or committed.readings_hash != readings_hash(words):
            raise RuntimeError(f"slot {slot}: the chain's readings differ from the meters'")

    # -- periods -----------------------------------------------------------------------------

    def close_settled_periods(self) -> list[PeriodLog]:
        """Close each ended period whose every slot is settled against the meters, in order."""
        closed: list[PeriodLog] = []
        while self._closing and self.imbalance.next_slot() >= (
            (self._closing[0][0] + 1) * self.community.period_slots
        ):
            closed.append(self.close_period(*self._closing.pop(0)))
        return closed

    def close_period(self, period: int, battery_end: int) -> PeriodLog:
        """Close `period` (`battery_end`: the battery's book value at the period's end). The
        battery's result shared by its lessees is its book value's change over the period and
        through the close's billing (its service fee and profit share), as if the close had come
        at the period's end: the slots traded since belong to the next period."""
        before = self._battery_value()
        members = sorted((m.address for m in self.members), key=lambda a: int(a, 16))
        size = self.profit_sharing.max_chunk()
        closed: list[PeriodClosed] = []
        lease = 0
        # In chunks of at most maxChunk members, ascending: the last call closes the period. Each
        # member is charged its service fee and, a lessee, its part of the battery's lease.
        for start in range(0, max(len(members), 1), size):
            close = self.profit_sharing.close_period(
                period,
                members[start : start + size],
                sender=self.dso_tx(),
                gas=self.node.block_gas_limit(),
            )
            closed += [close.closed] if close.closed is not None else []
            for billed in close.billed:
                ledger = self.ledgers[self.by_address[billed.member].name]
                ledger.profit_share += billed.share
                ledger.service_fees += billed.service_fee
                ledger.lease_paid += billed.lease
                lease += billed.lease
        result = 0
        spec = self.community.battery
        if self.battery is not None and spec is not None and spec.lessees:
            result = battery_end + self._battery_value() - before - self._battery_start
            shares = [x.share_bps for x in spec.lessees]
            lessees = [self._household(x.household) for x in spec.lessees]
            parts = list(zip(lessees, split_by_shares(result, shares), strict=True))
            # What the battery earned, to its lessees in one transaction; a loss, pulled from them
            # in one transaction against their mandates.
            gains = [(lessee.address, part) for lessee, part in parts if part > 0]
            losses = [(lessee.address, -part) for lessee, part in parts if part < 0]
            if gains:
                nonce = self.member_nonce(self.battery)
                self.token.transfer_batch(
                    gains, sender=self.battery.sender, gas=_batch_gas(len(gains)), nonce=nonce
                )
            if losses:
                nonce = self.member_nonce(self.battery)
                self.token.transfer_from_batch(
                    losses, sender=self.battery.sender, gas=_batch_gas(len(losses)), nonce=nonce
                )
            for lessee, part in parts:
                self.ledgers[lessee.name].battery_result += part
                self.ledgers[self.battery.name].battery_result -= part
        self._battery_start = battery_end + self._battery_value() - before
        (last,) = closed
        return PeriodLog(period, last.platform_fees, last.pool, result, lease)

    def authorise_mandates(self) -> None:
        """Each battery lessee's standing mandate, given once from its wallet: the battery may
        pull its share of a loss (`EnergyToken.transferFromBatch`), so that no household sends a
        transaction each period. Unlimited, like a recurring direct-debit mandate; a lessee
        revokes it with `approve(battery, 0)`."""
        spec = self.community.battery
        if self.battery is None or spec is None:
            return
        for lessee in (self._household(x.household) for x in spec.lessees):
            nonce = self.member_nonce(lessee)
            self.token.approve(
                self.battery.address, MANDATE, sender=lessee.sender, gas=MANDATE_GAS, nonce=nonce
            )

    def set_leases(self) -> None:
        """The battery's lease split among its lessees by share, each part charged by every
        period's close (`ProfitSharing.setLease`, a DSO action)."""
        spec = self.community.battery
        if self.battery is None or spec is None or not spec.lessees:
            return
        shares = [x.share_bps for x in spec.lessees]
        parts = split_by_shares(spec.lease_per_period, shares)
        for x, part in zip(spec.lessees, parts, strict=True):
            member = self._household(x.household)
            self.profit_sharing.set_lease(member.address, part, sender=self.dso_tx(), gas=DSO_GAS)

    def audit(self, last_slot: int) -> tuple[AuditReport, dict[str, Statement], Statement]:
        """Run the auditor (audit/) over every event of the deployment, as `gridshare audit`,
        and build every member's statement of account and the DSO's from the same events
        (`market.statement`, as the API does from the index), over slots 0..`last_slot`."""
        head = self.node.block_number()
        events = fetch_events(self.node, head, self.audit_batch_blocks)
        report = audit(events, fetch_state(self.node, events, head))
        chain = read_settled(events)
        period, last = self.community.period_slots, max(0, last_slot)
        by_address = member_statements(
            [m.address for m in self.members],
            chain,
            period,
            0,
            last,
        )
        statements = {m.name: by_address[m.address] for m in self.members}
        dso = dso_statement(chain, period, 0, last)
        return report, statements, dso

    def _battery_value(self) -> int:
        if self.battery is None:
            return 0
        return book_value(self.balance(self.battery.address), self.battery)

    def _household(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    # -- the run -----------------------------------------------------------------------------

    def run(
        self,
        days: int,
        progress: Progress | None = None,
        start: int = 0,
        max_slots: int | None = None,
    ) -> RunResult:
        """Run sim slots `start` .. `days` x slots per day; chain slot 0 is sim slot `start`
        (a run may begin during day 1, e.g. when only its evening is needed). `max_slots`: stop
        after this many slots (a short check of a long run's set-up, e.g. bench/year.py's)."""
        started = time.monotonic()
        dso_accounts = {
            "fee account": self.roles.fee_account,
            "network charges": self.roles.network_account,
            "supply (retail - feed-in)": self.roles.supply_account,
        }
        dso_before = {k: self.balance(a) for k, a in dso_accounts.items()}
        self.register()
        setup_transactions = self.transactions
        dso_before["supply (retail - feed-in)"] += 10_000 * NANO_PER_EUR  # its float
        per_day = self.community.slots_per_day
        total = days * per_day
        if max_slots is not None:
            if not 0 < max_slots <= total - start:
                raise ValueError(f"max_slots must be 1..{total - start}, not {max_slots}")
            total = start + max_slots
        first = 0
        first_start = self.community_gw.slot_start(first)
        if self.node.block_timestamp() >= self.community_gw.gate_closure(first):
            raise RuntimeError("the chain's clock is past the first slot's gate: use a fresh node")
        slots: list[SlotLog] = []
        periods: list[PeriodLog] = []
        self._battery_start = self._battery_value()
        self.place_orders(first, start)
        for index in range(start, total):
            slot = first + index - start
            if self.hooks is not None:
                self.hooks.before_slot(self, index)
            log, settlements = self.settle_trades(slot)
            slots.append(log)
            shift = self.hooks.shift(self, index) if self.hooks is not None else None
            flows = deliver_slot(
                self.members, self.profiles, self.ledgers, self.rules.tariff, index,
                settlements, log, shift,
            )  # fmt: skip
            if index + 1 < total:
                self.place_orders(slot + 1, index + 1)
            self.settle_readings(slot, flows)
            if (slot + 1) % self.community.period_slots == 0:
                period = slot // self.community.period_slots
                self._closing.append((period, self._battery_value()))
            periods += self.close_settled_periods()
            if (index + 1) % per_day == 0 and index + 1 < total:
                self.refill()
            if progress is not None:
                progress(index + 1 - start, total - start)
        if self._open:
            self.relay_spans()
        periods += self.finish_imbalances(first + total - start - 1)
        if self.hooks is not None:
            self.hooks.after_slots(self)
        for m in self.members:
            self.ledgers[m.name].balance_end = self.balance(m.address)
        dso_income = {
            k: self.balance(a) - dso_before[k] - self.account_topups.get(a, 0)
            for k, a in dso_accounts.items()
        }
        dso_income["battery lease"] = sum(p.lease for p in periods)  # into the fee account
        supply = self.token.total_supply()
        held = sum(self.balance(a) for a in set(dso_accounts.values()))
        held += sum(self.ledgers[m.name].balance_end for m in self.members)
        held += self.balance(self.order_book.address)
        if self.flexibility is not None:  # budgets of requests not settled yet
            held += self.balance(self.flexibility.address)
        report, statements, dso_statement_ = self.audit(total - start - 1)
        return RunResult(
            community=self.community,
            days=days,
            members=self.members,
            ledgers=self.ledgers,
            slots=slots,
            periods=periods,
            rules=self.rules,
            dso_income=dso_income,
            supply_conserved=supply == held,
            audit=report,
            statements=statements,
            dso_statement=dso_statement_,
            transactions=self.transactions,
            seconds=time.monotonic() - started,
            first_slot_start=first_start,
            setup_transactions=setup_transactions,
        )


def signed_slot_readings(
    members: Sequence[Member], slot: int, flows: Mapping[str, MeterFlow], domain: Domain
) -> tuple[list[dict[str, object]], list[int]]:
    """Every meter's reading of `slot` signed on the meter's side with its own key, as outbox
    rows in the relay's order (by meter), and the reading words the chain commits to."""
    rows: list[dict[str, object]] = []
    words: list[int] = []
    for m in sorted(members, key=lambda m: m.meter):
        flow = flows[m.address]
        energy = SlotEnergy(m.meter, slot, flow.import_wh, flow.export_wh)
        rows.append(sign_reading(energy, m.meter_key, domain))
        words.append(pack_reading_word(m.address, flow.import_wh, flow.export_wh))
    return rows, words


def genesis_for(now: int, margin_seconds: int = 900) -> int:
    """The chain's slot 0 for a new run: the next UTC midnight at least `margin_seconds` away,
    so that registration happens before the first gate closes and day 1 starts at 00:00."""
    midnight = now - now % 86_400 + 86_400
    return midnight if midnight - now >= margin_seconds else midnight + 86_400


def profile_date_of(community: Community, index: int) -> str:
    day = community.start_date + timedelta(days=index // community.slots_per_day)
    return day.isoformat()
