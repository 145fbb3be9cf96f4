"""DSO flexibility over HTTP. Members: the requests open for offers (with their own offer) and
their flexibility earnings; the DSO: every request with its offers, acceptance, deliveries and
payout, and publishing a request. Requests and offers are read from the Flexibility contract
(cached per head block); acceptance, deliveries and payouts from the event index, like every
other history. Members need no ether to offer: they sign an EIP-712 `OfferIntent` (typed data from
`POST /flexibility/offers/typed-data`, nonce and deadline filled from the chain's clock) and the API
relays it (`POST /flexibility/offers`, `Flexibility.offerWithSig`); a refusal comes back as a 4xx
naming the contract's custom error, found by the gas estimate before anything is mined."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field, StrictInt
from sqlalchemy import select
from sqlalchemy.engine import Connection

from api.deps import (
    CurrentUser,
    DsoUser,
    FromSlotQ,
    HistoryDep,
    ToSlotQ,
    ViewDep,
    recent_window,
)
from api.errors import ApiError
from api.history import History, index_rows, ints
from api.routes.dso import _send
from api.schemas import (
    Address,
    Signature,
    Strict,
    StrictU64,
    StrictU256,
    TxPublic,
    TypedDataPublic,
)
from api.view import ChainView, hex_bytes
from chain.flexibility import FlexRequest, decode_offers
from chain.signing import FlexOfferIntent, flex_offer_typed_data
from indexer.schema import event_table
from market.records import record_from

router = APIRouter(tags=["flexibility"])
log = logging.getLogger("api.flexibility")

DIRECTIONS = ("reduce_import", "reduce_export")
STATUSES = ("open", "accepted", "settled")
MAX_REQUESTS = 500  # newest requests listed per call
Limit = Annotated[int, Query(ge=1, le=MAX_REQUESTS)]


class FlexOfferPublic(BaseModel):
    index: int
    member: str
    quantity_wh: int
    price: int = Field(description="n€ per Wh")


class FlexRequestPublic(BaseModel):
    request_id: int
    slot: int
    direction: Literal["reduce_import", "reduce_export"]
    quantity_wh: int
    max_price: int = Field(description="n€ per Wh")
    penalty: int = Field(description="n€ per Wh short of the accepted quantity")
    gate_closure: int = Field(description="unix seconds; offers until then")
    status: Literal["open", "accepted", "settled"]
    open_for_offers: bool
    offers: int
    my_offer: FlexOfferPublic | None = None


class FlexDeliveryPublic(BaseModel):
    request_id: int
    slot: int
    index: int
    member: str
    accepted_wh: int
    measured: bool
    baseline_wh: int | None
    metered_wh: int | None
    delivered_wh: int
    payment: int = Field(description="n€ paid to the member (price x delivered)")
    penalty: int = Field(description="n€ charged for the shortfall")
    collected: int = Field(description="n€ of the penalty the balance covered (rest: debt)")


class FlexEarningsPublic(BaseModel):
    member: str
    from_slot: int = Field(description="the first slot whose deliveries are listed")
    to_slot: int = Field(description="the last slot whose deliveries are listed")
    deliveries: list[FlexDeliveryPublic] = Field(
        description="deliveries for requests of slots from_slot..to_slot, in chain order"
    )
    earned: int = Field(description="n€ of flexibility payments")
    penalties: int
    net: int = Field(description="earned - penalties")


class FlexPayoutPublic(BaseModel):
    paid: int
    refunded: int
    penalties: int
    collected: int


class FlexRequestDso(FlexRequestPublic):
    payer: str
    escrow: int
    offer_list: list[FlexOfferPublic]
    accepted: list[int] | None = Field(description="Wh per offer, None before acceptance")
    accepted_wh: int | None
    deliveries: list[FlexDeliveryPublic]
    payout: FlexPayoutPublic | None


class FlexRequestCreate(Strict):
    slot: StrictU64
    direction: Literal["reduce_import", "reduce_export"]
    quantity_wh: StrictInt = Field(ge=1, lt=2**40)
    max_price: StrictInt = Field(ge=0, lt=2**40, description="n€ per Wh")
    gate_closure: StrictInt | None = Field(
        default=None,
        ge=0,
        lt=2**64,
        description="unix seconds; default: the slot's order-book gate closure",
    )


class FlexOfferIntentCreate(Strict):
    """What to sign: the API answers with the EIP-712 OfferIntent (nonce and deadline filled)."""

    request_id: StrictU64
    quantity_wh: StrictInt = Field(ge=1, lt=2**40)
    price: StrictInt = Field(ge=0, lt=2**40, description="n€ per Wh")
    deadline_seconds: StrictInt = Field(default=600, gt=0, le=86_400)


class FlexOfferCreate(Strict):
    """An EIP-712 OfferIntent (chain.signing.FLEX_OFFER_INTENT_TYPE) and the member's signature."""

    member: Address
    request_id: StrictU64
    quantity_wh: StrictInt = Field(ge=1, lt=2**40)
    price: StrictInt = Field(ge=0, lt=2**40, description="n€ per Wh")
    nonce: StrictU256
    deadline: StrictU256
    signature: Signature


