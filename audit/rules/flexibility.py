"""DSO flexibility (Flexibility): each request's escrow, each offer, the merit-order acceptance
(`market.flexibility.accept`), and each delivery's baseline, payment and penalty
(`market.flexibility.settle_offer` through `chain.flexibility.outcomes`, from the replayed
readings of the slot and of the same slot of day on the lookback days), what the penalty
collected and the payout of the escrow."""

from __future__ import annotations

from collections import defaultdict

from audit.model import Event
from audit.rules.core import AuditState
from chain.flexibility import FlexRequest, net_import, outcomes, segment_slots
from market.flexibility import Direction, FlexOffer, FlexOutcome, accept

RULES: dict[str, str] = {
    "flex-request": "a request escrows quantity x max price from the payer, under the penalty set",
    "flex-offer": "offers come from members, one each, at or below the maximum, in index order;"
    " a relayed offer uses its member's nonce once",
    "flex-acceptance": "the acceptance is the merit order (price, then index) up to the quantity",
    "flex-delivery": "delivered = baseline vs metered clipped to [0, accepted]; pay price x "
    "delivered, penalty x shortfall; unmeasurable or non-members neither",
    "flex-payout": "payments go to members, the rest of the escrow back to the payer, once",
}


class FlexibilityRules(AuditState):
    def on_FlexPenaltySet(self, e: Event) -> None:
        self.flex_penalty = int(e.args["penalty"])

    def on_FlexRequested(self, e: Event) -> None:
        a = e.args
        rid, slot = int(a["requestId"]), int(a["slot"])
        req = FlexRequest(
            rid,
            slot,
            Direction(int(a["direction"])),
            int(a["quantityWh"]),
            int(a["maxPrice"]),
            int(a["gateClosure"]),
            int(a["penalty"]),
            a["payer"],
            0,
        )
        self.flex_requests[rid] = req
        if rid != len(self.flex_requests) - 1:
            self.find(slot, "flex-request", f"request {rid} out of sequence")
        if req.penalty != self.flex_penalty:
            self.find(
                slot,
                "flex-request",
                f"request {rid} penalty {req.penalty}, set {self.flex_penalty}",
            )
        if req.payer != self.network_account:
            self.find(
                slot, "flex-request", f"request {rid} paid by {req.payer}, not the network account"
            )
        pulled = self.tx_transfers_from(req.payer).get(self.address("Flexibility"), 0)
        if int(a["escrow"]) != req.escrow or pulled != req.escrow:
            self.find(
                slot,
                "flex-request",
                f"request {rid} escrow {a['escrow']}, {pulled} moved; rule {req.escrow}",
            )

    def on_FlexOffered(self, e: Event) -> None:
        a = e.args
        rid, member = int(a["requestId"]), a["member"]
        req = self.flex_requests.get(rid)
        offers = self.flex_offers[rid]
        slot = req.slot if req else None
        offer = FlexOffer(int(a["index"]), member, int(a["quantityWh"]), int(a["price"]))
        if (
            req is None
            or offer.id != len(offers)
            or member not in self.members
            or any(o.member == member for o in offers)
            or offer.price > req.max_price
            or not 0 < offer.quantity_wh < 1 << 40
            or rid in self.flex_accepted
        ):
            self.find(slot, "flex-offer", f"request {rid}: offer {offer} breaks the offer rules")
        offers.append(offer)

    def on_FlexOfferSigned(self, e: Event) -> None:
        """A relayed offer: its nonce is used once per member, and the offer it made is the
        member's FlexOffered on the same request just before it, in the same transaction."""
        a = e.args
        rid, member, nonce = int(a["requestId"]), a["member"], int(a["nonce"])
        req = self.flex_requests.get(rid)
        slot = req.slot if req else None
        if (member, nonce) in self.flex_nonces:
            self.find(slot, "flex-offer", f"{member} nonce {nonce} used twice")
        self.flex_nonces.add((member, nonce))
        before = [x for x in self.tx if x.log_index < e.log_index]
        last = before[-1] if before else None
        if (
            last is None
            or last.name != "FlexOffered"
            or last.args["member"] != member
            or int(last.args["requestId"]) != rid
        ):
            self.find(slot, "flex-offer", f"request {rid}: signed offer of {member} not made")

    def on_FlexAccepted(self, e: Event) -> None:
        rid = int(e.args["requestId"])
        req = self.flex_requests.get(rid)
        got = [int(v) for v in e.args["accepted"]]
        if req is None or rid in self.flex_accepted:
            self.find(None, "flex-acceptance", f"request {rid} accepted unknown or twice")
            return
        want = list(accept(self.flex_offers[rid], req.quantity_wh, req.max_price))
        self.flex_accepted[rid] = got
        if got != want or int(e.args["volumeWh"]) != sum(want):
            self.find(req.slot, "flex-acceptance", f"request {rid}: chain has {got}, rule {want}")

    def _flex_outcomes(self, rid: int) -> dict[int, FlexOutcome]:
        if rid not in self.flex_outcomes:
            req = self.flex_requests[rid]
            st = self.state
            slots = segment_slots(req.slot, st.slot_seconds, st.flex_lookback_days)
            segments = [net_import([] if s is None else self.readings.get(s, [])) for s in slots]
            self.flex_outcomes[rid] = outcomes(
                req,
                self.flex_offers[rid],
                self.flex_accepted.get(rid, []),
                segments,
                baseline_days=st.flex_baseline_days,
                is_member=self.members.__contains__,
            )
        return self.flex_outcomes[rid]

    def on_FlexDelivered(self, e: Event) -> None:
        a = e.args
        rid, index, member = int(a["requestId"]), int(a["index"]), a["member"]
        req = self.flex_requests.get(rid)
        if req is None or rid not in self.flex_accepted:
            self.find(None, "flex-delivery", f"request {rid}: delivery without acceptance")
            return
        if not self.settled_for_all(req.slot):
            self.find(req.slot, "flex-delivery", f"request {rid} settled before its readings")
        want = self._flex_outcomes(rid).get(index)
        if want is None or self.flex_offers[rid][index].member != member:
            self.find(req.slot, "flex-delivery", f"request {rid}: offer {index} was not accepted")
            return
        got: tuple[object, ...] = (
            bool(a["measured"]),
            int(a["deliveredWh"]),
            int(a["payment"]),
            int(a["penalty"]),
        )
        rule: tuple[object, ...] = (want.measured, want.delivered_wh, want.payment, want.penalty)
        if want.measured:
            got += (int(a["baselineWh"]), int(a["meteredWh"]))
            rule += (want.baseline_wh, want.metered_wh)
        if got != rule or int(a["acceptedWh"]) != want.accepted_wh:
            self.find(
                req.slot,
                "flex-delivery",
                f"request {rid} offer {index}: chain has {got}, the rulebook gives {rule}",
            )
        charges = [(req.payer, want.penalty)] if want.penalty else []
        self.check_collect(req.slot, member, charges, int(a["collected"]))

    def on_FlexSettled(self, e: Event) -> None:
        a = e.args
        rid = int(e.args["requestId"])
        req = self.flex_requests.get(rid)
        if req is None or rid in self.flex_settled:
            self.find(None, "flex-payout", f"request {rid} settled unknown or twice")
            return
        self.flex_settled.add(rid)
        outs = self._flex_outcomes(rid) if rid in self.flex_accepted else {}
        delivered = {int(d.args["index"]) for d in self.tx_events("FlexDelivered")}
        if delivered != set(outs):
            self.find(
                req.slot, "flex-payout", f"request {rid}: deliveries {delivered}, rule {set(outs)}"
            )
        paid = sum(o.payment for o in outs.values())
        penalties = sum(o.penalty for o in outs.values())
        want: dict[str, int] = defaultdict(int)
        offers = self.flex_offers[rid]
        for i, o in outs.items():
            if o.payment:
                want[offers[i].member] += o.payment
        if req.escrow - paid:
            want[req.payer] += req.escrow - paid
        moved = self.tx_transfers_from(self.address("Flexibility"))
        got = (int(a["paid"]), int(a["refunded"]), int(a["penalties"]))
        if got != (paid, req.escrow - paid, penalties) or moved != dict(want):
            self.find(
                req.slot,
                "flex-payout",
                f"request {rid}: chain has {got} and transfers {moved}, rule "
                f"{(paid, req.escrow - paid, penalties)} and {dict(want)}",
            )
