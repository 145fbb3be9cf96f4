"""One statement of account, from what was settled. Pure.

A member's (or the DSO's) statement for a range of slots is built from the settled facts the
chain's events record, never from a new clearing or a recomputed share:

* trades: each filled order of a settled slot (SlotSettled's fills and pay-as-bid pairs on the
  book it settled), priced as the contract paid it (`settled_trades`) and settled with
  `market.billing.settle_order` under the tariff in force;
* the settlement against meters: ImbalanceSettled (credit, energy and network charge, what the
  balance covered, the BaU cost);
* the `sharing` mode's settlement: SharingSettled (the Wh allocated to a consumer or credited
  to a producer, what was charged, paid and covered, the BaU cost), priced into lines with
  `market.sharing.member_money` under the tariff in force. Shared energy uses the lines of local
  energy (bought, sold, platform fees, reduced network charge): a consumer's allocation is
  "bought locally", a producer's credit "sold locally", the rest grid energy or grid credit. For
  the DSO the shared energy passes through its supply account (paid in by consumers, out to
  producers, the same sharing_price x Wh) and adds nothing to its income;
* the period close: PeriodBilled (profit share, service fee, battery lease, what the balance
  covered);
* flexibility: FlexDelivered (payment, penalty, what the balance covered);
* an exit: ExitRequested (penalty, what the balance covered);
* token movements outside the market: top-ups, redemptions, debt repaid, and plain transfers
  (the battery's result between it and its lessees, anything members send each other).

Every figure is integer n€ (or Wh), named, labelled and explained in `LINES`. A member's lines
are costs (positive: the member paid, negative: it received); the DSO's lines are income
(positive: the DSO received, negative: it paid). A period's items (profit share, service fee, lease)
belong to a range holding the period's last slot; items that carry no slot (top-ups, transfers,
exits) belong to the slot last settled against meters before them in chain order (the
`slot` given by the caller).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from typing import Protocol

from market.billing import OrderSettlement, settle_order
from market.billing import bau_cost as bau_of
from market.clearing import Fill, Mode
from market.orders import Order, Side
from market.sharing import MemberAllocation, MemberMoney, member_money
from market.tariff import Tariff
from market.units import NanoEur, Wh

# -- settled facts (the input) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettledSlot:
    """A SlotSettled event with the book it settled: `book[i]` is the order at book position
    i (None: cancelled before settlement), `fills[i]` its settled Wh, `pairs` the pay-as-bid
    pairs as (buy position, sell position, Wh). Direct orders and signed intents are priced
    alike; only where the money came from differs (escrow or balance), not how much."""

    slot: int
    mode: Mode
    price: int
    book: Sequence[Order | None]
    fills: Sequence[Wh]
    pairs: Sequence[tuple[int, int, Wh]] = ()


@dataclass(frozen=True, slots=True)
class MeterSettled:
    """An ImbalanceSettled event: one member's settlement against its meter in one slot."""

    slot: int
    member: str
    import_wh: Wh
    export_wh: Wh
    traded_net_sold_wh: Wh
    credit: NanoEur
    energy_charge: NanoEur
    network_charge: NanoEur
    collected: NanoEur
    bau_cost: NanoEur


@dataclass(frozen=True, slots=True)
class SharingSettledRow:
    """A SharingSettled event: one member's allocation and money in one slot of the `sharing`
    mode (a member consumes or produces in a slot, never both)."""

    slot: int
    member: str
    import_wh: Wh
    export_wh: Wh
    participating_consumption_wh: Wh
    participating_production_wh: Wh
    allotment_wh: Wh
    allocated_wh: Wh
    credited_wh: Wh
    charged: NanoEur
    paid: NanoEur
    collected: NanoEur
    bau_cost: NanoEur

    def money(self, tariff: Tariff) -> MemberMoney:
        """The row's money by the rule (`market.sharing.member_money`) under `tariff`."""
        consumption = max(self.import_wh - self.export_wh, 0)
        production = max(self.export_wh - self.import_wh, 0)
        row = MemberAllocation(
            0,
            consumption,
            production,
            self.participating_consumption_wh,
            self.participating_production_wh,
            self.allotment_wh,
            self.allocated_wh,
            self.credited_wh,
            production - self.credited_wh,
        )
        return member_money(tariff.for_sharing(), row)


