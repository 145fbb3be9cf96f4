"""The replay's shared state and dispatch: the chain's state at the audited block, what the
events built so far, the current transaction's index, and the helpers every domain's rules use
(`find`, `address`, `rules_at`, `check_collect`). Each `on_<Event>` handler lives with its
domain (`audit.rules.*`); `run` calls it for every event in chain order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from audit.model import ChainState, Event, Finding
from chain.flexibility import FlexRequest
from market.flexibility import FlexOffer, FlexOutcome
from market.orders import Side
from market.tariff import SlotRules

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass(slots=True)
class BookOrder:
    id: int
    owner: str
    side: Side
    energy_wh: int
    price: int
    escrow: int
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class SettledSlot:
    mode: str
    price: int
    volume_wh: int
    trade_words: list[int]
    platform_fees: int


@dataclass
class AuditState:
    state: ChainState
    findings: list[Finding] = field(default_factory=list)
    schedule: list[tuple[int, SlotRules | None]] = field(default_factory=list)
    fee_account: str = ZERO_ADDRESS
    network_account: str = ZERO_ADDRESS
    supply_account: str = ZERO_ADDRESS
    exit_penalty: int = 0
    members: set[str] = field(default_factory=set)
    roles: dict[str, int] = field(default_factory=dict)
    epochs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    intent_slot: dict[int, int] = field(default_factory=dict)
    """Intent id -> the slot whose settlement carried it."""
    block_times: dict[int, int] = field(default_factory=dict)
    """Block -> its time (ChainState.block_times)."""
    meters: dict[str, str] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    supply: int = 0
    minted: int = 0
    burned: int = 0
    debts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    books: dict[int, list[BookOrder]] = field(default_factory=lambda: defaultdict(list))
    order_slot: dict[int, tuple[int, int]] = field(default_factory=dict)
    open_escrow: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    settled: dict[int, SettledSlot] = field(default_factory=dict)
    readings: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    """Slot -> its reading words (every chunk), in acceptance order."""
    chunk_readings: dict[tuple[int, int], list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )
    """(slot, chunk) -> the reading words of the chunk's members, in acceptance order."""
    member_chunk: dict[str, int] = field(default_factory=dict)
    chunk_from: dict[int, int] = field(default_factory=dict)
    """Chunk -> its first slot (ChunkOpened)."""
    chunk_next: dict[int, int] = field(default_factory=dict)
    """Chunk -> the next slot its imbalance settles (after its SlotDigest events so far)."""
    readings_closed: set[tuple[int, int]] = field(default_factory=set)
    pending_imbalance: dict[tuple[int, int], list[Event]] = field(
        default_factory=lambda: defaultdict(list)
    )
    digests: dict[tuple[int, int], str] = field(default_factory=dict)
    period_fees: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    period_export: dict[int, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    periods: list[int] = field(default_factory=list)
    # Per period being closed: the PeriodBilled (member, export) so far, in order.
    billed: dict[int, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))
    leases: dict[str, int] = field(default_factory=dict)
    """Member -> the battery lease it is charged at each close (its last LeaseSet)."""
    flex_penalty: int = 0
    flex_requests: dict[int, FlexRequest] = field(default_factory=dict)
    flex_offers: dict[int, list[FlexOffer]] = field(default_factory=lambda: defaultdict(list))
    flex_accepted: dict[int, list[int]] = field(default_factory=dict)
    flex_outcomes: dict[int, dict[int, FlexOutcome]] = field(default_factory=dict)
    flex_settled: set[int] = field(default_factory=set)
    flex_nonces: set[tuple[str, int]] = field(default_factory=set)
    tx: list[Event] = field(default_factory=list)
    tx_sent: dict[str, dict[str, int]] = field(default_factory=dict)
    tx_debts: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.block_times = dict(self.state.block_times)

    # -- helpers ---------------------------------------------------------------------------

    def find(self, slot: int | None, rule: str, detail: str) -> None:
        self.findings.append(Finding(slot, rule, detail))

    def find_mismatch(
        self,
        slot: int,
        rule: str,
        member: str,
        names: str,
        chain: tuple[int, ...],
        source: str,
        expected: tuple[int, ...],
    ) -> None:
        """A finding under `rule` unless `member`'s figures on chain, `chain` (named `names`),
        are the `expected` ones that `source` gives (e.g. "the tariff gives")."""
        if chain != expected:
            self.find(slot, rule, f"{member}: ({names}) {chain}, {source} {expected}")

    def address(self, contract: str) -> str:
        return self.state.contracts.get(contract, ZERO_ADDRESS)

    def rules_at(self, slot: int) -> SlotRules | None:
        for start, rules in reversed(self.schedule):
            if start <= slot:
                return rules
        return None

    def tx_events(self, name: str) -> Iterator[Event]:
        return (e for e in self.tx if e.name == name)

    def start_tx(self, events: list[Event]) -> None:
        """Index the transaction's transfers and recorded debts once (a settlement of a full
        slot holds thousands of them, and several checks look them up)."""
        self.tx = events
        sent: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        debts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for e in events:
            if e.name == "Transfer":
                sent[e.args["from"]][e.args["to"]] += int(e.args["value"])
            elif e.name == "DebtRecorded":
                debts[e.args["member"]][e.args["creditor"]] += int(e.args["amount"])
        self.tx_sent, self.tx_debts = sent, debts

    def tx_net(self, before: int | None = None) -> dict[str, int]:
        """Each address's net token movement (received less sent) in the current transaction,
        over all its transfers or those logged before `before`."""
        net: dict[str, int] = defaultdict(int)
        for e in self.tx:
            if e.name == "Transfer" and (before is None or e.log_index < before):
                value = int(e.args["value"])
                net[e.args["from"]] -= value
                net[e.args["to"]] += value
        return net

    def tx_transfers_from(self, sender: str) -> dict[str, int]:
        """What `sender` transferred to each recipient in the current transaction."""
        return {k: v for k, v in self.tx_sent.get(sender, {}).items() if v}

    def check_collect(
        self, slot: int | None, member: str, charges: Sequence[tuple[str, int]], collected: int
    ) -> None:
        """EnergyToken.collect as the rulebook's apply_charge, in order of the charges: each
        creditor gets what the balance still covers, the rest is debt to it. The balance before
        is the one after (events are replayed up to this one) plus what was collected."""
        total = sum(a for _, a in charges)
        after = self.balances[member]
        if collected > total or (collected < total and after != 0):
            self.find(
                slot,
                "debt",
                f"{member} collected {collected} of a {total} charge with {after} left in its "
                "balance (must collect min(balance, charge))",
            )
            return
        left = after + collected
        paid: dict[str, int] = defaultdict(int)
        owed: dict[str, int] = defaultdict(int)
        for creditor, amount in charges:
            covered = min(left, amount)
            left -= covered
            paid[creditor] += covered
            owed[creditor] += amount - covered
        moved = self.tx_transfers_from(member)
        recorded = self.tx_debts.get(member, {})
        for creditor in paid:
            debt = recorded.get(creditor, 0)
            if moved.get(creditor, 0) != paid[creditor] or debt != owed[creditor]:
                self.find(
                    slot,
                    "debt",
                    f"{member} paid {moved.get(creditor, 0)} and owes {debt} to "
                    f"{creditor}; the charge gives {paid[creditor]} paid, {owed[creditor]} debt",
                )

    def advance_chunk(self, slot: int, chunk: int) -> None:
        """`chunk` settled `slot` against the meters: it must be the chunk's next slot."""
        expected_next = self.chunk_next.get(chunk)
        if expected_next is None:
            self.find(slot, "slot-gap", f"settled against meters for chunk {chunk}, never opened")
        elif slot != expected_next:
            self.find(
                slot, "slot-gap", f"chunk {chunk} settled against meters, expected {expected_next}"
            )
        self.chunk_next[chunk] = slot + 1

    def settled_for_all(self, slot: int) -> bool:
        """Whether every open chunk has settled `slot` against the meters (as nextSlot says)."""
        return all(n > slot for n in self.chunk_next.values())

    # -- the replay ------------------------------------------------------------------------

    def run(self, events: Iterable[Event]) -> None:
        """Replay `events` in chain order, each through its domain's `on_<Event>` handler."""
        ordered = sorted(events, key=lambda e: (e.block, e.log_index))
        for _tx, group in groupby(ordered, key=lambda e: e.tx):
            for part in settlement_parts(list(group)):
                self.start_tx(part)
                for event in self.tx:
                    handler = getattr(self, f"on_{event.name}", None)
                    if handler is not None:
                        handler(event)
        self.tx = []


def settlement_parts(events: list[Event]) -> list[list[Event]]:
    """A transaction's events, cut before each (slot, chunk) that it settles against the meters
    (each opens with its SlotReadingsClosed) unless nothing comes before it: a batch
    (`settleImbalances`), or one carried after a slot's trades (`SettlementRouter`), is checked
    as the transactions of its parts would be alone, so a member's charges and credits in one
    slot are mixed neither with its others nor with its trades."""
    parts: list[list[Event]] = [[]]
    for e in events:
        if e.name == "SlotReadingsClosed" and parts[-1]:
            parts.append([])
        parts[-1].append(e)
    return parts