class FlexOfferPlacedPublic(BaseModel):
    request_id: int
    index: int = Field(description="the offer's index in the request")
    tx_hash: str


# -- reads ------------------------------------------------------------------------------------


def _require_flexibility(view: ChainView) -> None:
    if not view.deployed("Flexibility"):
        raise ApiError(404, "no_flexibility", "this deployment has no Flexibility contract")


def _requests(view: ChainView, limit: int) -> list[tuple[FlexRequest, list[Any]]]:
    _require_flexibility(view)
    count = view.flexibility.request_count()
    out = []
    for rid in range(max(0, count - limit), count):
        req = view.flexibility.request_of(rid)
        out.append((req, decode_offers(view.flexibility.offers_of(rid))))
    return out


def _public(req: FlexRequest, offers: list[Any], now: int, me: str | None) -> dict[str, Any]:
    mine = next((o for o in offers if me is not None and o.member == me), None)
    return {
        "request_id": req.request_id,
        "slot": req.slot,
        "direction": DIRECTIONS[req.direction],
        "quantity_wh": req.quantity_wh,
        "max_price": req.max_price,
        "penalty": req.penalty,
        "gate_closure": req.gate_closure,
        "status": STATUSES[req.status],
        "open_for_offers": req.status == 0 and now < req.gate_closure,
        "offers": len(offers),
        "my_offer": _offer(mine) if mine else None,
    }


def _offer(o: Any) -> FlexOfferPublic:
    return FlexOfferPublic(index=o.id, member=o.member, quantity_wh=o.quantity_wh, price=o.price)


def _delivery(row: dict[str, Any], slots: dict[int, int]) -> FlexDeliveryPublic:
    measured = bool(row["measured"])
    return FlexDeliveryPublic(
        request_id=int(row["request_id"]),
        slot=slots.get(int(row["request_id"]), -1),
        index=int(row["index"]),
        member=str(row["member"]),
        accepted_wh=int(row["accepted_wh"]),
        measured=measured,
        baseline_wh=int(row["baseline_wh"]) if measured else None,
        metered_wh=int(row["metered_wh"]) if measured else None,
        delivered_wh=int(row["delivered_wh"]),
        payment=int(row["payment"]),
        penalty=int(row["penalty"]),
        collected=int(row["collected"]),
    )


def _rows(conn: Connection, event: str, *where: Any) -> list[dict[str, Any]]:
    return index_rows(conn, event_table("Flexibility", event), *where)


def _request_slots(conn: Connection) -> dict[int, int]:
    return {int(r["request_id"]): int(r["slot"]) for r in _rows(conn, "FlexRequested")}


def earnings(history: History, member: str, lo: int, hi: int) -> FlexEarningsPublic:
    """`member`'s deliveries for the requests of slots [lo, hi] and their totals."""

    def compute(conn: Connection) -> FlexEarningsPublic:
        t = event_table("Flexibility", "FlexDelivered")
        req = event_table("Flexibility", "FlexRequested")
        in_range = select(req.c.request_id).where(req.c.slot >= lo, req.c.slot <= hi)
        slots = {
            int(r["request_id"]): int(r["slot"])
            for r in _rows(conn, "FlexRequested", req.c.slot >= lo, req.c.slot <= hi)
        }
        where = (t.c.member == member, t.c.request_id.in_(in_range))
        rows = [_delivery(r, slots) for r in _rows(conn, "FlexDelivered", *where)]
        earned = sum(d.payment for d in rows)
        penalties = sum(d.penalty for d in rows)
        return FlexEarningsPublic(
            member=member,
            from_slot=lo,
            to_slot=hi,
            deliveries=rows,
            earned=earned,
            penalties=penalties,
            net=earned - penalties,
        )

    return history.cached(("flex-earnings", member, lo, hi), compute)


