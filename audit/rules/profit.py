"""Profit sharing, the service fee and the battery lease per period (ProfitSharing):
`market.billing.profit_pool` and `profit_shares` over the period's platform fees and metered
export; each lessee's lease as the DSO last set it (LeaseSet) before the member was billed."""

from __future__ import annotations

from audit.model import Event
from audit.rules.core import AuditState
from market.billing import profit_pool, profit_shares

RULES: dict[str, str] = {
    "profit-period": "a period is closed once, after all its slots are settled",
    "profit-members": "a period is shared over exactly the current members, ascending in chunks",
    "profit-fees": "a period's platform fees are those of its settled slots",
    "profit-export": "each member's period export is the sum of its metered export",
    "profit-pool": "pool = floor(fees * share_bps / 10000), none without export",
    "profit-share": "shares floor the running export's part of the pool, and are paid as billed",
    "service-fee": "the service fee is the tariff's at the period's first slot",
    "lease": "a member is charged the battery lease last set for it (LeaseSet) at each close",
}


class ProfitRules(AuditState):
    def period_terms(self, period: int) -> tuple[int, int]:
        """The period's pool under the rulebook and its total metered export (every member's,
        also those who left during it)."""
        total = sum(self.period_export[period].values())
        pool = profit_pool(self.period_fees[period], self.state.share_bps) if total else 0
        return pool, total

    def on_LeaseSet(self, e: Event) -> None:
        self.leases[e.args["member"]] = int(e.args["perPeriod"])

    def on_PeriodBilled(self, e: Event) -> None:
        """One member's part of a period close; the close comes in chunks, each continuing after
        the last member billed, so each share is checked from the running export."""
        a = e.args
        period, member = int(a["period"]), a["member"]
        billed = self.billed[period]
        if period in self.periods:
            self.find(None, "profit-period", f"period {period} billed {member} after its close")
        if not self.settled_for_all((period + 1) * self.state.period_slots - 1):
            self.find(None, "profit-period", f"period {period} billed before its last slot")
        if billed and int(member, 16) <= int(billed[-1][0], 16):
            self.find(None, "profit-members", f"period {period}: {member} after {billed[-1][0]}")
        export = self.period_export[period].get(member, 0)
        if int(a["exportWh"]) != export:
            self.find(
                None,
                "profit-export",
                f"period {period} {member}: {a['exportWh']} Wh, readings give {export}",
            )
        pool, total = self.period_terms(period)
        running = sum(x for _, x in billed)
        if running + export > total:  # a member billed twice: the share rule has no answer
            self.find(
                None,
                "profit-export",
                f"period {period}: {running + export} Wh billed, {total} Wh exported in all",
            )
        else:
            (share,) = profit_shares(pool, [export], total_wh=total, before_wh=running)
            if int(a["share"]) != share:
                self.find(
                    None, "profit-share", f"period {period} {member}: {a['share']}, rule {share}"
                )
        paid = self.tx_transfers_from(self.address("ProfitSharing"))
        shares = {b.args["member"]: int(b.args["share"]) for b in self.tx_events("PeriodBilled")}
        if paid != {m: x for m, x in shares.items() if x}:
            self.find(None, "profit-share", f"period {period}: paid {paid}, billed {shares}")
        rules = self.rules_at(period * self.state.period_slots)
        fee = int(a["serviceFee"])
        if rules is None or fee != rules.tariff.service_fee:
            self.find(None, "service-fee", f"period {period} {member}: fee {fee}")
        lease = int(a["lease"])
        if lease != self.leases.get(member, 0):
            self.find(
                None,
                "lease",
                f"period {period} {member}: {lease}, set {self.leases.get(member, 0)}",
            )
        billed.append((member, export))
        charges = [(self.fee_account, x) for x in (fee, lease) if x]
        self.check_collect(None, member, charges, int(a["collected"]))

    def on_PeriodClosed(self, e: Event) -> None:
        """The call that billed the period's last member: every current member billed once."""
        a = e.args
        period = int(a["period"])
        self.periods.append(period)
        if period in self.periods[:-1]:
            self.find(None, "profit-period", f"period {period} closed twice")
        listed = [m for m, _ in self.billed[period]]
        current = sorted(self.members, key=lambda m: int(m, 16))
        if listed != current or int(a["members"]) != len(current):
            self.find(None, "profit-members", f"period {period} lists {listed}, members {current}")
        fees = self.period_fees[period]
        if int(a["platformFees"]) != fees:
            self.find(None, "profit-fees", f"period {period}: {a['platformFees']}, slots {fees}")
        pool, total = self.period_terms(period)
        if int(a["totalExportWh"]) != total:
            self.find(
                None, "profit-export", f"period {period}: total {a['totalExportWh']}, {total}"
            )
        if int(a["pool"]) != pool:
            self.find(None, "profit-pool", f"period {period}: pool {a['pool']}, rule gives {pool}")
        rules = self.rules_at(period * self.state.period_slots)
        fee = rules.tariff.service_fee if rules is not None else None
        if int(a["serviceFee"]) != fee:
            self.find(None, "service-fee", f"period {period}: {a['serviceFee']}, tariff {fee}")
