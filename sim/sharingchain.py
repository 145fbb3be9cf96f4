"""An energy-sharing community's days on a private chain, through the real components.

The chain-free run (`sim.sharing`) allocates each slot with the pure rule; here the same net
exports go through the system a DSO runs: the contracts deployed in the `sharing` mode
(scripts/deploy.py), the households registered with a meter each and their prepaid tokens, the
participation factors (and static shares) scheduled on-chain with the tariff's notice, every
meter signing its reading on its own side into the oracle's outbox, the oracle's relay sending
them (it holds no meter key), and the matcher service settling each slot (SharingSettlement
checks the allocation and moves the money). Time is moved with the node, never slept.

The day's slot k is chain slot `offset_slots(slot length) + k`: the terms need `NOTICE_SLOTS` of
notice, so the chain starts whole hours (an hour for 15-minute slots) before 00:00 of day 1 and
those slots settle empty. A static schedule that changes by the hour goes on-chain as each
member's 24 shares by hour of the day, counted (as the contract counts them) from genesis: rotated
by those hours. At the end the
auditor (audit/) replays every event, each member's statement of account is built from the same
events (`market.statement`), and the chain's allocation is summed per member exactly as the
chain-free run sums the pure rule's, so the two can be compared figure by figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from audit.checks import audit
from audit.fetch import fetch_events, fetch_state
from audit.model import Report as AuditReport
from chain.devchain import DevChain, dev_chain
from chain.gateway import EnergyTokenGateway, ReadingsGateway
from chain.node import Node, Sender
from chain.settled import read_settled
from chain.sharing import member_order
from gridshare.settings import Settings
from market.calendar import hour_of_day
from market.sharing import Key, SharingMember, allocate
from market.statement import Statement, member_statements
from market.units import NANO_PER_EUR
from matcher.service import Matcher
from oracle import outbox
from oracle.meter.signing import Domain
from oracle.relay import Relay
from oracle.samples import meter_id
from sim.agents import MeterFlow
from sim.community import Community
from sim.report import euros
from sim.runner import Member, Runner, genesis_for, signed_slot_readings
from sim.sharing import (
    NetExports,
    SharingSummary,
    SlotRow,
    SlotTotals,
    format_summary,
    member_net_export_wh,
    percent,
    simulate_sharing,
    slot_totals,
    summary_of,
)

NOTICE_SLOTS = 2
"""The deployment's notice for tariffs and sharing terms (GRIDSHARE_ORDER_HORIZON_SLOTS)."""
SUPPLY_FLOAT_EUR = 10_000
Shares = tuple[int, ...]
"""A member's static share (ppm): one for every hour, or 24, by hour of the day."""
Terms = dict[str, tuple[int, Shares]]
"""Household name -> (participation %, shares) where it differs from (100 %, (0,))."""