@dataclass(frozen=True, slots=True)
class _SharedLines:
    """Sharing rows summed into statement lines (n€, Wh)."""

    bought: NanoEur = 0
    sold: NanoEur = 0
    platform: NanoEur = 0
    local_network: NanoEur = 0
    grid_network: NanoEur = 0
    grid_energy: NanoEur = 0
    grid_credit: NanoEur = 0
    bought_wh: Wh = 0
    sold_wh: Wh = 0
    import_wh: Wh = 0
    export_wh: Wh = 0
    bau: NanoEur = 0
    unpaid: NanoEur = 0


def _shared_lines(
    rows: Sequence[SharingSettledRow], tariff_at: Callable[[int], Tariff]
) -> _SharedLines:
    totals = dict.fromkeys(_SharedLines.__dataclass_fields__, 0)
    for r in rows:
        tariff = tariff_at(r.slot)
        m = r.money(tariff)
        local = tariff.p2p_grid_fee * r.allocated_wh
        for key, value in (
            ("bought", m.shared_energy_cost),
            ("sold", m.shared_energy_revenue),
            ("platform", m.platform_fees),
            ("local_network", local),
            ("grid_network", m.network_charges - local),
            ("grid_energy", m.grid_energy_cost),
            ("grid_credit", m.feed_in_revenue),
            ("bought_wh", r.allocated_wh),
            ("sold_wh", r.credited_wh),
            ("import_wh", r.import_wh),
            ("export_wh", r.export_wh),
            ("bau", r.bau_cost),
            ("unpaid", r.charged - r.collected),
        ):
            totals[key] += value
    return _SharedLines(**totals)


@dataclass(frozen=True, slots=True)
class PeriodBilled:
    """A PeriodBilled event: the member's profit share, service fee and battery lease of a
    closed period, and what its balance covered of the fee and the lease."""

    period: int
    member: str
    export_wh: Wh
    share: NanoEur
    service_fee: NanoEur
    lease: NanoEur
    collected: NanoEur


@dataclass(frozen=True, slots=True)
class FlexDelivered:
    """A FlexDelivered event: a member's flexibility payment or penalty for request `slot`."""

    slot: int
    member: str
    payment: NanoEur
    penalty: NanoEur
    collected: NanoEur


@dataclass(frozen=True, slots=True)
class ExitCharged:
    """An ExitRequested event: the exit penalty and what the balance covered."""

    slot: int
    member: str
    penalty: NanoEur
    collected: NanoEur


class MoveKind(StrEnum):
    TOP_UP = "top_up"
    REDEEMED = "redeemed"
    DEBT_REPAID = "debt_repaid"
    TRANSFER = "transfer"
    """A plain transfer: in a transaction without market events (e.g. a battery result, a
    gift)."""


@dataclass(frozen=True, slots=True)
class TokenMove:
    """Tokens moved outside the market's settlements: `sender` to `recipient` (the zero address
    for a top-up's mint or a redemption's burn)."""

    slot: int
    kind: MoveKind
    sender: str
    recipient: str
    amount: NanoEur


@dataclass
class _OwnMoves:
    """An account's top-ups, redemptions and debt repaid (n€), which both statements list as
    they are, whoever the counterparty."""

    top_ups: NanoEur = 0
    redeemed: NanoEur = 0
    repaid: NanoEur = 0

    def add(self, move: TokenMove) -> bool:
        """Count `move` if it is one of them; False for a plain transfer, which each statement
        places by its counterparty."""
        match move.kind:
            case MoveKind.TOP_UP:
                self.top_ups += move.amount
            case MoveKind.REDEEMED:
                self.redeemed += move.amount
            case MoveKind.DEBT_REPAID:
                self.repaid += move.amount
            case MoveKind.TRANSFER:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Accounts:
    """Who is who: the DSO's accounts (fee, network, supply and its own) and the community
    battery's members."""

    fee: str
    network: str
    supply: str
    dso: frozenset[str] = frozenset()
    batteries: frozenset[str] = frozenset()

    @property
    def all_dso(self) -> frozenset[str]:
        return self.dso | {self.fee, self.network, self.supply}


