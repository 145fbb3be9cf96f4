"""The same community, agents and rulebook without a chain: a dry run in pure Python.

Orders get the ids of the intents the members sign on the chain (sim.runner.plan_intent: an
intent's id is its struct hash, which needs no chain), each slot is cleared with
`market.clearing.clear`, fills are settled with `market.billing`, and at each period's end the
service fee, the profit share (`profit_pool`, `profit_shares`), the lease and the battery result
are applied as on the chain. The chain run must give exactly the same bills (tested), so the
dry run can check claims about a community quickly, e.g. that nobody pays more than BaU.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from market.billing import OrderSettlement, profit_pool, profit_shares, settle_order
from market.clearing import Mode, clear
from market.orders import Order
from market.tariff import SlotRules
from sim.agents import HouseholdAgent, MeterFlow, split_by_shares
from sim.community import Community
from sim.profiles import HouseholdProfile
from sim.runner import (
    MemberLedger,
    PeriodLog,
    Runner,
    RunResult,
    SlotLog,
    book_value,
    deliver_slot,
    placement_order,
    plan_intent,
)


def dry_run(
    community: Community,
    profiles: dict[str, HouseholdProfile],
    days: int,
    observe: Callable[[int, dict[str, MeterFlow]], None] | None = None,
    start: int = 0,
) -> RunResult:
    """Run `days` days of `community` through the pure rulebook. `observe(index, flows)` sees
    every slot's metered flow per member name (sim/flex.py builds its baselines from them).
    `start`: the first sim slot, as in `Runner.run` (periods count from it)."""
    started = time.monotonic()
    rules = SlotRules(community.tariff.rules().tariff, community.tariff.mode)
    tariff = rules.tariff
    members = Runner.make_members(community)
    ledgers = {m.name: MemberLedger() for m in members}
    battery = next((m for m in members if m.role == "battery"), None)
    balance = dict.fromkeys(ledgers, 0)  # tokens moved, per member (top-ups left out)
    slots: list[SlotLog] = []
    periods: list[PeriodLog] = []
    period_fees = 0
    period_export = dict.fromkeys(ledgers, 0)
    battery_start = 0
    total = days * community.slots_per_day
    for index in range(start, total):
        hour = (index * community.slot_minutes) // 60 % 24
        orders: list[Order] = []
        for m in placement_order(members, index):
            if isinstance(m.agent, HouseholdAgent):
                p = profiles[m.name]
                plans = m.agent.orders(tariff, hour, p.load_wh[index], p.pv_wh[index])
            else:
                plans = m.agent.orders(tariff, hour)
            for plan in plans:
                order_id = plan_intent(m.address, index - start, plan).id
                orders.append(Order(order_id, plan.side, plan.energy_wh, plan.price, m.address))
        mode = Mode(rules.mode)
        clearing = clear(orders, mode, tariff.community_price if mode is Mode.COMMUNITY else None)
        log = SlotLog(index, clearing.clearing_price, clearing.volume_wh, len(orders))
        settled: dict[str, list[OrderSettlement]] = {}
        for order in orders:
            s = settle_order(tariff, order, clearing.fills[order.id])
            settled.setdefault(order.owner, []).append(s)
            period_fees += s.platform_fee
        flows = deliver_slot(members, profiles, ledgers, tariff, index, settled, log)
        if observe is not None:
            observe(index, {m.name: flows[m.address] for m in members})
        for m in members:
            period_export[m.name] += flows[m.address].export_wh
            balance[m.name] -= ledgers[m.name].bills[-1].net_cost
        slots.append(log)
        if (index - start + 1) % community.period_slots == 0:
            ordered = sorted(members, key=lambda m: int(m.address, 16))
            pool = profit_pool(period_fees, community.profit_share_bps)
            shares = profit_shares(pool, [period_export[m.name] for m in ordered])
            for m, share in zip(ordered, shares, strict=True):
                ledgers[m.name].profit_share += share
                ledgers[m.name].service_fees += tariff.service_fee
                balance[m.name] += share - tariff.service_fee
            result, lease = 0, 0
            spec = community.battery
            if battery is not None and spec is not None and spec.lessees:
                result = book_value(balance[battery.name], battery) - battery_start
                share_bps = [x.share_bps for x in spec.lessees]
                lease = spec.lease_per_period
                for x, part in zip(spec.lessees, split_by_shares(lease, share_bps), strict=True):
                    ledgers[x.household].lease_paid += part
                for x, part in zip(spec.lessees, split_by_shares(result, share_bps), strict=True):
                    ledgers[x.household].battery_result += part
                    ledgers[battery.name].battery_result -= part
                    balance[battery.name] -= part
            periods.append(
                PeriodLog(
                    (index - start) // community.period_slots, period_fees, pool, result, lease
                )
            )
            battery_start = book_value(balance[battery.name], battery) if battery else 0
            period_fees = 0
            period_export = dict.fromkeys(ledgers, 0)
    for m in members:
        ledgers[m.name].balance_end = -ledgers[m.name].net_cost
    service = sum(ledger.service_fees for ledger in ledgers.values())
    fees = sum(p.platform_fees for p in periods)
    leases = sum(p.lease for p in periods)  # charged at each close, into the fee account
    return RunResult(
        community=community,
        days=days,
        members=members,
        ledgers=ledgers,
        slots=slots,
        periods=periods,
        rules=rules,
        dso_income={
            "fee account": fees + service + leases - sum(p.pool for p in periods),
            "network charges": sum(
                b.network_fees + b.imbalance_network_charge
                for ledger in ledgers.values()
                for b in ledger.bills
            ),
            "supply (retail - feed-in)": sum(
                b.imbalance_energy_charge - b.imbalance_credit
                for ledger in ledgers.values()
                for b in ledger.bills
            ),
            "battery lease": leases,
        },
        supply_conserved=True,
        audit=None,
        transactions=0,
        seconds=time.monotonic() - started,
        first_slot_start=0,
    )
