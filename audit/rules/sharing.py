"""Energy sharing (SharingSettlement, Community's sharing terms): each (slot, chunk) of the
`sharing` mode rebuilt from the committed readings, the members' terms in force and the tariff
with the rulebook (`market.sharing` through `chain.sharing.expected_rows`): every member's
allotment (G.02), allocation (G.03), credit, charge, payment and BaU cost, the community totals
E, D and A, what each balance covered and what became debt, the tokens the transaction moved
(SharingSettlement keeps nothing), the period's export and fees for profit sharing, and the
chunk's digest link."""

from __future__ import annotations

from collections import defaultdict

from audit.model import Event
from audit.rules.core import AuditState
from chain.events import event_record
from chain.metering import ZERO_HASH, readings_hash
from chain.settled import SHARING_FIGURES
from chain.sharing import SharingRow, chunk_members, expected_rows, rows_link, sharing_digest
from market.calendar import Calendar, hour_of_day
from market.sharing import Key, MemberMoney
from market.statement import SharingSettledRow
from market.tariff import Tariff

RULES: dict[str, str] = {
    "sharing-members": "a (slot, chunk) settles exactly the chunk's members with readings, "
    "ascending by address",
    "sharing-allocation": "each member's consumption, production, participating Wh, allotment "
    "(G.02), allocation (G.03) and credit are the key's from the committed readings and the "
    "terms in force",
    "sharing-money": "charged, paid and BaU follow the tariff (market.sharing.member_money); the "
    "transaction moves exactly what was collected and paid, and SharingSettlement keeps nothing",
    "sharing-totals": "SharingSlotDigest's E, D, A and member count are the slot's",
}

Terms = tuple[int, int]
"""(participation %, share ppm)."""
DEFAULT_TERMS: Terms = (100, 0)
Scheduled = tuple[int, tuple[int, ...]]
"""(participation %, static share ppm: one for every hour, or one per hour of the day)."""
DEFAULT_SCHEDULED: Scheduled = (100, (0,))