@dataclass(frozen=True, slots=True)
class Settled:
    """Everything settled that a statement reads (any slots; `statement` picks its range)."""

    slots: Sequence[SettledSlot] = ()
    meters: Sequence[MeterSettled] = ()
    periods: Sequence[PeriodBilled] = ()
    flex: Sequence[FlexDelivered] = ()
    exits: Sequence[ExitCharged] = ()
    moves: Sequence[TokenMove] = ()
    sharing: Sequence[SharingSettledRow] = ()


# -- trades as the contract paid them ------------------------------------------------------


def settled_fills(s: SettledSlot) -> dict[int, Fill]:
    """Each filled order's fill by book position, with the amount the Settlement contract paid
    for its energy: uniform and community mode the settled price x Wh; pay-as-bid a buy its
    limit x Wh, a sell the sum over its pairs of the paired bid's limit x Wh."""
    if len(s.fills) != len(s.book):
        raise ValueError(f"slot {s.slot}: {len(s.fills)} fills for a {len(s.book)}-order book")
    sell_value = [0] * len(s.book)
    if s.mode is Mode.PAY_AS_BID:
        for b, o, q in s.pairs:
            bid = s.book[b]
            if bid is None:
                raise ValueError(f"slot {s.slot}: pair with cancelled bid {b}")
            sell_value[o] += bid.price * q
    out: dict[int, Fill] = {}
    for i, (order, filled) in enumerate(zip(s.book, s.fills, strict=True)):
        if order is None or not filled:
            continue
        if s.mode is not Mode.PAY_AS_BID:
            amount = s.price * filled
        elif order.side is Side.BUY:
            amount = order.price * filled
        else:
            amount = sell_value[i]
        out[i] = Fill(order.id, order.side, filled, amount)
    return out


def settled_trades(s: SettledSlot, tariff: Tariff) -> list[tuple[str, OrderSettlement]]:
    """(owner, settlement) of every filled order of a settled slot, in book order."""
    out = []
    for i, fill in settled_fills(s).items():
        order = s.book[i]
        assert order is not None  # settled_fills skips cancelled entries
        out.append((order.owner, settle_order(tariff, order, fill)))
    return out


# -- the statement -------------------------------------------------------------------------


class Books(Protocol):
    """What a statement is drawn from: what was settled, the accounts it tells apart and the
    tariff in force at each slot (chain.settled.SettledChain is one)."""

    @property
    def settled(self) -> Settled: ...

    @property
    def accounts(self) -> Accounts: ...

    def tariff_at(self, slot: int) -> Tariff: ...


class Part(StrEnum):
    COST = "cost"
    """Adds into the net figure (a member's net cost, the DSO's net income)."""
    TOTAL = "total"
    """A total or comparison (net, BaU, saving)."""
    ACCOUNT = "account"
    """How the net figure became token movements (debt, top-ups, transfers)."""
    ENERGY = "energy"
    """Wh, for information."""


_TEXTS = tomllib.loads(resources.files("market").joinpath("statement_lines.toml").read_text())


def _texts(table: str) -> dict[str, tuple[str, str]]:
    """A table of statement_lines.toml: key -> (label, explanation)."""
    return {key: (label, explanation) for key, (label, explanation) in _TEXTS[table].items()}


LINES: dict[str, tuple[str, str]] = _texts("lines")
"""Each line's label and the sentence that explains it, kept as text in statement_lines.toml."""
SHARING_LINES: dict[str, tuple[str, str]] = {**LINES, **_texts("sharing_lines")}
"""A member's statement in a `sharing` community: the same lines, named as that mode works."""


@dataclass(frozen=True, slots=True)
class Line:
    key: str
    label: str
    explanation: str
    amount: int
    part: Part


@dataclass(frozen=True)
class Statement:
    """A statement of account for slots `from_slot`..`to_slot`. `kind` "member": lines are
    costs (+ paid); "dso": lines are income (+ received). `slots` lists the settled slots
    whose trades or meters concern the account (for a per-slot view)."""

    account: str
    kind: str
    from_slot: int
    to_slot: int
    lines: tuple[Line, ...]
    slots: tuple[SlotFigures, ...] = field(default=())

    def __getitem__(self, key: str) -> int:
        for line in self.lines:
            if line.key == key:
                return line.amount
        raise KeyError(key)

    def as_dict(self) -> dict[str, int]:
        return {line.key: line.amount for line in self.lines}


