"""The report of an energy-sharing run (`gridshare simulate-sharing`, with or without `--chain`):
the community's coverage per slot (what the community covered, G.03, and the residual grid
draw, G.01 − G.03, stacked up to the consumption; production split into export to the
community and to the grid), each member's consumption / covered / grid draw / bill / BaU /
saving, self-sufficiency, and the audit of a run on a chain. PNG plots and `report.html`
(referencing them) in one folder.

The figures stay integer Wh and n€: the chain-free run's from its allocations (bills by the
rule's money, `market.sharing.member_money`, under the community's tariff, the one a chain run
deploys), a chain run's from the chain's SharingSettled events (bills from each member's
statement of account). Only the plots scale them to kWh and € for drawing.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from audit.model import Report as AuditReport
from market.sharing import Allocation, member_money
from market.units import NanoEur
from sim.community import Community
from sim.report import STYLE, euros, png, pyplot, save_report
from sim.sharing import (
    NetExports,
    SharingSummary,
    SlotTotals,
    allocation_rows,
    daily_totals,
    kwh,
    percent,
    slot_totals,
    summarize,
)
from sim.sharingchain import SharingChainRun

COVERAGE_PNG = "coverage.png"
MEMBERS_PNG = "members.png"
BILLS_PNG = "bills.png"


@dataclass(frozen=True, slots=True)
class MemberBill:
    """A member's money over the run, n€ (costs positive)."""

    net_cost: NanoEur
    bau_cost: NanoEur

    @property
    def savings(self) -> NanoEur:
        return self.bau_cost - self.net_cost


@dataclass(frozen=True)
class SharingReport:
    summary: SharingSummary
    slots: tuple[SlotTotals, ...]
    """The community's figures per slot of the run."""
    bills: Mapping[str, MemberBill]
    """By household name."""
    bills_from: str
    """Where the bills come from, said in the report."""
    audit: AuditReport | None
    """The audit of a run on a chain (None: no chain)."""

    @property
    def days(self) -> tuple[SlotTotals, ...]:
        return daily_totals(self.slots, self.summary.slot_minutes)


def offline_report(
    community: Community, exports: NetExports, allocations: Sequence[Allocation]
) -> SharingReport:
    """The chain-free run's report: bills by the rule's money under the community's tariff."""
    tariff = community.tariff.rules().tariff.for_sharing()
    ids = community.member_ids()
    net = dict.fromkeys(ids.values(), 0)
    bau = dict.fromkeys(ids.values(), 0)
    for allocation in allocations:
        for row in allocation.members():
            money = member_money(tariff, row)
            net[row.id] += money.net_cost
            bau[row.id] += money.bau_cost
    return SharingReport(
        summary=summarize(community, exports, allocations),
        slots=slot_totals(allocation_rows(allocations), exports.slots),
        bills={name: MemberBill(net[i], bau[i]) for name, i in ids.items()},
        bills_from=(
            "the sharing rule's money (market.sharing.member_money) under the community's "
            "tariff; no chain"
        ),
        audit=None,
    )


def chain_report(run: SharingChainRun) -> SharingReport:
    """A chain run's report: bills from each member's statement of account."""
    return SharingReport(
        summary=run.summary,
        slots=run.slots,
        bills={
            name: MemberBill(st["net_cost"], st["bau_cost"]) for name, st in run.statements.items()
        },
        bills_from="each member's statement of account, built from the chain's events",
        audit=run.audit,
    )


# -- plots --------------------------------------------------------------------------------------


def _stacked(
    ax: Any,
    hours: list[float],
    width: float,
    lower: tuple[list[int], str],
    upper: tuple[list[int], str],
) -> None:
    """Two bars per slot, `upper` on `lower` (Wh, drawn in kWh), each with its label."""
    below = [wh / 1000 for wh in lower[0]]
    ax.bar(hours, below, width=width, align="edge", label=lower[1])
    above = [wh / 1000 for wh in upper[0]]
    ax.bar(hours, above, width=width, align="edge", bottom=below, label=upper[1])