def offset_slots(slot_seconds: int) -> int:
    """Slots between genesis and the run's first: more than the notice, and whole hours, so that
    the hours of the day counted from genesis are the run's shifted by a whole number."""
    per_hour = max(1, 3600 // slot_seconds)
    hours = -(-(NOTICE_SLOTS + 1) // per_hour)
    return hours * per_hour


Progress = Callable[[int, int], None]
"""Called with (slots done, slots in the run)."""


@dataclass(frozen=True)
class SharingChainRun:
    summary: SharingSummary
    """The chain's allocation (SharingSettled), summed per member."""
    slots: tuple[SlotTotals, ...]
    """The chain's allocation summed per slot of the run (the empty slots before it left out)."""
    rule: SharingSummary
    """The pure rule's allocation of the same net exports, members numbered in the chain's
    order (chunk, then address), which decides who gets a leftover Wh."""
    offline: SharingSummary
    """The chain-free run's (`sim.sharing.simulate_sharing`: members numbered in file order)."""
    statements: dict[str, Statement]
    """Each member's statement of account over the run's slots, by household name."""
    audit: AuditReport
    seconds: float
    members: tuple[Member, ...]
    """The households as registered (wallets and meter keys: development chains only)."""

    @property
    def matches_rule(self) -> bool:
        """Every member's figures on the chain are the pure rule's."""
        return self.summary == self.rule

    @property
    def matches_offline_totals(self) -> bool:
        """The community's totals are the chain-free run's (member order aside)."""
        a, b = self.summary, self.offline
        return (a.consumption_wh, a.covered_wh, a.production_wh, a.to_community_wh) == (
            b.consumption_wh,
            b.covered_wh,
            b.production_wh,
            b.to_community_wh,
        )


def _deploy_env(community: Community, key: Key, genesis: int, deployments: Path) -> dict[str, str]:
    return {
        **community.deploy_env(),
        "GRIDSHARE_MARKET_MODE": "sharing",
        "GRIDSHARE_SHARING_KEY": key.value,
        "GRIDSHARE_ORDER_HORIZON_SLOTS": str(NOTICE_SLOTS),
        # A slot settles once every meter has reported, or one slot after its delivery: the
        # empty slots before the first are due when the first is delivered.
        "GRIDSHARE_READING_DEADLINE_SECONDS": str(community.slot_seconds),
        "GRIDSHARE_GENESIS": str(genesis),
        "GRIDSHARE_DEPLOYMENTS_DIR": str(deployments),
    }


class _SharingDay:
    """One deployment driven slot by slot (see the module's docstring)."""

    def __init__(self, node: Node, community: Community, members: list[Member], work: Path):
        accounts = [to_checksum_address(a) for a in node.make_request("eth_accounts", [])]
        self.node, self.community, self.members = node, community, members
        self.dso, self.oracle, self.matcher_sender = (Sender(a) for a in accounts[:3])
        self.matcher = Matcher(node, self.matcher_sender)
        self.step = self.matcher.sharing_step  # the matcher's step for this mode
        self.outbox = outbox.open_outbox(f"sqlite:///{work / 'sharing-outbox.sqlite'}")
        self.relay = Relay(
            self.outbox, node, self.oracle, self.matcher.calendar(), max(100, len(members))
        )
        self.domain = Domain(node.manifest.chain_id, ReadingsGateway(node).address)
        self.community_gw = self.matcher.community_gw
        self.token = EnergyTokenGateway(node)

    def register(self, terms: Terms, first: int) -> None:
        """Members with a meter each and their tokens, a float for the supply account, and the
        sharing terms from slot `first` (the day's first): participation % and one share or 24
        by hour of the day, which the chain counts from genesis (rotated here by `first`'s)."""
        lock_in = self.community.lock_in_days * self.community.slots_per_day
        top_up = self.community.top_up_eur * NANO_PER_EUR
        for m in self.members:
            self.community_gw.register_member(m.address, m.role, lock_in, sender=self.dso)
            signer = Account.from_key(m.meter_key).address
            meter = meter_id(m.meter)
            self.community_gw.register_meter(meter, m.address, signer, sender=self.dso)
            ref = keccak(text=f"sharing-topup:{m.address}")
            self.token.top_up(m.address, top_up, ref, sender=self.dso)
        supply = self.community_gw.supply_account()
        ref = keccak(text=f"sharing-supply:{supply}")
        self.token.top_up(supply, SUPPLY_FLOAT_EUR * NANO_PER_EUR, ref, sender=self.dso)
        shift = hour_of_day(self.community.slot_seconds, first)
        for m in self.members:
            if m.name not in terms:
                continue
            pct, shares = terms[m.name]
            if len(shares) == 1:
                self.community_gw.schedule_sharing_terms(
                    m.address, first, pct, shares[0], sender=self.dso
                )
            else:
                by_chain_hour = [shares[(h - shift) % 24] for h in range(24)]
                self.community_gw.schedule_sharing_hours(
                    m.address, first, pct, by_chain_hour, sender=self.dso
                )

    def member_order(self) -> list[str]:
        """Household names in the chain's member order (chunk, then address)."""
        gateway = self.community_gw
        return [
            m.name
            for m in sorted(
                self.members, key=lambda m: member_order(gateway.chunk_of(m.address), m.address)
            )
        ]

    def deliver(self, slot: int, flows: dict[str, MeterFlow]) -> None:
        """After `slot`'s delivery every meter signs its reading, the relay sends them, and the
        matcher settles every slot due (the empty ones before the first included)."""
        calendar = self.matcher.calendar()
        self.node.advance_time(calendar.slot_start(slot + 1) + 1 - self.node.block_timestamp())
        rows, _words = signed_slot_readings(self.members, slot, flows, self.domain)
        with self.outbox.begin() as conn:
            outbox.add_readings(conn, rows)
        stats = self.relay.run_once()
        if stats.sent != len(rows) or stats.quarantined:
            raise RuntimeError(f"slot {slot}: the relay sent {stats.sent} of {len(rows)} readings")
        if self.step is None or slot not in self.step.run_once():
            raise RuntimeError(f"slot {slot}: the matcher did not settle it")


def _terms(community: Community, year: int) -> Terms:
    """Each household's participation % and static shares where they differ from the default:
    the static key's shares by hour of the day (`year`'s first day: the schedule repeats every
    day), one share where every hour's is the same."""
    assert community.sharing is not None
    ids = community.member_ids()
    day: dict[int, list[int]] = {}
    if community.sharing.key is Key.STATIC:
        day = {m: hours[:24] for m, hours in community.static_schedule(year).items()}
    out: Terms = {}
    for h in community.households:
        hours = day.get(ids[h.name], [0])
        shares = (hours[0],) if len(set(hours)) == 1 else tuple(hours)
        if (h.participation_pct, shares) != (100, (0,)):
            out[h.name] = (h.participation_pct, shares)
    return out


def _rule_summary(
    community: Community,
    exports: NetExports,
    terms: Terms,
    chain_order: list[str],
) -> SharingSummary:
    """`market.sharing.allocate` of every slot with each member's id its rank in `chain_order`
    (household names in the chain's member order), summed per member; slot k of the run starts
    in hour of the day `hour_of_day(slot length, k)` (the run starts at 00:00)."""
    assert community.sharing is not None
    key = community.sharing.key
    ids = community.member_ids()
    rows: list[tuple[int, int, int, int, int]] = []
    for k in range(exports.slots):
        hour = hour_of_day(community.slot_seconds, k)
        members = []
        for rank, name in enumerate(chain_order):
            pct, shares = terms.get(name, (100, (0,)))
            ppm = shares[hour % len(shares)] if key is Key.STATIC else None
            net = exports.by_member[ids[name]][k]
            members.append(SharingMember(rank, net, pct, ppm))
        for row in allocate(members, key).members():
            rows.append(
                (
                    ids[chain_order[row.id]],
                    row.consumption_wh,
                    row.allocated_wh,
                    row.production_wh,
                    row.credited_wh,
                )
            )
    return summary_of(community, exports, rows)


def run_sharing_on_chain(
    community: Community,
    days: int,
    deployments_dir: Path,
    settings: Settings,
    progress: Progress | None = None,
    chain: DevChain | None = None,
) -> SharingChainRun:
    """Deploy `community` in the `sharing` mode on a private anvil and run `days` days of it
    (see the module's docstring). Given `chain` (a development chain with nothing deployed, its
    deployments folder `deployments_dir`), the run deploys there instead and leaves it running:
    `gridshare dashboard` then serves the community."""
    if community.sharing is None:
        raise ValueError(f"{community.name} has no [sharing] section")
    if community.battery is not None:
        raise ValueError(f"{community.name}: a community battery does not take part in sharing")
    started = time.monotonic()
    exports = member_net_export_wh(community, days)
    terms = _terms(community, exports.first.year)
    members = Runner.make_members(community)
    ids = community.member_ids()
    length = community.slot_seconds
    first = offset_slots(length)
    genesis = genesis_for(int(time.time()), margin_seconds=(first + 1) * length)
    genesis -= first * length
    work = deployments_dir.resolve()
    env = _deploy_env(community, community.sharing.key, genesis, work)
    local = settings.model_copy(update={"deployments_dir": work})
    with ExitStack() as stack:
        if chain is None:
            chain = stack.enter_context(dev_chain(work, env, node="anvil"))
        else:
            chain.deploy(env)
        node = Node.from_settings(chain.network_id, local)
        day = _SharingDay(node, community, members, work)
        day.register(terms, first)
        chain_order = day.member_order()
        for k in range(exports.slots):
            flows = {}
            for m in members:
                net = exports.by_member[ids[m.name]][k]
                flows[m.address] = MeterFlow(max(-net, 0), max(net, 0))
            day.deliver(first + k, flows)
            if progress is not None:
                progress(k + 1, exports.slots)
        head = node.block_number()
        events = fetch_events(node, head, settings.audit_batch_blocks)
        report = audit(events, fetch_state(node, events, head))
    settled = read_settled(events)
    lo, hi = first, first + exports.slots - 1
    by_address = member_statements(
        [m.address for m in members],
        settled,
        community.period_slots,
        lo,
        hi,
    )
    statements = {m.name: by_address[m.address] for m in members}
    id_of = {m.address: ids[m.name] for m in members}
    rows: list[SlotRow] = [
        (
            r.slot - lo,
            id_of[r.member],
            max(r.import_wh - r.export_wh, 0),
            r.allocated_wh,
            max(r.export_wh - r.import_wh, 0),
            r.credited_wh,
        )
        for r in settled.settled.sharing
        if lo <= r.slot <= hi
    ]
    return SharingChainRun(
        summary=summary_of(community, exports, (row[1:] for row in rows)),
        slots=slot_totals(rows, exports.slots),
        rule=_rule_summary(community, exports, terms, chain_order),
        offline=simulate_sharing(community, days),
        statements=statements,
        audit=report,
        seconds=time.monotonic() - started,
        members=tuple(members),
    )


def format_run(run: SharingChainRun) -> str:
    """The allocation table (kWh), each member's bill against business as usual (€), the
    comparison with the chain-free run, and the audit."""
    lines = [format_summary(run.summary).rstrip("\n"), ""]
    head = f"{'member':<8} {'bill €':>10} {'BaU €':>10} {'saving €':>10}"
    lines += [
        "bills on the chain (energy, network charges and platform fees of the run's slots; "
        "statements of account from the chain's events):",
        "",
        head,
        "-" * len(head),
    ]
    total_net = total_bau = 0
    for m in run.summary.members:
        st = run.statements[m.name]
        net, bau = st["net_cost"], st["bau_cost"]
        total_net, total_bau = total_net + net, total_bau + bau
        lines.append(f"{m.name:<8} {euros(net):>10} {euros(bau):>10} {euros(bau - net):>10}")
    lines += [
        "-" * len(head),
        f"{'total':<8} {euros(total_net):>10} {euros(total_bau):>10} "
        f"{euros(total_bau - total_net):>10}",
        "",
        f"self-sufficiency on the chain: {percent(run.summary.self_sufficiency_bps)}",
        "every member's allocation on the chain is the pure rule's (market.sharing.allocate, "
        "leftover Wh in the chain's member order): " + ("yes" if run.matches_rule else "NO"),
        "the community's totals equal the chain-free run's (simulate-sharing): "
        + ("yes" if run.matches_offline_totals else "NO"),
        "",
        run.audit.to_text(),
        f"({run.seconds:.0f} s)",
    ]
    return "\n".join(lines) + "\n"
