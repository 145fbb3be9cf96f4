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
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from market.flexibility import Direction, FlexOffer, accept, settle_offer
from market.units import NanoEur, Price, Wh
from sim.agents import BatteryAgent, HouseholdAgent, MeterFlow
from sim.community import Community
from sim.offline import dry_run
from sim.profiles import HouseholdProfile
from sim.runner import Runner


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
    requests: list[RequestLog] = field(default_factory=list)
    members: list[MemberFlex] = field(default_factory=list)

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


def run_congestion(
    community: Community,
    profiles: dict[str, HouseholdProfile],
    days: int,
    params: FlexParams = FlexParams(),
) -> FlexScenario:
    """The scenario over `days` days (the last one is the event day; at least 2)."""
    if days < 2:
        raise ValueError("the congestion scenario needs at least 2 days (1 of baseline history)")
    flows: list[dict[str, MeterFlow]] = []
    dry_run(community, profiles, days, observe=lambda _i, f: flows.append(f))
    members = Runner.make_members(community)
    per_day = community.slots_per_day
    first = (days - 1) * per_day
    event = range(first, first + per_day)
    net = {m.name: [_net(f[m.name]) for f in flows] for m in members}
    after = {name: list(values) for name, values in net.items()}
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
    rebound: dict[str, Wh] = {}
    ledger = {m.name: MemberFlex(m.name, m.role) for m in members}
    requests: list[RequestLog] = []
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
        log = RequestLog(
            i - first,
            (i - first) * community.slot_minutes / 60,
            quantity,
            sum(o.quantity_wh for o in offers),
            sum(accepted),
            0,
            0,
            0,
            total,
            0,
        )
        for offer, acc in zip(offers, accepted, strict=True):
            ledger[offer.member].offered_wh += offer.quantity_wh
            if acc:
                after[offer.member][i] -= acc
                rebound[offer.member] = rebound.get(offer.member, 0) + acc
                if offer.member in discharged:
                    discharged[offer.member] += acc
        for offer, acc in zip(offers, accepted, strict=True):
            if not acc:
                continue
            history = [net[offer.member][i - d * per_day] for d in range(1, days)]
            out = settle_offer(
                Direction.REDUCE_IMPORT,
                acc,
                offer.price,
                params.penalty,
                after[offer.member][i],
                history,
            )
            row = ledger[offer.member]
            row.accepted_wh += acc
            row.delivered_wh += out.delivered_wh
            row.earned += out.payment
            row.penalties += out.penalty
            log.delivered_wh += out.delivered_wh
            log.paid += out.payment
            log.penalties += out.penalty
        requests.append(log)
    _fill_valleys(after, rebound, range(max(first, evening_end), first + per_day), limit)
    after_total = [sum(after[m.name][i] for m in members) for i in event]
    for log in requests:
        log.net_import_after = after_total[log.index]
    return FlexScenario(
        community=community.name,
        days=days,
        slot_minutes=community.slot_minutes,
        limit_wh=limit,
        peak_before_wh=peak,
        peak_after_wh=max(after_total),
        slots_over_before=sum(1 for v in before_total if v > limit),
        slots_over_after=sum(1 for v in after_total if v > limit),
        before=before_total,
        after=after_total,
        requests=requests,
        members=[row for row in ledger.values() if row.offered_wh],
    )


def _fill_valleys(
    after: dict[str, list[Wh]], rebound: dict[str, Wh], window: range, limit: Wh
) -> None:
    """Each responder takes its energy back after the evening peak: one Wh at a time into the
    window's slot with the lowest community net import, never above the limit. What does not fit
    before the day ends is taken back after it (outside the event day)."""
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
