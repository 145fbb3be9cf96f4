"""Meters (MeterReadings, ImbalanceSettlement): the settlement against meters: reading
commitments, each member's imbalance and BaU cost (`market.billing` through
`chain.metering.settle_positions`), what a balance covered and what became debt, and the slot's
link in the digest chain, whose last link per chunk must be the chain's `digestAt`."""

from __future__ import annotations

from audit.model import Event
from audit.rules.core import AuditState
from chain.codec import MODE_CODES
from chain.metering import (
    ZERO_HASH,
    imbalance_link,
    pack_reading_word,
    positions,
    readings_hash,
    settle_positions,
    slot_digest,
    trades_hash,
)
from chain.signing import ReadingSpan, commit_order

RULES: dict[str, str] = {
    "readings": "readings come from the member's registered meter, from its chunk's first slot "
    "until the (slot, chunk) closes",
    "readings-commitment": "a (slot, chunk)'s reading count and hash are those of its readings",
    "imbalance-position": "each member with readings is settled once on its readings and fills",
    "imbalance-charge": "d = m - s: credit at feed-in, charge at retail + grid fee",
    "imbalance-credit": "the supply account pays each credit to its member",
    "bau-cost": "the BaU cost is the rulebook's for the metered net export",
    "digest": "each (slot, chunk)'s digest is the hash of the chunk's previous link and the "
    "(slot, chunk)'s data",
    "digest-onchain": "each chunk's last digest link equals ImbalanceSettlement.digestAt on chain",
}