@dataclass(frozen=True, slots=True)
class SlotFigures:
    """One slot of a member's statement: its trades and settlement against the meter."""

    slot: int
    metered: bool
    bought_wh: Wh
    sold_wh: Wh
    net_cost: NanoEur
    bau_cost: NanoEur

    @property
    def savings(self) -> NanoEur:
        return self.bau_cost - self.net_cost


def _line(key: str, amount: int, part: Part, texts: Mapping[str, tuple[str, str]] = LINES) -> Line:
    label, explanation = texts[key]
    return Line(key, label, explanation, amount, part)


def _in(slot: int, lo: int, hi: int) -> bool:
    return lo <= slot <= hi


def _period_in(period: int, period_slots: int, lo: int, hi: int) -> bool:
    """A period's items belong to the range holding its last slot."""
    return _in((period + 1) * period_slots - 1, lo, hi)


def _uncollected(
    ms: Sequence[MeterSettled],
    flex: Sequence[FlexDelivered],
    billed: Sequence[PeriodBilled],
    exits: Sequence[ExitCharged],
) -> int:
    """What these charges left as debt: charged less what the balance covered."""
    return (
        sum(m.energy_charge + m.network_charge - m.collected for m in ms)
        + sum(f.penalty - f.collected for f in flex)
        + sum(p.service_fee + p.lease - p.collected for p in billed)
        + sum(e.penalty - e.collected for e in exits)
    )


def _closing_lines(
    line: Callable[[str, int, Part], Line],
    unpaid: int,
    own: _OwnMoves,
    transfers: int,
    change: int,
    traded_wh: tuple[Wh, Wh],
    meters: Sequence[MeterSettled],
    sh: _SharedLines,
) -> list[Line]:
    """The lines both statements end with: how the net figure became token movements (charges
    left unpaid, debt repaid, top-ups, redemptions, other transfers and the balance's `change`),
    then the energy: bought and sold locally (`traded_wh`, the shared rows' added) and metered."""
    bought_wh, sold_wh = traded_wh
    return [
        line("debt_incurred", unpaid, Part.ACCOUNT),
        line("debt_repaid", own.repaid, Part.ACCOUNT),
        line("top_ups", own.top_ups, Part.ACCOUNT),
        line("redeemed", own.redeemed, Part.ACCOUNT),
        line("transfers", transfers, Part.ACCOUNT),
        line("token_change", change, Part.ACCOUNT),
        line("bought_wh", bought_wh + sh.bought_wh, Part.ENERGY),
        line("sold_wh", sold_wh + sh.sold_wh, Part.ENERGY),
        line("import_wh", sum(m.import_wh for m in meters) + sh.import_wh, Part.ENERGY),
        line("export_wh", sum(m.export_wh for m in meters) + sh.export_wh, Part.ENERGY),
    ]


def member_statement(
    member: str,
    books: Books,
    period_slots: int,
    lo: int,
    hi: int,
) -> Statement:
    """`member`'s statement for slots `lo`..`hi` from what was settled. Without a reading in
    a slot, its trades stand as delivered and BaU is what the trades' energy would have cost
    through the grid (`market.billing.bau_cost` of the traded net sale)."""
    return member_statements([member], books, period_slots, lo, hi)[member]


