"""A DSO congestion scenario: the evening import peak above the transformer limit, bought down
with flexibility from the community's households and its battery, settled by the rulebook
(market/flexibility.py). Pure (no chain); integer Wh and n€ throughout.

1. The community runs `days` days through the dry run (sim/offline.py); every member's metered
   flow per slot is kept. The last day is the event day; the days before it are the baseline
   history (the rulebook's default baseline wants 5 of them).
2. The transformer sees the community's net import (all imports minus all exports: local
   exchange stays below it). Its limit is `limit_wh` per slot (default: 80 % of the event day's
   peak). For each event-day slot above it the DSO requests `reduce_import` of the excess at
   `max_price`.
3. Offers, one per member (response model, see docs/decisions.md, "Flexibility"): the community
   battery offers the discharge power its own trading left free that slot, as far as its charge
   goes (its charge is its metered net import so far); a household with a
   home battery half its battery power; every other household `load_shift_bps` of its load in
   that slot (deferrable load). Each at its configured price.
4. Acceptance is `market.flexibility.accept` (merit order up to the excess). Each accepted
   member then lowers its import by exactly what was accepted and takes the same energy back
   after the evening peak hours (batteries recharge, deferred load runs), filling the lowest
   slots first and never above the limit; what does not fit runs after the event day.
5. Payment and penalty are `market.flexibility.settle_offer` against the member's baseline (its
   net import in the same slot on the previous days), so a member whose baseline overstates or
   understates its usual import is paid for what the baseline rule measures, not for what it did.

The report: the peak and the slots over the limit before and after, what the DSO paid and
charged, and each member's earnings.

Steps 1-3 are the *plan* (`plan_congestion`): what the DSO and the members forecast with the
simulator's perfect foresight, pure. Steps 4-5 have two executions with the same plan:

* the dry run (`run_congestion`): acceptance by `market.flexibility.accept`, payments by
  `settle_offer`;
* the chain run (`simulate_flex`): the simulator's chain run (sim/runner.py) with `FlexOnChain`
  hooks. The DSO publishes every request of the event day through `Flexibility.publishRequest`
  at the start of the slot before the event day (day-ahead, gate half-way through that slot,
  budgets escrowed from the network account), each member sends its offers from its own wallet,
  the matcher service accepts them in merit order after the gate and, once each slot's imbalance is
  settled, pays them out against the meters. The members' response (step 4, `respond`) is
  computed from the acceptance the chain holds and enters the meters' readings through
  `deliver_slot`'s shift; payments, penalties and the peak after are read back from the chain's
  events (`FlexDelivered`, `FlexSettled`, the accepted readings). The run ends with the audit and
  token conservation, as `gridshare simulate` does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chain.flexibility import SETTLED, decode_offers
from chain.gateway import FlexibilityGateway
from gridshare.settings import Settings
from market.flexibility import (
    BASELINE_DAYS,
    BASELINE_LOOKBACK_DAYS,
    Direction,
    FlexOffer,
    FlexOutcome,
    MeanOfLastDays,
    accept,
    settle_offer,
)
from market.units import NanoEur, Price, Wh
from sim.agents import BatteryAgent, HouseholdAgent, MeterFlow
from sim.community import Community
from sim.offline import dry_run
from sim.profiles import HouseholdProfile, community_profiles
from sim.runner import DSO_GAS, Progress, Runner, RunResult

if TYPE_CHECKING:
    from rich.console import Console


@dataclass(frozen=True)
class FlexParams:
    limit_wh: Wh | None = None
    """Transformer limit per slot (Wh of net import); None: 80 % of the event day's peak."""
    max_price: Price = 250_000
    penalty: Price = 100_000
    load_shift_bps: int = 2000
    load_price: Price = 150_000
    home_battery_price: Price = 120_000
    community_battery_price: Price = 100_000
    baseline_days: int = BASELINE_DAYS
    lookback_days: int = BASELINE_LOOKBACK_DAYS
    start_hour: int = 0
    """The run begins at this hour of day 1 (only the history's evenings matter to an evening
    request; a later start makes a shorter run). Baseline days are the days with a reading."""

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: object) -> FlexParams:
        """The deployment's penalty and baseline (gridshare/settings.py), and `kwargs`."""
        return cls(
            penalty=settings.flex_penalty,
            baseline_days=settings.flex_baseline_days,
            lookback_days=settings.flex_lookback_days,
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def baseline(self) -> MeanOfLastDays:
        return MeanOfLastDays(days=self.baseline_days, lookback_days=self.lookback_days)

    def deploy_env(self) -> dict[str, str]:
        """The Flexibility contract's penalty and baseline for scripts/deploy.py."""
        return {
            "GRIDSHARE_FLEX_PENALTY": str(self.penalty),
            "GRIDSHARE_FLEX_BASELINE_DAYS": str(self.baseline_days),
            "GRIDSHARE_FLEX_LOOKBACK_DAYS": str(self.lookback_days),
        }


@dataclass
class RequestLog:
    index: int
    hour: float
    quantity_wh: Wh
    offered_wh: Wh
    accepted_wh: Wh
    delivered_wh: Wh
    paid: NanoEur
    penalties: NanoEur
    net_import_before: Wh
    net_import_after: Wh


@dataclass
class MemberFlex:
    name: str
    role: str
    offered_wh: Wh = 0
    accepted_wh: Wh = 0
    delivered_wh: Wh = 0
    earned: NanoEur = 0
    penalties: NanoEur = 0

    @property
    def net(self) -> NanoEur:
        return self.earned - self.penalties


@dataclass
class FlexScenario:
    community: str
    days: int
    slot_minutes: int
    limit_wh: Wh
    peak_before_wh: Wh
    peak_after_wh: Wh
    slots_over_before: int
    slots_over_after: int
    before: list[Wh]
    """Event day's community net import per slot, without flexibility."""
    after: list[Wh]
    """The same with flexibility (chain run: from the meters' readings on the chain)."""
    requests: list[RequestLog] = field(default_factory=list)
    members: list[MemberFlex] = field(default_factory=list)
    source: str = "dry run"
    """"dry run" (pure rulebook) or "chain <network>" (payments read from chain events)."""
    chain: dict[str, object] | None = None
    """Chain run only: audit verdict, token conservation, bills, transactions, seconds."""

    @property
    def dso_paid(self) -> NanoEur:
        return sum(r.paid for r in self.requests)

    @property
    def dso_penalties(self) -> NanoEur:
        return sum(r.penalties for r in self.requests)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["dso_paid"] = self.dso_paid
        data["dso_penalties"] = self.dso_penalties
        for m, row in zip(self.members, data["members"], strict=True):
            row["net"] = m.net
        return data


def _net(flow: MeterFlow) -> Wh:
    return flow.import_wh - flow.export_wh


def _offer_wh(
    agent: HouseholdAgent | BatteryAgent,
    flow: MeterFlow,
    load_wh: Wh,
    params: FlexParams,
    slot_minutes: int,
    stored_wh: Wh,
) -> tuple[Wh, Price]:
    """What a member can offer in a slot, and at what price (the module's response model).
    `stored_wh`: what the community battery holds beyond this slot's own sale."""
    if isinstance(agent, BatteryAgent):
        free = max(0, min(agent.power_wh - flow.export_wh, stored_wh))
        return free, params.community_battery_price
    battery = agent.household.battery
    if battery is not None:
        return battery.power_w * slot_minutes // 60 // 2, params.home_battery_price
    return load_wh * params.load_shift_bps // 10_000, params.load_price


# ------------------------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class PlannedRequest:
    """One request of the event day and the offers the members will make for it."""

    slot: int
    """Sim slot (its chain slot is this minus `FlexPlan.start`)."""
    quantity_wh: Wh
    net_import: Wh
    """The community's forecast net import in the slot without flexibility."""
    offers: tuple[FlexOffer, ...]
    """`member` is the member's name, `id` the offer's position (its on-chain index)."""


@dataclass(frozen=True)
class FlexPlan:
    community: str
    days: int
    slot_minutes: int
    per_day: int
    first: int
    """The event day's first sim slot."""
    start: int
    """The run's first sim slot (chain slot 0); no readings exist before it."""
    limit_wh: Wh
    before: list[Wh]
    net: dict[str, list[Wh]]
    """Each member's net import per sim slot without flexibility."""
    roles: dict[str, str]
    window: range
    """Where responders take their energy back (after the evening peak, on the event day)."""
    requests: tuple[PlannedRequest, ...]


def plan_congestion(
    community: Community,
    profiles: Mapping[str, HouseholdProfile],
    days: int,
    params: FlexParams = FlexParams(),
) -> FlexPlan:
    """Steps 1-3: the forecast (the dry run), the limit, the requests and everyone's offers.
    The community battery's offers count the discharge its earlier accepted offers will take
    (forecast with the rulebook's `accept`)."""
    if days < 2:
        raise ValueError("the congestion scenario needs at least 2 days (1 of baseline history)")
    if not 0 <= params.start_hour < 24:
        raise ValueError(f"start hour {params.start_hour} is not an hour of day 1")
    per_day = community.slots_per_day
    start = params.start_hour * 60 // community.slot_minutes
    seen: dict[int, dict[str, MeterFlow]] = {}
    dry_run(community, dict(profiles), days, observe=seen.__setitem__, start=start)
    empty = MeterFlow(0, 0)
    flows = [seen.get(i, {}) for i in range(days * per_day)]
    members = Runner.make_members(community)
    first = (days - 1) * per_day
    event = range(first, first + per_day)
    net = {m.name: [_net(f.get(m.name, empty)) for f in flows] for m in members}
    before_total = [sum(net[m.name][i] for m in members) for i in event]
    peak = max(before_total)
    limit = params.limit_wh if params.limit_wh is not None else max(0, peak * 8 // 10)
    evening_end = first + community.strategy.peak_hours[1] * 60 // community.slot_minutes
    # The community battery's charge before each slot: it charges what it buys and discharges
    # what it sells (sim.agents.BatteryAgent), so its metered net import adds up to its charge.
    stored = {
        m.name: [sum(net[m.name][:i]) for i in range(len(flows))]
        for m in members
        if isinstance(m.agent, BatteryAgent)
    }
    discharged = dict.fromkeys(stored, 0)  # extra discharge for flexibility so far
    requests: list[PlannedRequest] = []
    for i, total in zip(event, before_total, strict=True):
        if total <= limit:
            continue
        offers: list[FlexOffer] = []
        for m in members:
            load = profiles[m.name].load_wh[i] if m.name in profiles else 0
            left = 0
            if m.name in stored:
                left = stored[m.name][i] - flows[i][m.name].export_wh - discharged[m.name]
            qty, price = _offer_wh(
                m.agent, flows[i][m.name], load, params, community.slot_minutes, left
            )
            if qty > 0 and price <= params.max_price:
                offers.append(FlexOffer(len(offers), m.name, qty, price))
        quantity = total - limit
        accepted = accept(offers, quantity, params.max_price) if offers else ()
        for offer, acc in zip(offers, accepted, strict=True):
            if offer.member in discharged:
                discharged[offer.member] += acc
        requests.append(PlannedRequest(i, quantity, total, tuple(offers)))
    return FlexPlan(
        community=community.name,
        days=days,
        slot_minutes=community.slot_minutes,
        per_day=per_day,
        first=first,
        start=start,
        limit_wh=limit,
        before=before_total,
        net=net,
        roles={m.name: m.role for m in members},
        window=range(max(first, evening_end), first + per_day),
        requests=tuple(requests),
    )


def respond(plan: FlexPlan, accepted: Sequence[Sequence[Wh]]) -> dict[str, list[Wh]]:
    """Step 4: each member's net import per sim slot once it delivers what was accepted
    (`accepted[r][k]`: Wh of offer k of request r) and takes it back after the peak."""
    after = {name: list(values) for name, values in plan.net.items()}
    rebound: dict[str, Wh] = {}
    for req, acc in zip(plan.requests, accepted, strict=True):
        for offer, wh in zip(req.offers, acc, strict=True):
            if wh:
                after[offer.member][req.slot] -= wh
                rebound[offer.member] = rebound.get(offer.member, 0) + wh
    _fill_valleys(after, rebound, plan.window, plan.limit_wh)
    return after


def _fill_valleys(
    after: dict[str, list[Wh]], rebound: dict[str, Wh], window: range, limit: Wh
) -> None:
    """Each responder takes its energy back after the evening peak: one Wh at a time into the
    window's slot with the lowest community net import, never above the limit. What does not fit
    before the day ends is taken back after it (outside the event day). A request's slot stays
    at or above the limit after delivery, so nothing is taken back into it."""
    totals = {i: sum(values[i] for values in after.values()) for i in window}
    for member, wh in sorted(rebound.items()):
        while wh > 0 and totals:
            i = min(totals, key=lambda j: (totals[j], j))
            room = limit - totals[i]
            if room <= 0:
                break
            step = min(wh, room, 100)
            after[member][i] += step
            totals[i] += step
            wh -= step


def scenario(
    plan: FlexPlan,
    accepted: Sequence[Sequence[Wh]],
    outcomes: Sequence[Mapping[int, FlexOutcome]],
    after_total: list[Wh],
    source: str = "dry run",
) -> FlexScenario:
    """The report's figures from the plan, the acceptance, each accepted offer's outcome (by
    offer position) and the event day's net import with flexibility."""
    ledger = {name: MemberFlex(name, role) for name, role in plan.roles.items()}
    logs: list[RequestLog] = []
    for req, acc, outs in zip(plan.requests, accepted, outcomes, strict=True):
        index = req.slot - plan.first
        log = RequestLog(
            index,
            index * plan.slot_minutes / 60,
            req.quantity_wh,
            sum(o.quantity_wh for o in req.offers),
            sum(acc),
            0,
            0,
            0,
            req.net_import,
            after_total[index],
        )
        for k, offer in enumerate(req.offers):
            row = ledger[offer.member]
            row.offered_wh += offer.quantity_wh
            out = outs.get(k)
            if out is None:
                continue
            row.accepted_wh += out.accepted_wh
            row.delivered_wh += out.delivered_wh
            row.earned += out.payment
            row.penalties += out.penalty
            log.delivered_wh += out.delivered_wh
            log.paid += out.payment
            log.penalties += out.penalty
        logs.append(log)
    return FlexScenario(
        community=plan.community,
        days=plan.days,
        slot_minutes=plan.slot_minutes,
        limit_wh=plan.limit_wh,
        peak_before_wh=max(plan.before),
        peak_after_wh=max(after_total),
        slots_over_before=sum(1 for v in plan.before if v > plan.limit_wh),
        slots_over_after=sum(1 for v in after_total if v > plan.limit_wh),
        before=list(plan.before),
        after=after_total,
        requests=logs,
        members=[row for row in ledger.values() if row.offered_wh],
        source=source,
    )


# ------------------------------------------------------------------------------- the dry run


def run_congestion(
    community: Community,
    profiles: dict[str, HouseholdProfile],
    days: int,
    params: FlexParams = FlexParams(),
) -> FlexScenario:
    """The scenario over `days` days (the last one is the event day; at least 2), on the pure
    rulebook: `accept` and `settle_offer` against each member's baseline."""
    plan = plan_congestion(community, profiles, days, params)
    accepted = [
        accept(r.offers, r.quantity_wh, params.max_price) if r.offers else () for r in plan.requests
    ]
    after = respond(plan, accepted)
    outcomes: list[dict[int, FlexOutcome]] = []
    for req, acc in zip(plan.requests, accepted, strict=True):
        outs: dict[int, FlexOutcome] = {}
        for k, (offer, wh) in enumerate(zip(req.offers, acc, strict=True)):
            if not wh:
                continue
            history = [
                plan.net[offer.member][req.slot - d * plan.per_day]
                for d in range(1, params.lookback_days + 1)
                if req.slot - d * plan.per_day >= plan.start
            ]
            outs[k] = settle_offer(
                Direction.REDUCE_IMPORT,
                wh,
                offer.price,
                params.penalty,
                after[offer.member][req.slot],
                history,
                params.baseline,
            )
        outcomes.append(outs)
    event = range(plan.first, plan.first + plan.per_day)
    after_total = [sum(values[i] for values in after.values()) for i in event]
    return scenario(plan, accepted, outcomes, after_total)


# ------------------------------------------------------------------------------ the chain run


def _flexibility(runner: Runner) -> FlexibilityGateway:
    """The run's Flexibility contract (a deployment for a flexibility run has one)."""
    if runner.flexibility is None:
        raise RuntimeError("the deployment has no Flexibility contract")
    return runner.flexibility


class FlexOnChain:
    """`RunHooks` for sim/runner.py: the plan's requests and offers on the chain, the members'
    response in their meters, the payouts read back from the chain's events."""

    def __init__(self, plan: FlexPlan, params: FlexParams) -> None:
        self.plan = plan
        self.params = params
        self.request_ids: list[int] = []
        self.accepted: list[list[Wh]] = [[0] * len(r.offers) for r in plan.requests]
        self.shifts: dict[int, dict[str, Wh]] = {}
        self.outcomes: list[dict[int, FlexOutcome]] = [{} for _ in plan.requests]
        self.after_total: list[Wh] = []
        self.settled_paid = 0
        self.settled_penalties = 0
        self._position_cache: dict[int, list[int]] = {}

    def before_slot(self, runner: Runner, index: int) -> None:
        """At the start of the slot before the event day the DSO publishes every request (gate:
        half-way through that slot), the members send their offers from their own wallets, and
        the gate closes (time moves to it): the matcher's next pass (in this slot's trade
        settlement) accepts them, before any of their slots starts. (The runner settles a slot's
        trades once the previous slot is delivered, i.e. after its start, so a gate at the
        event slot's own order gate would be passed by with the request lapsed.)"""
        if index != self.plan.first - 1 or not self.plan.requests:
            return
        flex = _flexibility(runner)
        calendar = runner.matcher.calendar()
        gate = calendar.slot_start(self.plan.first - 1 - self.plan.start)
        gate += calendar.slot_seconds // 2
        budget = sum(r.quantity_wh for r in self.plan.requests) * self.params.max_price
        runner.top_up_account(runner.roles.network_account, budget, "flex-budget")
        base = flex.request_count()
        by_name = {m.name: m for m in runner.members}
        for k, req in enumerate(self.plan.requests):
            flex.publish_request(
                req.slot - self.plan.start,
                int(Direction.REDUCE_IMPORT),
                req.quantity_wh,
                self.params.max_price,
                gate,
                sender=runner.dso_tx(),
                gas=DSO_GAS,
            )
            self.request_ids.append(base + k)
            for offer in req.offers:
                member = by_name[offer.member]
                flex.offer(
                    base + k,
                    offer.quantity_wh,
                    offer.price,
                    sender=member.sender,
                    gas=500_000,
                    nonce=runner.member_nonce(member),
                )
        runner.move_to(gate)

    def _positions(self, runner: Runner, k: int) -> list[int]:
        """Planned offer position of each on-chain offer of request k (by member)."""
        if k not in self._position_cache:
            rid = self.request_ids[k]
            words = _flexibility(runner).offers_of(rid)
            names = {m.address: m.name for m in runner.members}
            planned = {o.member: o.id for o in self.plan.requests[k].offers}
            self._position_cache[k] = [planned[names[o.member]] for o in decode_offers(words)]
        return self._position_cache[k]

    def shift(self, runner: Runner, index: int) -> Mapping[str, Wh]:
        """At the event day's first slot (the matcher has accepted at the gate) the response
        to the chain's acceptance is planned for the whole day; each slot gets its part."""
        if index == self.plan.first and self.request_ids:
            by_id = _flexibility(runner).accepted()
            for k, rid in enumerate(self.request_ids):
                if rid not in by_id:
                    raise RuntimeError(
                        f"flexibility request {rid} was not accepted before its slot "
                        f"({self.plan.requests[k].slot}) started"
                    )
                for pos, wh in zip(self._positions(runner, k), by_id.get(rid, []), strict=True):
                    self.accepted[k][pos] = wh
            after = respond(self.plan, self.accepted)
            for i in range(self.plan.first, self.plan.first + self.plan.per_day):
                self.shifts[i] = {
                    name: after[name][i] - self.plan.net[name][i]
                    for name in after
                    if after[name][i] != self.plan.net[name][i]
                }
        return self.shifts.get(index, {})

    def after_slots(self, runner: Runner) -> None:
        """Settle what is left (the last slot's requests), then read the outcomes, each
        member's flexibility money and the event day's metered net import from the chain."""
        runner.transactions += len(runner.matcher.flexibility())
        flex = _flexibility(runner)
        for rid in self.request_ids:
            req = flex.request_of(rid)
            if req.status != SETTLED:
                raise RuntimeError(f"flexibility request {rid} was not settled")
        names = {m.address: m.name for m in runner.members}
        index_of = {rid: k for k, rid in enumerate(self.request_ids)}
        for d in flex.deliveries():
            k = index_of.get(d.request_id)
            if k is None:
                continue
            pos = self._positions(runner, k)[d.index]
            self.outcomes[k][pos] = FlexOutcome(
                d.accepted_wh,
                d.baseline_wh if d.measured else None,
                d.metered_wh if d.measured else None,
                d.delivered_wh,
                d.payment,
                d.penalty,
            )
            runner.ledgers[names[d.member]].flex_net += d.payment - d.collected
        for settled in flex.settlements():
            if settled.request_id in index_of:
                self.settled_paid += settled.paid
                self.settled_penalties += settled.penalties
        event = range(self.plan.first, self.plan.first + self.plan.per_day)
        totals = dict.fromkeys(event, 0)
        for r in runner.readings.accepted_readings():
            index = r.slot + self.plan.start
            if index in totals:
                totals[index] += r.import_wh - r.export_wh
        self.after_total = [totals[i] for i in event]


@dataclass
class FlexChainRun:
    scenario: FlexScenario
    run: RunResult
    settled_paid: NanoEur
    """The DSO's payments as its `FlexSettled` events add them up."""
    settled_penalties: NanoEur


def simulate_flex(
    community: Community,
    days: int,
    network: str,
    settings: Settings,
    deployments_dir: Path,
    params: FlexParams,
    progress: Progress | None = None,
) -> FlexChainRun:
    """The scenario on a chain: deploy (penalty and baseline from `params`), run `days` days
    through the simulator's chain run with the flexibility hooks, audit, and report from the
    chain's events."""
    from sim.chainrun import simulate
    from sim.report import audit_text, bills_match

    started = time.monotonic()
    profiles = community_profiles(community, days)
    plan = plan_congestion(community, profiles, days, params)
    hooks = FlexOnChain(plan, params)
    run = simulate(
        community,
        days,
        network,
        settings,
        deployments_dir,
        progress,
        hooks,
        profiles,
        params.deploy_env(),
        plan.start,
    )
    result = scenario(
        plan, hooks.accepted, hooks.outcomes, hooks.after_total, source=f"chain {network}"
    )
    result.chain = {
        "audit": audit_text(run),
        "audit_ok": run.audit is not None and run.audit.ok,
        "supply_conserved": run.supply_conserved,
        "bills_match": bills_match(run),
        "dso_paid_by_events": hooks.settled_paid,
        "transactions": run.transactions,
        "seconds": round(time.monotonic() - started, 1),
    }
    return FlexChainRun(result, run, hooks.settled_paid, hooks.settled_penalties)


def print_flex(result: FlexScenario, console: Console) -> None:
    """The text report: peak before and after, the DSO's payments, each member's earnings and,
    for a chain run, the audit and token conservation."""
    from rich.table import Table

    from sim.report import euros, kwh

    console.print(
        f"[bold]{result.community}[/bold] ({result.source}): congestion on day {result.days} "
        f"(transformer limit {kwh(result.limit_wh)} kWh net import per slot)"
    )
    console.print(
        f"  peak net import {kwh(result.peak_before_wh)} -> {kwh(result.peak_after_wh)} kWh; "
        f"slots over the limit {result.slots_over_before} -> {result.slots_over_after}"
    )
    console.print(
        f"  {len(result.requests)} requests; DSO paid {euros(result.dso_paid)}, "
        f"penalties charged {euros(result.dso_penalties)}"
    )
    table = Table(
        "member", "role", "offered kWh", "accepted", "delivered", "earned €", "penalty €", "net €"
    )
    for m in sorted(result.members, key=lambda m: -m.net):
        table.add_row(
            m.name,
            m.role,
            kwh(m.offered_wh),
            kwh(m.accepted_wh),
            kwh(m.delivered_wh),
            euros(m.earned),
            euros(m.penalties),
            euros(m.net),
        )
    console.print(table)
    if result.chain is not None:
        c = result.chain
        console.print(f"  audit: {c['audit']}")
        console.print(
            f"  tokens conserved: {c['supply_conserved']}; balances match bills and "
            f"flexibility: {c['bills_match']}; {c['transactions']} transactions, "
            f"{c['seconds']} s"
        )


def write_flex_report(result: FlexScenario, directory: Path) -> Path:
    """`flex.json` (everything) and `flex-peak.png` (the event day before and after)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "flex.json").write_text(json.dumps(result.to_json(), indent=1) + "\n")
    hours = [i * result.slot_minutes / 60 for i in range(len(result.before))]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(hours, [v / 1000 for v in result.before], label="net import, no flexibility")
    ax.plot(hours, [v / 1000 for v in result.after], label="with flexibility")
    ax.axhline(result.limit_wh / 1000, color="red", linestyle="--", label="transformer limit")
    ax.set_xlabel("hour of the event day")
    ax.set_ylabel("kWh per slot")
    ax.legend(loc="upper left", fontsize=8)
    fig.savefig(directory / "flex-peak.png", format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return directory / "flex.json"