class MeterRules(AuditState):
    def on_MeterRegistered(self, e: Event) -> None:
        self.meters[e.args["meterId"]] = e.args["member"]

    def on_MeterRetired(self, e: Event) -> None:
        self.meters.pop(e.args["meterId"], None)

    def on_ReadingAccepted(self, e: Event) -> None:
        a = e.args
        self._reading(
            a["meterId"], a["member"], int(a["slot"]), int(a["importWh"]), int(a["exportWh"])
        )

    def on_ReadingSpanAccepted(self, e: Event) -> None:
        """The transaction's spans (at its first span event), their readings each checked and
        committed as if accepted alone, in the order MeterReadings commits them."""
        spans = list(self.tx_events("ReadingSpanAccepted"))
        if e is not spans[0]:
            return
        for i, r in commit_order([ReadingSpan.of_event(s.args) for s in spans]):
            a = spans[i].args
            self._reading(a["meterId"], a["member"], r.slot, r.import_wh, r.export_wh)

    def _reading(
        self, meter_id: str, member: str, slot: int, import_wh: int, export_wh: int
    ) -> None:
        if self.meters.get(meter_id) != member:
            self.find(slot, "readings", f"meter {meter_id} is not registered to {member}")
        chunk = self.member_chunk.get(member, -1)
        if (slot, chunk) in self.readings_closed:
            self.find(slot, "readings", f"reading of {member} accepted after the slot closed")
        if slot < self.chunk_from.get(chunk, slot):
            self.find(slot, "readings", f"reading of {member} for a slot before its chunk opened")
        try:
            word = pack_reading_word(member, import_wh, export_wh)
        except ValueError as exc:
            self.find(slot, "readings", str(exc))
            return
        self.readings[slot].append(word)
        self.chunk_readings[slot, chunk].append(word)

    def on_SlotReadingsClosed(self, e: Event) -> None:
        slot, chunk = int(e.args["slot"]), int(e.args["chunk"])
        words = self.chunk_readings[slot, chunk]
        got = (int(e.args["count"]), e.args["readingsHash"])
        want = (len(words), "0x" + readings_hash(words).hex())
        if got != want:
            self.find(slot, "readings-commitment", f"chain has {got}, the readings give {want}")
        self.readings_closed.add((slot, chunk))

    def on_ImbalanceSettled(self, e: Event) -> None:
        a = e.args
        slot, member = int(a["slot"]), a["member"]
        self.pending_imbalance[slot, self.member_chunk.get(member, -1)].append(e)
        charges = [
            (self.supply_account, int(a["energyCharge"])),
            (self.network_account, int(a["networkCharge"])),
        ]
        self.check_collect(slot, member, [c for c in charges if c[1]], int(a["collected"]))
        if self.state.period_slots:
            period = slot // self.state.period_slots
            self.period_export[period][member] += int(a["exportWh"])

    def on_SlotDigest(self, e: Event) -> None:
        slot, chunk = int(e.args["slot"]), int(e.args["chunk"])
        self.readings_closed.add((slot, chunk))
        got = self.pending_imbalance.pop((slot, chunk), [])
        self.advance_chunk(slot, chunk)
        settled = self.settled.get(slot)
        rules = self.rules_at(slot)
        self.digests[slot, chunk] = e.args["digest"]
        if settled is None or rules is None:
            self.find(slot, "slot-gap", "settled against meters before its trades")
            return
        if settled.mode not in MODE_CODES:
            self.find(slot, "clearing-mode", f"unknown mode {settled.mode}: no digest to compare")
            return
        if self.state.period_slots and chunk == 0:
            self.period_fees[slot // self.state.period_slots] += settled.platform_fees
        words = self.chunk_readings[slot, chunk]
        expected = settle_positions(rules.tariff, positions(words, settled.trade_words))
        if (int(e.args["members"]), int(e.args["readings"])) != (len(expected), len(words)):
            self.find(
                slot,
                "readings-commitment",
                f"digest over {e.args['members']} members and {e.args['readings']} readings, "
                f"the events give {len(expected)} and {len(words)}",
            )
        by_member = {ev.args["member"]: ev for ev in got}
        if [ev.args["member"] for ev in got] != [x.position.member for x in expected]:
            self.find(
                slot,
                "imbalance-position",
                f"settled members {[ev.args['member'] for ev in got]}, members with readings "
                f"{[x.position.member for x in expected]}",
            )
        h = ZERO_HASH
        credits: dict[str, int] = {}
        for x in expected:
            p, d = x.position, x.imbalance
            ev = by_member.get(p.member)
            collected = int(ev.args["collected"]) if ev is not None else 0
            h = imbalance_link(h, x, collected)
            if d.credit:
                credits[p.member] = d.credit
            if ev is None:
                continue
            a = ev.args
            self.find_mismatch(
                slot,
                "imbalance-position",
                p.member,
                "import, export, traded net sold",
                (int(a["importWh"]), int(a["exportWh"]), int(a["tradedNetSoldWh"])),
                "the readings and fills give",
                (p.import_wh, p.export_wh, p.traded_net_sold_wh),
            )
            self.find_mismatch(
                slot,
                "imbalance-charge",
                p.member,
                "credit, energy charge, network charge",
                (int(a["credit"]), int(a["energyCharge"]), int(a["networkCharge"])),
                "the tariff gives",
                (d.credit, d.energy_charge, d.network_charge),
            )
            if int(a["bauCost"]) != x.bau_cost:
                self.find(slot, "bau-cost", f"{p.member}: {a['bauCost']}, not {x.bau_cost}")
        paid = self.tx_transfers_from(self.address("ImbalanceSettlement"))
        if paid != credits:
            self.find(slot, "imbalance-credit", f"credits paid {paid}, owed {credits}")
        previous = bytes.fromhex(self.digests.get((slot - 1, chunk), "0x" + "00" * 32)[2:])
        digest = slot_digest(
            previous,
            slot,
            chunk,
            settled.mode,
            settled.price,
            settled.volume_wh,
            trades_hash(settled.trade_words),
            readings_hash(words),
            h,
        )
        if "0x" + digest.hex() != e.args["digest"].lower():
            self.find(slot, "digest", f"chain has {e.args['digest']}, recomputed 0x{digest.hex()}")

    def check_digests_onchain(self) -> None:
        """Every imbalance settled has its digest, and each chunk's last link is the chain's."""
        st = self.state
        for slot, _ in sorted(self.pending_imbalance):
            self.find(slot, "imbalance-position", "ImbalanceSettled without a SlotDigest")
        last = {chunk: slot for slot, chunk in sorted(self.digests)}
        onchain = {chunk: (slot, digest) for slot, chunk, digest in st.last_digests}
        for chunk, slot in sorted(last.items()):
            ours = self.digests[slot, chunk]
            if chunk not in onchain:
                self.find(slot, "digest-onchain", f"chunk {chunk}: no on-chain digest read")
            elif onchain[chunk] != (slot, ours.lower()):
                self.find(
                    slot,
                    "digest-onchain",
                    f"chunk {chunk}: digestAt{onchain[chunk]}, the events say {(slot, ours)}",
                )