def member_statements(
    members: Sequence[str],
    books: Books,
    period_slots: int,
    lo: int,
    hi: int,
) -> dict[str, Statement]:
    """`member_statement` of each of `members`, the settled slots' trades worked out once for
    them all (a community's statements one by one worked out every slot's trades once per
    member: the audit of a 100-household month spent most of its time there)."""
    settled, tariff_at = books.settled, books.tariff_at
    if hi < lo:
        raise ValueError(f"range {lo}..{hi} is empty")
    wanted = set(members)
    trades: dict[str, dict[int, list[OrderSettlement]]] = {m: {} for m in wanted}
    for s in settled.slots:
        if not _in(s.slot, lo, hi):
            continue
        for owner, x in settled_trades(s, tariff_at(s.slot)):
            if owner in wanted:
                trades[owner].setdefault(s.slot, []).append(x)
    meters: dict[str, dict[int, MeterSettled]] = {m: {} for m in wanted}
    for ms in settled.meters:
        if ms.member in wanted and _in(ms.slot, lo, hi):
            meters[ms.member][ms.slot] = ms
    shared: dict[str, dict[int, SharingSettledRow]] = {m: {} for m in wanted}
    for r in settled.sharing:
        if r.member in wanted and _in(r.slot, lo, hi):
            shared[r.member][r.slot] = r
    return {
        m: _statement(m, trades[m], meters[m], shared[m], books, period_slots, lo, hi)
        for m in members
    }


def _statement(
    member: str,
    per_slot: dict[int, list[OrderSettlement]],
    meters: dict[int, MeterSettled],
    shared: dict[int, SharingSettledRow],
    books: Books,
    period_slots: int,
    lo: int,
    hi: int,
) -> Statement:
    """`member`'s statement from its trades, meter settlements and shared rows by slot (all
    within `lo`..`hi`) and the rest of what was settled."""
    settled, tariff_at, accounts = books.settled, books.tariff_at, books.accounts
    slots = [
        SlotFigures(slot, True, r.allocated_wh, r.credited_wh, r.charged - r.paid, r.bau_cost)
        for slot, r in shared.items()
    ]
    bought_wh = sold_wh = bought = sold = platform = network = bau = 0
    for slot in sorted(set(per_slot) | set(meters)):
        trades = per_slot.get(slot, [])
        b_wh = sum(x.filled_wh for x in trades if x.side is Side.BUY)
        s_wh = sum(x.filled_wh for x in trades if x.side is Side.SELL)
        b = sum(x.amount for x in trades if x.side is Side.BUY)
        s_ = sum(x.amount for x in trades if x.side is Side.SELL)
        fees = sum(x.platform_fee + x.network_fee for x in trades)
        m = meters.get(slot)
        slot_bau = m.bau_cost if m is not None else bau_of(tariff_at(slot), s_wh - b_wh)
        grid = m.energy_charge + m.network_charge - m.credit if m is not None else 0
        slots.append(SlotFigures(slot, m is not None, b_wh, s_wh, b - s_ + fees + grid, slot_bau))
        bought_wh, sold_wh, bought, sold = bought_wh + b_wh, sold_wh + s_wh, bought + b, sold + s_
        platform += sum(x.platform_fee for x in trades)
        network += sum(x.network_fee for x in trades)
        bau += slot_bau
    slots.sort(key=lambda f: f.slot)
    sh = _shared_lines(list(shared.values()), tariff_at)
    ms = list(meters.values())
    credit = sum(m.credit for m in ms) + sh.grid_credit
    energy = sum(m.energy_charge for m in ms) + sh.grid_energy
    grid_net = sum(m.network_charge for m in ms) + sh.grid_network
    flex = [f for f in settled.flex if f.member == member and _in(f.slot, lo, hi)]
    billed = [
        p
        for p in settled.periods
        if p.member == member and _period_in(p.period, period_slots, lo, hi)
    ]
    exits = [e for e in settled.exits if e.member == member and _in(e.slot, lo, hi)]
    moves = [
        t
        for t in settled.moves
        if member in (t.sender, t.recipient) and t.sender != t.recipient and _in(t.slot, lo, hi)
    ]
    own = _OwnMoves()
    battery = transfers = 0
    for t in moves:
        if own.add(t):
            continue
        signed = t.amount if t.recipient == member else -t.amount  # + received
        other = t.sender if t.recipient == member else t.recipient
        if other in accounts.batteries or member in accounts.batteries:
            battery -= signed
        else:
            transfers += signed
    costs = {
        "energy_bought": bought + sh.bought,
        "energy_sold": -sold - sh.sold,
        "platform_fees": platform + sh.platform,
        "network_fees": network + sh.local_network,
        "grid_credit": -credit,
        "grid_energy": energy,
        "grid_network": grid_net,
        "flex_payments": -sum(f.payment for f in flex),
        "flex_penalties": sum(f.penalty for f in flex),
        "battery_lease": sum(p.lease for p in billed),
        "battery_result": battery,
        "profit_share": -sum(p.share for p in billed),
        "service_fee": sum(p.service_fee for p in billed),
        "exit_penalty": sum(e.penalty for e in exits),
    }
    net = sum(costs.values())
    debt = _uncollected(ms, flex, billed, exits) + sh.unpaid
    bau += sh.bau
    texts = SHARING_LINES if settled.sharing else LINES

    def line(key: str, amount: int, part: Part) -> Line:
        return _line(key, amount, part, texts)

    lines = [line(k, v, Part.COST) for k, v in costs.items()]
    lines += [
        line("net_cost", net, Part.TOTAL),
        line("bau_cost", bau, Part.TOTAL),
        line("savings", bau - net, Part.TOTAL),
    ]
    change = -net + debt - own.repaid + own.top_ups - own.redeemed + transfers
    lines += _closing_lines(line, debt, own, transfers, change, (bought_wh, sold_wh), ms, sh)
    return Statement(member, "member", lo, hi, tuple(lines), tuple(slots))