def _split_panel(
    ax: Any,
    hours: list[float],
    width: float,
    total: tuple[list[int], str],
    lower: tuple[list[int], str],
    upper: tuple[list[int], str],
    title: str,
) -> None:
    """One panel of the coverage plot: a total per slot (Wh, drawn in kWh) outlined over the
    two parts it splits into, stacked."""
    _stacked(ax, hours, width, lower, upper)
    _outline(ax, hours, width, [wh / 1000 for wh in total[0]], total[1])
    ax.set_ylabel("kWh per slot")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title)


def _outline(ax: Any, starts: list[float], width: float, values: list[float], label: str) -> None:
    """A total as a line over the bars of each slot (each slot's value across its width)."""
    ax.step(
        [*starts, starts[-1] + width],
        [*values, values[-1]],
        where="post",
        color="black",
        linewidth=1,
        label=label,
    )


def plots(report: SharingReport) -> dict[str, bytes]:
    """The coverage plot per slot, and per member its energy and (if any) its bill."""
    plt = pyplot()
    slots = report.slots
    minutes = report.summary.slot_minutes
    hours = [s.slot * minutes / 60 for s in slots]
    width = minutes / 60
    out: dict[str, bytes] = {}

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.6), sharex=True)
    _split_panel(
        top,
        hours,
        width,
        ([s.consumption_wh for s in slots], "consumption (G.01)"),
        ([s.covered_wh for s in slots], "covered by the community (G.03)"),
        ([s.from_grid_wh for s in slots], "residual grid draw (G.01 − G.03)"),
        f"{report.summary.community}: consumption and its coverage per slot",
    )
    _split_panel(
        bottom,
        hours,
        width,
        ([s.production_wh for s in slots], "production"),
        ([s.to_community_wh for s in slots], "export to the community"),
        ([s.to_grid_wh for s in slots], "export to the grid (P.01)"),
        "Production and where it went",
    )
    bottom.set_xlabel("hour of the run")
    out[COVERAGE_PNG] = png(fig)

    members = report.summary.members
    xs = range(len(members))
    names = [m.name for m in members]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    covered = [m.covered_wh / 1000 for m in members]
    ax.bar(xs, covered, label="covered by the community")
    ax.bar(xs, [m.from_grid_wh / 1000 for m in members], bottom=covered, label="grid draw")
    ax.set_xticks(list(xs), names, rotation=60, fontsize=7)
    ax.set_ylabel("kWh")
    ax.legend(fontsize=8)
    ax.set_title("Each member's consumption: covered by the community and from the grid")
    out[MEMBERS_PNG] = png(fig)

    fig, ax = plt.subplots(figsize=(9, 3.2))
    bills = [report.bills[n] for n in names]
    ax.bar([x - 0.2 for x in xs], [b.bau_cost / 1e9 for b in bills], width=0.4, label="BaU")
    ax.bar([x + 0.2 for x in xs], [b.net_cost / 1e9 for b in bills], width=0.4, label="bill")
    ax.set_xticks(list(xs), names, rotation=60, fontsize=7)
    ax.set_ylabel("€")
    ax.legend(fontsize=8)
    ax.set_title("Bills against business as usual")
    out[BILLS_PNG] = png(fig)
    return out


# -- HTML ---------------------------------------------------------------------------------------


def _cells(values: Sequence[str]) -> str:
    return "".join(f"<td>{v}</td>" for v in values)


def _energy(t: SlotTotals) -> list[str]:
    return [
        kwh(t.consumption_wh),
        kwh(t.covered_wh),
        kwh(t.from_grid_wh),
        kwh(t.production_wh),
        kwh(t.to_community_wh),
        kwh(t.to_grid_wh),
    ]