class SharingRules(AuditState):
    sharing_terms: dict[str, tuple[Scheduled, int | None, Scheduled]]
    """Member -> Community's terms word: (terms before the change, the change's first slot, the
    terms it brings)."""
    pending_sharing: dict[tuple[int, int], list[Event]]

    def __post_init__(self) -> None:
        super().__post_init__()
        self.sharing_terms = {}
        self.pending_sharing = defaultdict(list)

    def terms_at(self, member: str, slot: int) -> Terms:
        """The member's (participation %, share ppm) in `slot`; an hourly schedule gives the
        share of the hour of the day the slot starts in."""
        before, switch, after = self.sharing_terms.get(
            member, (DEFAULT_SCHEDULED, None, DEFAULT_SCHEDULED)
        )
        pct, shares = after if switch is not None and slot >= switch else before
        if len(shares) == 1:
            return pct, shares[0]
        return pct, shares[hour_of_day(self.state.slot_seconds, slot)]

    def on_SharingTermsScheduled(self, e: Event) -> None:
        """As Community.scheduleSharingTerms: a change not yet in force when the next is made
        is withdrawn; one in force becomes the terms before the next."""
        self._schedule(e, (int(e.args["sharePpm"]),))

    def on_SharingHoursScheduled(self, e: Event) -> None:
        """As Community.scheduleSharingHours: scheduleSharingTerms with a share per hour."""
        self._schedule(e, tuple(int(s) for s in e.args["sharesPpm"]))

    def _schedule(self, e: Event, shares: tuple[int, ...]) -> None:
        member, a = e.args["member"], e.args
        before, switch, after = self.sharing_terms.get(
            member, (DEFAULT_SCHEDULED, None, DEFAULT_SCHEDULED)
        )
        # Only the slot of the change's block matters here, not the gate closure.
        calendar = Calendar(self.state.genesis, self.state.slot_seconds, gate_closure_seconds=0)
        now = calendar.slot_at(self.block_times.get(e.block, 0))
        if switch is not None and switch <= now:
            before = after
        self.sharing_terms[member] = (
            before,
            int(a["fromSlot"]),
            (int(a["participationPct"]), shares),
        )

    def on_SharingSettled(self, e: Event) -> None:
        slot, member = int(e.args["slot"]), e.args["member"]
        self.pending_sharing[slot, self.member_chunk.get(member, -1)].append(e)

    def on_SharingSlotDigest(self, e: Event) -> None:
        a = e.args
        slot, chunk = int(a["slot"]), int(a["chunk"])
        self.readings_closed.add((slot, chunk))
        self.digests[slot, chunk] = a["digest"]
        self.advance_chunk(slot, chunk)
        got = self.pending_sharing.pop((slot, chunk), [])
        rules = self.rules_at(slot)
        if rules is None or not self.state.sharing_key:
            self.find(slot, "slot-gap", "shared without a tariff or a sharing key in force")
            return
        key, tariff = Key(self.state.sharing_key), rules.tariff
        words_by_chunk = {
            c: self.chunk_readings.get((slot, c), [])
            for c, first in self.chunk_from.items()
            if first <= slot
        }
        words = words_by_chunk.get(chunk, [])
        members = chunk_members(words)
        every = {m for ws in words_by_chunk.values() for m in chunk_members(ws)}
        expected = expected_rows(
            words_by_chunk, {m: self.terms_at(m, slot) for m in every}, key, tariff.for_sharing()
        )
        listed = [ev.args["member"] for ev in got]
        if listed != members:
            self.find(
                slot, "sharing-members", f"chunk {chunk} settled {listed}, readings {members}"
            )
        totals = (
            sum(r.participating_production_wh for r in expected.values()),
            sum(r.participating_consumption_wh for r in expected.values()),
            sum(r.allocated_wh for r in expected.values()),
        )
        told = (int(a["productionWh"]), int(a["demandWh"]), int(a["allocatedWh"]))
        if told != totals or int(a["members"]) != len(members):
            self.find(
                slot,
                "sharing-totals",
                f"chunk {chunk}: (E, D, A) {told} over {a['members']} members, the readings "
                f"give {totals} over {len(members)}",
            )
        h = ZERO_HASH
        net: dict[str, int] = defaultdict(int)
        period = slot // self.state.period_slots if self.state.period_slots else None
        for ev in got:
            row = event_record(SharingSettledRow, ev.args, slot=slot)
            h = rows_link(h, row.member, [int(ev.args[k]) for k in SHARING_FIGURES])
            want = expected.get(row.member)
            if want is not None:
                self._check_row(slot, row, want)
            money = row.money(tariff)
            self._move(net, tariff, row, money)
            if period is not None:
                self.period_export[period][row.member] += row.export_wh
                self.period_fees[period] += money.platform_fees
        moved = {k: v for k, v in self.tx_net().items() if v}
        if moved != {k: v for k, v in net.items() if v}:
            self.find(
                slot, "sharing-money", f"chunk {chunk}: tokens moved {moved}, rows give {dict(net)}"
            )
        previous = bytes.fromhex(self.digests.get((slot - 1, chunk), "0x" + "00" * 32)[2:])
        digest = sharing_digest(previous, slot, chunk, key, told, readings_hash(words), h)
        if "0x" + digest.hex() != str(a["digest"]).lower():
            self.find(slot, "digest", f"chain has {a['digest']}, recomputed 0x{digest.hex()}")

    def _check_row(self, slot: int, row: SharingSettledRow, want: SharingRow) -> None:
        energy = (
            row.import_wh,
            row.export_wh,
            row.participating_consumption_wh,
            row.participating_production_wh,
            row.allotment_wh,
            row.allocated_wh,
            row.credited_wh,
        )
        rule = (
            want.import_wh,
            want.export_wh,
            want.participating_consumption_wh,
            want.participating_production_wh,
            want.allotment_wh,
            want.allocated_wh,
            want.credited_wh,
        )
        self.find_mismatch(
            slot,
            "sharing-allocation",
            row.member,
            "import, export, C, G, G.02, G.03, credited",
            energy,
            "the rule gives",
            rule,
        )
        self.find_mismatch(
            slot,
            "sharing-money",
            row.member,
            "charged, paid, BaU",
            (row.charged, row.paid, row.bau_cost),
            "the tariff gives",
            (want.charged, want.paid, want.bau_cost),
        )

    def _move(
        self, net: dict[str, int], tariff: Tariff, row: SharingSettledRow, money: MemberMoney
    ) -> None:
        """What the row moves between the member and the DSO's accounts: a consumer pays what
        its balance covered (energy to the supply account, then network charges, then the
        platform fee; the rest is debt), a producer is paid by the supply account, which also
        pays its platform fee."""
        if row.charged:
            charges = [
                (self.supply_account, money.shared_energy_cost + money.grid_energy_cost),
                (self.network_account, money.network_charges),
                (self.fee_account, money.platform_fees),
            ]
            if row.collected < row.charged:  # EnergyToken.collect, creditor by creditor
                self.check_collect(
                    row.slot, row.member, [c for c in charges if c[1]], row.collected
                )
            elif row.collected > row.charged or self.tx_debts.get(row.member):
                self.find(
                    row.slot,
                    "debt",
                    f"{row.member} paid {row.collected} of {row.charged} in full, yet owes "
                    f"{dict(self.tx_debts.get(row.member, {}))}",
                )
            left = row.collected
            for account, amount in charges:
                covered = min(left, amount)
                left -= covered
                net[account] += covered
            net[row.member] -= row.collected
        if row.credited_wh or row.paid:
            sell_fee = tariff.trade_fee_sell * row.credited_wh
            net[row.member] += row.paid
            net[self.supply_account] -= row.paid + sell_fee
            net[self.fee_account] += sell_fee