def dso_statement(
    books: Books,
    period_slots: int,
    lo: int,
    hi: int,
) -> Statement:
    """The DSO's statement (its fee, network, supply and own accounts together) for slots
    `lo`..`hi` from what was settled."""
    settled, tariff_at, accounts = books.settled, books.tariff_at, books.accounts
    if hi < lo:
        raise ValueError(f"range {lo}..{hi} is empty")
    platform = local_network = bought_wh = 0
    for s in settled.slots:
        if _in(s.slot, lo, hi):
            for _owner, x in settled_trades(s, tariff_at(s.slot)):
                platform += x.platform_fee
                local_network += x.network_fee
                bought_wh += x.filled_wh if x.side is Side.BUY else 0
    ms = [m for m in settled.meters if _in(m.slot, lo, hi)]
    sh = _shared_lines([r for r in settled.sharing if _in(r.slot, lo, hi)], tariff_at)
    flex = [f for f in settled.flex if _in(f.slot, lo, hi)]
    billed = [p for p in settled.periods if _period_in(p.period, period_slots, lo, hi)]
    exits = [e for e in settled.exits if _in(e.slot, lo, hi)]
    dso, batteries = accounts.all_dso, accounts.batteries
    own = _OwnMoves()
    battery = transfers = 0
    for t in settled.moves:
        if not _in(t.slot, lo, hi):
            continue
        if t.kind is MoveKind.TRANSFER and (t.sender in batteries) != (t.recipient in batteries):
            battery += t.amount if t.sender in batteries else -t.amount
            continue
        if (t.sender in dso) == (t.recipient in dso):
            continue
        if own.add(t):
            continue
        transfers += t.amount if t.recipient in dso else -t.amount
    income = {
        "dso_platform_fees": platform + sh.platform,
        "dso_local_network": local_network + sh.local_network,
        "dso_grid_network": sum(m.network_charge for m in ms) + sh.grid_network,
        "dso_energy_sales": sum(m.energy_charge for m in ms) + sh.grid_energy,
        "dso_energy_purchases": -sum(m.credit for m in ms) - sh.grid_credit,
        "dso_profit_shared": -sum(p.share for p in billed),
        "dso_service_fees": sum(p.service_fee for p in billed),
        "dso_exit_penalties": sum(e.penalty for e in exits),
        "dso_flex_payments": -sum(f.payment for f in flex),
        "dso_flex_penalties": sum(f.penalty for f in flex),
        "dso_battery_lease": sum(p.lease for p in billed),
    }
    net = sum(income.values())
    unpaid = _uncollected(ms, flex, billed, exits) + sh.unpaid
    lines = [_line(k, v, Part.COST) for k, v in income.items()]
    lines += [
        _line("dso_net_income", net, Part.TOTAL),
        _line("dso_battery_result", battery, Part.TOTAL),
    ]
    change = net - unpaid + own.repaid + own.top_ups - own.redeemed + transfers
    lines += _closing_lines(_line, unpaid, own, transfers, change, (bought_wh, bought_wh), ms, sh)
    return Statement("dso", "dso", lo, hi, tuple(lines), ())