def dso_view(history: History, view: ChainView, limit: int) -> list[FlexRequestDso]:
    requests = _requests(view, limit)
    now = view.node.block_timestamp()

    def compute(conn: Connection) -> dict[str, Any]:
        slots = _request_slots(conn)
        return {
            "accepted": {int(r["request_id"]): r for r in _rows(conn, "FlexAccepted")},
            "delivered": [_delivery(r, slots) for r in _rows(conn, "FlexDelivered")],
            "settled": {int(r["request_id"]): r for r in _rows(conn, "FlexSettled")},
        }

    index = history.cached(("flex-dso",), compute)
    out = []
    for req, offers in requests:
        acc_row = index["accepted"].get(req.request_id)
        accepted = None if acc_row is None else ints(acc_row["accepted"])
        settled = index["settled"].get(req.request_id)
        out.append(
            FlexRequestDso(
                **_public(req, offers, now, None),
                payer=req.payer,
                escrow=req.escrow,
                offer_list=[_offer(o) for o in offers],
                accepted=accepted,
                accepted_wh=None if accepted is None else sum(accepted),
                deliveries=[d for d in index["delivered"] if d.request_id == req.request_id],
                payout=None
                if settled is None
                else FlexPayoutPublic(
                    paid=int(settled["paid"]),
                    refunded=int(settled["refunded"]),
                    penalties=int(settled["penalties"]),
                    collected=int(settled["collected"]),
                ),
            )
        )
    return out


# -- routes -----------------------------------------------------------------------------------


@router.get("/flexibility/requests")
def flex_requests(
    user: CurrentUser, view: ViewDep, open_only: bool = True, limit: Limit = 100
) -> list[FlexRequestPublic]:
    """The DSO's flexibility requests (newest `limit`), by default only those still open for
    offers, each with the caller's own offer if it made one."""
    now = view.node.block_timestamp()
    out = [FlexRequestPublic(**_public(r, o, now, user.address)) for r, o in _requests(view, limit)]
    return [r for r in out if r.open_for_offers or not open_only]


@router.get("/flexibility/earnings")
def flex_earnings(
    user: CurrentUser,
    view: ViewDep,
    history: HistoryDep,
    from_slot: FromSlotQ = None,
    to_slot: ToSlotQ = None,
) -> FlexEarningsPublic:
    """The caller's flexibility deliveries (from the event index) for the requests of slots
    `from_slot`..`to_slot` (the history range cap: 422 `range_too_long` beyond it), by default
    the capped range that ends at the current slot: payment, penalty, totals of those."""
    window = recent_window(from_slot, to_slot, view.current_slot())
    return earnings(history, user.address, window.from_slot, window.to_slot)


@router.get("/dso/flexibility/requests", tags=["dso"])
def dso_flex_requests(
    user: DsoUser, view: ViewDep, history: HistoryDep, limit: Limit = 100
) -> list[FlexRequestDso]:
    """Every request (newest `limit`) with its offers, acceptance, deliveries and payout."""
    return dso_view(history, view, limit)


@router.post("/dso/flexibility/requests", tags=["dso"], status_code=status.HTTP_201_CREATED)
def publish_request(body: FlexRequestCreate, user: DsoUser, view: ViewDep) -> TxPublic:
    """Publish a request; its budget (quantity x max price) is escrowed from the network
    account, which must hold it."""
    _require_flexibility(view)
    gate = body.gate_closure
    if gate is None:
        gate = view.community.gate_closure(body.slot)
    return _send(
        view,
        user,
        f"flexibility request for slot {body.slot}",
        lambda sender: view.flexibility.publish_request(
            body.slot,
            DIRECTIONS.index(body.direction),
            body.quantity_wh,
            body.max_price,
            gate,
            sender=sender,
        ),
    )


@router.post("/flexibility/offers/typed-data")
def offer_typed_data(
    body: FlexOfferIntentCreate, user: CurrentUser, view: ViewDep
) -> TypedDataPublic:
    """The EIP-712 OfferIntent to sign (eth_signTypedData_v4) for an offer on a request, with a
    fresh nonce and a deadline from the chain's clock; post it back with the signature to
    POST /flexibility/offers."""
    _require_flexibility(view)
    if body.request_id >= view.flexibility.request_count():
        raise ApiError(404, "unknown_request", f"no flexibility request {body.request_id}")
    nonce, deadline = view.signing_terms(body.deadline_seconds)
    intent = record_from(FlexOfferIntent, body, member=user.address, nonce=nonce, deadline=deadline)
    return TypedDataPublic(
        typed_data=flex_offer_typed_data(intent, view.chain_id, view.flexibility.address)
    )


@router.post("/flexibility/offers", status_code=status.HTTP_201_CREATED)
def relay_offer(body: FlexOfferCreate, user: CurrentUser, view: ViewDep) -> FlexOfferPlacedPublic:
    """Relay a signed offer from the API's relayer account (the member needs no ether). The
    contract checks signature, nonce, deadline, membership, gate closure, quantity and price."""
    _require_flexibility(view)
    user.require_signer(body.member, "the offer's member")
    intent = record_from(FlexOfferIntent, body)
    signature = hex_bytes(body.signature)
    offered = view.relay(
        lambda sender: view.flexibility.offer_with_sig(intent, signature, sender=sender)
    )
    log.info("relayed flexibility offer of %s on request %s", body.member, body.request_id)
    return FlexOfferPlacedPublic(
        request_id=body.request_id,
        index=offered.index,
        tx_hash=offered.mined.tx_hash,
    )
