"""The matcher's flexibility step: accept each request in merit order once its gate has closed
(before delivery), and pay it out once its slot's imbalance is settled.

Stateless like the rest of the matcher: what is done is read from `Flexibility.requestOf`
(status 0 open, 1 accepted, 2 settled), so a restart repeats nothing. The acceptance is the
rulebook's (`market.flexibility.accept` via `chain.flexibility.acceptance`), which the contract
re-checks; the settlement re-supplies the reading words of the slot and of the same slot of day on
each lookback day (from the readings' events), which the contract checks against
MeterReadings' commitments before it computes baselines, payments and penalties itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from chain.flexibility import (
    ACCEPTED,
    OPEN,
    SETTLED,
    FlexRequest,
    acceptance,
    accepted_indexes,
    decode_offers,
    segment_slots,
    settlement_words,
)
from chain.gateway import FlexibilityGateway, ImbalanceGateway
from chain.node import Node, Sender, TransactionReverted
from market.calendar import Calendar

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FlexStep:
    """What one pass did to one request."""

    request_id: int
    action: str  # "accepted" or "settled"
    volume_wh: int
    paid: int = 0
    penalties: int = 0


class FlexibilityStep:
    """Accepts and settles the deployment's flexibility requests as `sender` (MATCHER role)."""

    def __init__(
        self,
        node: Node,
        sender: Sender,
        calendar: Calendar,
        reading_words: Callable[[int], list[int]],
    ) -> None:
        self.node = node
        self.sender = sender
        self.calendar = calendar
        self.reading_words = reading_words
        self.flex = FlexibilityGateway(node)
        self.imbalance = ImbalanceGateway(node)
        self._first_open = 0  # requests before it are known settled (a cache)

    def request(self, request_id: int) -> FlexRequest:
        return self.flex.request_of(request_id)

    def run_once(self) -> list[FlexStep]:
        """Accept every request whose gate has closed and delivery not begun; settle every
        request whose slot's imbalance is settled. Returns what was done."""
        done: list[FlexStep] = []
        now = self.node.block_timestamp()
        count = self.flex.request_count()
        next_imbalance = self.imbalance.next_slot()
        all_settled = True
        for rid in range(self._first_open, count):
            req = self.request(rid)
            if req.status == SETTLED:
                if all_settled:
                    self._first_open = rid + 1
                continue
            all_settled = False
            start = self.calendar.slot_start(req.slot)
            if req.status == OPEN and req.gate_closure <= now < start:
                done.append(self.accept(req))
                req = self.request(rid)
            if next_imbalance > req.slot:
                step = self.settle(req)
                if step is not None:
                    done.append(step)
        return done

    def accept(self, req: FlexRequest) -> FlexStep:
        acc = acceptance(req, self.flex.offers_of(req.request_id))
        try:
            self.flex.accept_offers(req.request_id, acc, sender=self.sender)
        except TransactionReverted as exc:
            if exc.error != "FlexibilityAlreadyAccepted":  # a racing submission won
                raise
        log.info(
            "flexibility request %d accepted: %d of %d Wh from %d offer(s)",
            req.request_id,
            sum(acc),
            req.quantity_wh,
            sum(1 for a in acc if a),
        )
        return FlexStep(req.request_id, "accepted", sum(acc))

    def settle(self, req: FlexRequest) -> FlexStep | None:
        offer_words = self.flex.offers_of(req.request_id)
        offers = decode_offers(offer_words)
        acc = acceptance(req, offer_words) if req.status == ACCEPTED else []
        slots = segment_slots(req.slot, self.calendar.slot_seconds, self.flex.lookback_days())
        words, counts = settlement_words(slots, self.reading_words)
        try:
            settled = self.flex.settle_request(
                req.request_id,
                acc,
                accepted_indexes(offers, acc),
                words,
                counts,
                sender=self.sender,
            )
        except TransactionReverted as exc:
            if exc.error == "FlexibilityAlreadySettled":
                return None
            raise
        log.info(
            "flexibility request %d settled: slot %d, paid %d n€, penalties %d n€, gas %d",
            req.request_id,
            req.slot,
            settled.paid,
            settled.penalties,
            settled.mined.gas_used,
        )
        return FlexStep(req.request_id, "settled", sum(acc), settled.paid, settled.penalties)
