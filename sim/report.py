"""The run's report: every member's bill against business as usual, community KPIs, plots, and a
self-contained HTML page (images inlined). Money stays integer n€ until it is printed.

A household that pays more than BaU is named with the reason, computed from its bill: what the
market saved it on energy, and which fixed charges (service fee, battery lease, its share of a
battery loss) outweighed that. The community battery is the DSO's asset: its result is passed
to its lessees, so it has no bill of its own here.
"""

from __future__ import annotations

import base64
import html
import io
import json
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from market.statement import Part
from market.units import NANO_PER_EUR
from sim.runner import Member, MemberLedger, RunResult


def euros(amount: int, decimals: int = 2) -> str:
    """n€ as euros, rounded half away from zero to `decimals` places (display only)."""
    unit = NANO_PER_EUR // 10**decimals
    sign = "-" if amount < 0 else ""
    units = (abs(amount) + unit // 2) // unit
    whole, frac = divmod(units, 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


def kwh(wh: int) -> str:
    return f"{wh / 1000:.1f}"


def price_kwh(price: int) -> str:
    """n€/Wh (= µ€/kWh) as €/kWh."""
    return f"{price / 1e6:.3f}"


def dry_figures(ledger: MemberLedger) -> dict[str, int]:
    """A dry run's figures (no chain, so no statement), under the statement's keys and signs."""
    total = ledger.total()
    return {
        "net_cost": ledger.net_cost,
        "bau_cost": total.bau_cost,
        "savings": ledger.savings,
        "service_fee": total.service_fee,
        "battery_lease": ledger.lease_paid,
        "battery_result": -ledger.battery_result,
        "profit_share": -ledger.profit_share,
        "bought_wh": total.bought_wh,
        "sold_wh": total.sold_wh,
        "import_wh": ledger.import_wh,
        "export_wh": ledger.export_wh,
    }


def figures(result: RunResult, member: Member) -> dict[str, int]:
    """A member's figures: its statement of account from the chain's events (the same function
    the API and the audit use), or the dry run's ledger."""
    if result.statements is not None:
        return result.statements[member.name].as_dict()
    return dry_figures(result.ledgers[member.name])


@dataclass(frozen=True)
class MemberRow:
    name: str
    role: str
    f: dict[str, int]
    """The member's figures (`figures`): statement keys, costs positive when paid."""

    @property
    def pays_more_than_bau(self) -> bool:
        return self.f["savings"] < 0

    def reason(self) -> str:
        """Why a member pays more than BaU (empty if it does not)."""
        if not self.pays_more_than_bau:
            return ""
        f = self.f
        fixed = f["service_fee"] + f["battery_lease"] + f["battery_result"] + f["profit_share"]
        market_gain = f["bau_cost"] - (f["net_cost"] - fixed)
        parts = [f"service fee {euros(f['service_fee'])} €"]
        if f["battery_lease"]:
            parts.append(f"battery lease {euros(f['battery_lease'])} €")
        if f["battery_result"] > 0:
            parts.append(f"share of the battery's loss {euros(f['battery_result'])} €")
        if f["battery_result"] < 0:
            parts.append(f"less battery result {euros(-f['battery_result'])} €")
        if f["profit_share"]:
            parts.append(f"less profit share {euros(-f['profit_share'])} €")
        traded = f["bought_wh"] + f["sold_wh"]
        return (
            f"traded {kwh(traded)} kWh locally, saving {euros(market_gain)} € on energy, "
            f"less than its fixed charges: " + ", ".join(parts)
        )


@dataclass(frozen=True)
class Kpis:
    load_wh: int
    pv_wh: int
    grid_import_wh: int
    grid_export_wh: int
    traded_wh: int
    prices: list[int]
    platform_fees: int
    service_fees: int
    network_charges: int
    supply_margin: int
    lease_income: int
    battery_result: int
    profit_shared: int

    @property
    def self_sufficiency(self) -> float:
        """Share of the households' consumption not drawn from outside the community."""
        return 1 - self.grid_import_wh / self.load_wh if self.load_wh else 0.0

    @property
    def self_consumption(self) -> float:
        """Share of the PV output used inside the community (not exported past it)."""
        return 1 - self.grid_export_wh / self.pv_wh if self.pv_wh else 0.0


def kpis(result: RunResult) -> Kpis:
    grid_import = sum(max(0, s.import_wh - s.export_wh) for s in result.slots)
    grid_export = sum(max(0, s.export_wh - s.import_wh) for s in result.slots)
    income = result.dso_income
    return Kpis(
        load_wh=sum(s.load_wh for s in result.slots),
        pv_wh=sum(s.pv_wh for s in result.slots),
        grid_import_wh=grid_import,
        grid_export_wh=grid_export,
        traded_wh=sum(s.volume_wh for s in result.slots),
        prices=[s.price for s in result.slots if s.price is not None],
        platform_fees=sum(p.platform_fees for p in result.periods) or income["fee account"],
        service_fees=sum(result.ledgers[m.name].service_fees for m in result.members),
        network_charges=income["network charges"],
        supply_margin=income["supply (retail - feed-in)"],
        lease_income=income["battery lease"],
        battery_result=sum(p.battery_result for p in result.periods),
        profit_shared=sum(p.pool for p in result.periods),
    )


def household_rows(result: RunResult) -> list[MemberRow]:
    return [
        MemberRow(m.name, m.role, figures(result, m)) for m in result.members if m.role != "battery"
    ]


def _battery(result: RunResult) -> Member | None:
    return next((m for m in result.members if m.role == "battery"), None)


def bills_match(result: RunResult) -> bool:
    """Every member's on-chain balance moved by exactly what its bill says."""
    return all(result.ledgers[m.name].chain_delta_matches for m in result.members)


def audit_text(result: RunResult) -> str:
    report = result.audit
    if report is None:
        return "not run (dry run)"
    verdict = "OK" if report.ok else f"FAILED with {len(report.findings)} discrepancies"
    return (
        f"{verdict}: {report.events_read} events, {len(report.slots_checked)} slots traded, "
        f"{len(report.slots_metered)} against meters, {len(report.periods_checked)} period(s)"
    )


def kpi_lines(result: RunResult) -> list[tuple[str, str]]:
    k = kpis(result)
    prices = k.prices
    price_text = "no trade"
    if prices:
        price_text = (
            f"min {price_kwh(min(prices))} / median {price_kwh(int(statistics.median(prices)))}"
            f" / mean {price_kwh(sum(prices) // len(prices))} / max {price_kwh(max(prices))}"
            f" €/kWh over {len(prices)} of {len(result.slots)} slots"
        )
    return [
        ("self-sufficiency", f"{k.self_sufficiency:.0%} of {kwh(k.load_wh)} kWh consumption"),
        ("self-consumption", f"{k.self_consumption:.0%} of {kwh(k.pv_wh)} kWh PV"),
        ("traded locally", f"{kwh(k.traded_wh)} kWh"),
        ("clearing price", price_text),
        *dso_lines(result, k),
        (
            "chain checks",
            f"token supply {'conserved' if result.supply_conserved else 'NOT CONSERVED'}; "
            f"bills {'match' if bills_match(result) else 'DO NOT MATCH'} "
            f"on-chain balances; {result.transactions} transactions in {result.seconds:.0f} s",
        ),
        ("audit (from events)", audit_text(result)),
    ]


def dso_lines(result: RunResult, k: Kpis) -> list[tuple[str, str]]:
    """The DSO's figures: its statement of account (income positive) on a chain run, the
    accounts' balances on a dry run."""
    st = result.dso_statement
    if st is None:
        return [
            ("DSO platform fees", f"{euros(k.platform_fees)} € (trade fees, before sharing)"),
            ("DSO service fees", f"{euros(k.service_fees)} €"),
            ("DSO network charges", f"{euros(k.network_charges)} €"),
            ("DSO supply margin", f"{euros(k.supply_margin)} € (retail sold - feed-in paid)"),
            ("battery lease income", f"{euros(k.lease_income)} €"),
            ("battery result", f"{euros(k.battery_result)} € (to lessees by share)"),
            ("profit shared", f"{euros(k.profit_shared)} € (platform fees to exporters)"),
        ]
    shown = [x for x in st.lines if x.part in (Part.COST, Part.TOTAL) and x.amount]
    return [(f"DSO {x.label.lower()}", f"{euros(x.amount)} €") for x in shown]


def summary_table(result: RunResult) -> Table:
    rows = household_rows(result)
    worse = [r for r in rows if r.pays_more_than_bau]
    title = (
        f"{result.community.name}: {len(rows)} households, {result.days} day(s), "
        f"{result.rules.mode} clearing"
    )
    # Fits 80 columns (a log, a pipe, a narrow terminal) with room for four-digit kWh and euros:
    # no vertical borders, two spaces between columns, short headers; the unit is in the caption.
    table = Table(
        title=title,
        title_justify="left",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),  # with the box's blank divider: two spaces between columns
        pad_edge=False,
    )
    for column in ("household", "role", "in/out kWh", "traded kWh", "cost", "BaU", "saved"):
        table.add_column(
            column,
            justify="left" if column in ("household", "role") else "right",
            no_wrap=True,
        )
    for r in rows:
        f = r.f
        table.add_row(
            r.name,
            r.role,
            f"{kwh(f['import_wh'])}/{kwh(f['export_wh'])}",
            kwh(f["bought_wh"] + f["sold_wh"]),
            euros(f["net_cost"]),
            euros(f["bau_cost"]),
            euros(f["savings"]),
            style="red" if f["savings"] < 0 else "",
        )
    saved_total = sum(r.f["savings"] for r in rows)
    bau_total = sum(r.f["bau_cost"] for r in rows)
    table.add_section()
    table.add_row(
        "all", "", "", "", euros(bau_total - saved_total), euros(bau_total), euros(saved_total)
    )
    verdict = (
        "every household pays no more than BaU"
        if not worse
        else f"{len(worse)} household(s) pay more than BaU"
    )
    table.caption = f"bills in € (cost > 0: paid, < 0: earned)\n{verdict}"
    return table


def print_summary(result: RunResult, console: Console) -> None:
    console.print(summary_table(result))
    for name, value in kpi_lines(result):
        console.print(f"  [bold]{name:<34}[/] {value}")
    if result.audit is not None:
        for f in result.audit.findings[:10]:
            console.print(f"  [red]audit[/]: slot {f.slot}: {f.rule}: {f.detail}")
    for r in household_rows(result):
        if r.pays_more_than_bau:
            console.print(f"  [red]{r.name} pays more than BaU[/]: {r.reason()}")


# ---------------------------------------------------------------------------------------------
# Plots and HTML


STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1100px; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
td:first-child, th { text-align: left; }
tr.worse { background: #fdd; }
img { display: block; margin: 1em 0; max-width: 100%; }
"""
"""The reports' stylesheet (this one's and the sharing report's, sim/sharingreport.py)."""


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig: object) -> bytes:
    """A matplotlib figure as PNG bytes. The figure is closed: pyplot keeps every figure it
    made, and its memory, until it is."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")  # type: ignore[attr-defined]
    pyplot().close(fig)
    return buffer.getvalue()


def plots(result: RunResult) -> dict[str, bytes]:
    plt = pyplot()
    hours = [i * result.community.slot_minutes / 60 for i in range(len(result.slots))]
    out: dict[str, bytes] = {}

    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(hours, [s.load_wh / 1000 for s in result.slots], label="consumption")
    ax.plot(hours, [s.pv_wh / 1000 for s in result.slots], label="PV")
    ax.bar(
        hours,
        [s.volume_wh / 1000 for s in result.slots],
        width=0.4,
        alpha=0.5,
        label="traded locally",
    )
    ax.set_xlabel("hour of the run")
    ax.set_ylabel("kWh per slot")
    ax.legend()
    ax.set_title("Community energy per slot")
    out["energy.png"] = png(fig)

    fig, ax = plt.subplots(figsize=(9, 2.8))
    priced = [(h, s.price / 1e6) for h, s in zip(hours, result.slots, strict=True) if s.price]
    if priced:
        ax.step([p[0] for p in priced], [p[1] for p in priced], where="post", label="clearing")
    tariff = result.rules.tariff
    ax.axhline(tariff.retail_price / 1e6, color="red", linestyle="--", label="retail")
    ax.axhline(tariff.feed_in_price / 1e6, color="green", linestyle="--", label="feed-in")
    ax.set_xlabel("hour of the run")
    ax.set_ylabel("€/kWh")
    ax.legend()
    ax.set_title("Clearing price")
    out["prices.png"] = png(fig)

    rows = household_rows(result)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    xs = range(len(rows))
    ax.bar(
        [x - 0.2 for x in xs],
        [r.f["bau_cost"] / 1e9 for r in rows],
        width=0.4,
        label="BaU",
    )
    ax.bar(
        [x + 0.2 for x in xs],
        [r.f["net_cost"] / 1e9 for r in rows],
        width=0.4,
        label="with the community",
    )
    ax.set_xticks(list(xs), [r.name for r in rows], rotation=60, fontsize=7)
    ax.set_ylabel("€")
    ax.legend()
    ax.set_title("Bills against business as usual")
    out["bills.png"] = png(fig)
    return out


def html_report(result: RunResult, images: dict[str, bytes]) -> str:
    esc = html.escape
    rows = household_rows(result)
    member_rows = "".join(
        "<tr{cls}><td>{n}</td><td>{role}</td><td>{imp}</td><td>{exp}</td><td>{b}</td>"
        "<td>{s}</td><td>{fee}</td><td>{lease}</td><td>{share}</td><td>{cost}</td>"
        "<td>{bau}</td><td>{saved}</td><td>{why}</td></tr>".format(
            cls=' class="worse"' if r.pays_more_than_bau else "",
            n=esc(r.name),
            role=r.role,
            imp=kwh(r.f["import_wh"]),
            exp=kwh(r.f["export_wh"]),
            b=kwh(r.f["bought_wh"]),
            s=kwh(r.f["sold_wh"]),
            fee=euros(r.f["service_fee"]),
            lease=euros(r.f["battery_lease"] + r.f["battery_result"]),
            share=euros(-r.f["profit_share"]),
            cost=euros(r.f["net_cost"]),
            bau=euros(r.f["bau_cost"]),
            saved=euros(r.f["savings"]),
            why=esc(r.reason()),
        )
        for r in rows
    )
    kpi_rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in kpi_lines(result))
    imgs = "".join(
        f'<img alt="{esc(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        for name, data in images.items()
    )
    worse = [r for r in rows if r.pays_more_than_bau]
    verdict = (
        "Every household paid no more than business as usual."
        if not worse
        else "Households paying more than business as usual: "
        + "; ".join(f"{r.name}: {r.reason()}" for r in worse)
    )
    battery = _battery(result)
    battery_text = ""
    if battery is not None:
        b = result.ledgers[battery.name]
        battery_text = (
            f"<p>Community battery <b>{esc(battery.name)}</b>: bought "
            f"{kwh(b.total().bought_wh)} kWh, sold {kwh(b.total().sold_wh)} kWh; its result "
            f"went to its lessees by share (per period: "
            + ", ".join(f"{euros(p.battery_result)} €" for p in result.periods)
            + ").</p>"
        )
    statements_text = (
        "<p>Every household's statement of account, line by line to the n€ as the API's "
        "<code>/bills</code> gives it: <code>statements.json</code> beside this page.</p>"
        if result.statements is not None
        else ""
    )
    start = datetime.fromtimestamp(result.first_slot_start, UTC)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gridshare: {esc(result.community.name)}</title>
<style>{STYLE}</style></head><body>
<h1>{esc(result.community.name)}: {result.days} day(s) on the chain</h1>
<p>Profiles from {result.community.start_date} (BDEW load, pvlib PV); chain slots from
{start:%Y-%m-%d %H:%M} UTC, {result.community.slot_minutes}-minute slots,
{result.rules.mode} clearing. Amounts in € (prepaid tokens); cost &gt; 0 means paid.</p>
<p><b>{esc(verdict)}</b></p>
<h2>Community</h2><table>{kpi_rows}</table>
{battery_text}
<h2>Households</h2>
<table><tr><th>household</th><th>role</th><th>import kWh</th><th>export kWh</th>
<th>bought kWh</th><th>sold kWh</th><th>service fee</th><th>lease − battery result</th>
<th>profit share</th><th>cost</th><th>BaU</th><th>saved</th><th>why more than BaU</th></tr>
{member_rows}</table>
{statements_text}
<h2>Plots</h2>{imgs}
</body></html>
"""


def save_report(directory: Path, images: dict[str, bytes], html: str) -> Path:
    """The PNG plots and `report.html` into `directory`; returns the HTML's path."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in images.items():
        (directory / name).write_bytes(data)
    path = directory / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def statements_json(result: RunResult) -> dict[str, Any] | None:
    """A chain run's statements of account to the n€ (Wh for the energy lines), every line by
    its key as `market/statement.py` names it and as the API's `/bills` and `/dso/statement`
    give it for the same slots; None for a dry run (no chain, no statement)."""
    if result.statements is None or result.dso_statement is None:
        return None
    first = next(iter(result.statements.values()), result.dso_statement)
    return {
        "from_slot": first.from_slot,
        "to_slot": first.to_slot,
        "households": {
            m.name: {"address": m.address, "lines": result.statements[m.name].as_dict()}
            for m in result.members
        },
        "dso": result.dso_statement.as_dict(),
    }


def write_report(result: RunResult, directory: Path) -> Path:
    """PNG plots and `report.html` (images inlined) into `directory`, and on a chain run
    `statements.json` (`statements_json`); returns the HTML path."""
    images = plots(result)
    path = save_report(directory, images, html_report(result, images))
    statements = statements_json(result)
    if statements is not None:
        text = json.dumps(statements, indent=1) + "\n"
        (directory / "statements.json").write_text(text, encoding="utf-8")
    return path