ENERGY_HEADS = (
    "consumption G.01",
    "covered G.03",
    "grid draw G.01 − G.03",
    "production",
    "to community",
    "to grid P.01",
)


def audit_text(report: SharingReport) -> str:
    if report.audit is None:
        return "not run (no chain)"
    a = report.audit
    verdict = "OK" if a.ok else f"FAILED with {len(a.findings)} discrepancies"
    return f"{verdict}: {a.events_read} events, {len(a.slots_metered)} slots settled"


def html_report(report: SharingReport, images: Sequence[str]) -> str:
    """The page; `images` are the PNG files beside it, shown in this order."""
    esc = html.escape
    s = report.summary
    heads = "".join(f"<th>{h}</th>" for h in ENERGY_HEADS)
    members = []
    for m in s.members:
        b = report.bills[m.name]
        figures = _energy(
            SlotTotals(m.id, m.consumption_wh, m.covered_wh, m.production_wh, m.to_community_wh)
        )
        money = [euros(b.net_cost), euros(b.bau_cost), euros(b.savings)]
        members.append(
            f'<tr{" class=worse" if b.savings < 0 else ""} data-member="{m.id}">'
            f"<td>{esc(m.name)}</td><td>{m.participation_pct} %</td>"
            f"{_cells(figures)}{_cells(money)}</tr>"
        )
    total = SlotTotals(-1, s.consumption_wh, s.covered_wh, s.production_wh, s.to_community_wh)
    net = sum(b.net_cost for b in report.bills.values())
    bau = sum(b.bau_cost for b in report.bills.values())
    members.append(
        f'<tr data-member="total"><th>total</th><td></td>{_cells(_energy(total))}'
        f"{_cells([euros(net), euros(bau), euros(bau - net)])}</tr>"
    )
    days = "".join(
        f'<tr data-day="{d.slot}"><td>{(s.first + timedelta(days=d.slot)).isoformat()}</td>'
        f"{_cells(_energy(d))}</tr>"
        for d in report.days
    )
    worse = [m.name for m in s.members if report.bills[m.name].savings < 0]
    verdict = (
        "Every member paid no more than business as usual."
        if not worse
        else "Members paying more than business as usual: " + ", ".join(worse)
    )
    facts = [
        (
            "self-sufficiency",
            f"{percent(s.self_sufficiency_bps)} of the members' metered consumption covered by "
            "the community (G.03 / G.01)",
        ),
        ("production shared", f"{percent(s.self_consumption_bps)} of the members' production"),
        ("bills from", report.bills_from),
        ("audit (from events)", audit_text(report)),
    ]
    fact_rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    imgs = "".join(f'<img alt="{esc(name)}" src="{esc(name)}">' for name in images)
    where = "on a private chain" if report.audit is not None else "without a chain"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>gridshare: {esc(s.community)} (energy sharing)</title>
<style>{STYLE}</style></head><body>
<h1>{esc(s.community)}: {s.days} day(s) of energy sharing {where}</h1>
<p>From {s.first.isoformat()}, {s.slot_minutes}-minute slots, key <b>{s.key.value}</b>. Energy
in kWh (exact Wh), money in € (cost &gt; 0 means paid).</p>
<p><b>{esc(verdict)}</b></p>
<h2>Community</h2><table>{fact_rows}</table>
<h2>Members</h2>
<table id="members"><tr><th>member</th><th>participation</th>{heads}<th>bill</th><th>BaU</th>
<th>saving</th></tr>
{"".join(members)}</table>
<h2>Per day</h2>
<table id="days"><tr><th>day</th>{heads}</tr>{days}</table>
<h2>Plots</h2>{imgs}
</body></html>
"""


def write_sharing_report(report: SharingReport, directory: Path) -> Path:
    """The PNG plots and `report.html` (referencing them) into `directory`; the HTML's path."""
    images = plots(report)
    return save_report(directory, images, html_report(report, list(images)))
