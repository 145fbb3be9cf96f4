"""Orders. A member signs an EIP-712 intent (domain "gridshare Settlement", chain.intents) for one
slot; the API checks it off-chain (signer, nonce epoch, gate, horizon, energy, price bounds,
per-slot cap) and keeps it in the intent pool (intents.pool), from which the matcher carries it
into the slot's settlement at gate closure and records whether it was included or left out, and
why. Accepting an intent sends no transaction.

The direct on-chain order stays as the member's fallback (forced inclusion: a settlement cannot
leave one out): /orders/direct relays a signed OrderIntent to OrderBook.placeOrderWithSig from
the API's account (members need no ether), and DELETE relays its signed cancellation. A member
revokes every outstanding intent at once on-chain with `Settlement.revokeIntents()` from its own
wallet (the API does not relay it); GET /orders/epoch says which epoch is in force."""

from __future__ import annotations

import time
from typing import Annotated

from eth_account import Account
from eth_account.messages import encode_typed_data
from fastapi import APIRouter, Path, Query, Response, status
from starlette.convertors import Convertor, register_url_convertor

from api.deps import (
    CurrentUser,
    FromSlotQ,
    MemberUser,
    PoolDep,
    ToSlotQ,
    TradingOnly,
    User,
    ViewDep,
    recent_window,
)
from api.errors import ApiError
from api.schemas import (
    CancelIntentCreate,
    EpochPublic,
    IntentCreate,
    IntentTypedDataCreate,
    OrderCancel,
    OrderCreate,
    OrderIntentCreate,
    OrderPublic,
    OrdersPlacedPublic,
    TxPublic,
    TypedDataPublic,
)
from api.view import ChainView, OrderRecord, hex_bytes, tx_public
from chain.intents import Intent, SignedIntent, compact_signature, intent_typed_data
from chain.signing import OrderIntent, cancel_typed_data, order_typed_data
from intents.pool import INCLUDED, PENDING, IntentPool, PooledIntent
from market.intents import DEADLINE_MARGIN_SECONDS
from market.records import record_from

router = APIRouter(prefix="/orders", tags=["member"], dependencies=[TradingOnly])
OrderId = Annotated[int, Path(ge=0, lt=2**256)]


class IntentIdConvertor(Convertor[int]):
    """An intent's id in a path: 0x and 64 hex digits (a direct order's id is a plain number,
    `{order_id:int}`, so neither route takes the other's ids, nor words like "typed-data")."""

    regex = "0x[0-9a-fA-F]{64}"

    def convert(self, value: str) -> int:
        return int(value, 16)

    def to_string(self, value: int) -> str:
        return f"0x{int(value):064x}"


register_url_convertor("intent", IntentIdConvertor())
IntentIdPath = Annotated[int, Path(ge=0, lt=2**256, description="an intent's id (0x + 64 hex)")]
MAX_ENERGY_WH = 2**40 - 1  # an order word's 40 bits
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
STATUSES = "open|closed|settled|cancelled|pending|included|left_out|withdrawn"
REVOKE = (
    "call revokeIntents() on the Settlement contract from your wallet: every intent signed "
    "under an earlier epoch stops being valid, then sign new ones under the new epoch"
)


def _direct_public(record: OrderRecord) -> OrderPublic:
    o = record.order
    return OrderPublic(
        kind="direct",
        id=o.order_id,
        owner=o.owner,
        slot=o.slot,
        index=o.index,
        side="sell" if o.side == "sell" else "buy",
        energy_wh=o.energy_wh,
        limit_price=o.limit_price,
        escrow=o.escrow,
        status=record.status,  # type: ignore[arg-type]
        status_text=record.status,
        tx_hash=o.tx_hash,
    )


def _status_text(p: PooledIntent) -> str:
    if p.status == "left_out":
        return f"left out: {p.reason}" if p.reason else "left out"
    return p.status


def _intent_public(p: PooledIntent) -> OrderPublic:
    i = p.intent
    return OrderPublic(
        kind="intent",
        id=f"0x{p.id:064x}",
        owner=i.owner,
        slot=i.slot,
        side="sell" if i.side == "sell" else "buy",
        energy_wh=i.energy_wh,
        limit_price=i.limit_price,
        status=p.status,  # type: ignore[arg-type]
        reason=p.reason,
        status_text=_status_text(p),
        escrow=0,
        epoch=i.epoch,
        deadline=i.deadline,
        received_at=p.received_at,
        tx_hash=p.tx_hash,
    )


# -- the market's terms, checked before a member signs and again when it posts -----------------


def _open_slots(view: ChainView, now: int) -> tuple[int, int]:
    """The first slot whose gate is still open and the last within the order horizon."""
    first = view.current_slot() + 1
    while view.community.gate_closure(first) <= now:
        first += 1
    return first, view.current_slot() + view.community.order_horizon_slots()


def _default_deadline(view: ChainView, slot: int) -> int:
    """The end of the slot's delivery: a settlement comes after the gate closes, so a deadline at
    the gate closure would expire before any settlement could carry the intent."""
    return view.community.slot_start(slot + 1)


def _check_terms(
    view: ChainView,
    pool: IntentPool,
    user: User,
    slot: int,
    side: str,
    energy_wh: int,
    limit_price: int,
    deadline: int,
) -> None:
    """422 (403 for a role that may not sell) naming the allowed range, for anything the
    settlement would refuse or the matcher leave out on the intent's own terms."""
    now = view.chain_time()
    closure = view.community.gate_closure(slot)
    first, last = _open_slots(view, now)
    if closure <= now:
        raise ApiError(
            422,
            "gate_closed",
            f"slot {slot}'s gate closed at {closure} (chain time {now}): orders are open for "
            f"slots {first} to {last}",
        )
    if slot > last:
        raise ApiError(
            422,
            "beyond_horizon",
            f"slot {slot} is beyond the order horizon: orders are open for slots {first} to {last}",
        )
    if side == "sell" and user.roles.member_role == "consumer":
        raise ApiError(403, "role_cannot_sell", f"{user.address} is a consumer: it may only buy")
    limits = view.book.limits()
    min_wh = limits.min_order_wh
    if not min_wh <= energy_wh <= MAX_ENERGY_WH:
        raise ApiError(
            422,
            "energy_out_of_range",
            f"energy_wh must be from {min_wh} to {MAX_ENERGY_WH} Wh, got {energy_wh}",
        )
    tariff = view.rules(slot).tariff
    if not tariff.feed_in_price <= limit_price <= tariff.retail_price:
        raise ApiError(
            422,
            "price_out_of_bounds",
            f"limit_price must be from the feed-in price {tariff.feed_in_price} to the retail "
            f"price {tariff.retail_price} n€/Wh (the tariff for slot {slot}), got {limit_price}",
        )
    earliest = closure + DEADLINE_MARGIN_SECONDS
    if not earliest <= deadline < 2**64:
        raise ApiError(
            422,
            "deadline_out_of_range",
            f"deadline must be from {earliest} ({DEADLINE_MARGIN_SECONDS} s after slot {slot}'s "
            f"gate closure {closure}: the matcher settles after it and carries only intents "
            f"valid that long) and below 2**64, got {deadline}; by default it is the end of the "
            f"slot's delivery, {_default_deadline(view, slot)}",
        )
    cap = limits.max_per_member_slot
    direct = view.book.member_order_count(slot, user.address)
    held = pool.count_pending(user.address, slot)
    if held + direct >= cap:
        raise ApiError(
            422,
            "member_cap",
            f"you have {held} pending intents and {direct} direct orders for slot {slot}: at "
            f"most {cap} orders per member and slot, direct orders counted first (withdraw an "
            "intent first)",
        )


def _recover(signed: SignedIntent, view: ChainView) -> str:
    """The address that signed `signed` under the Settlement's EIP-712 domain (422 if the
    signature cannot be one the contract takes: v not 27/28 or 0/1, s in the upper half)."""
    try:
        compact_signature(signed.signature)
        if int.from_bytes(signed.signature[32:64], "big") > SECP256K1_HALF_N:
            raise ValueError("s is in the upper half of the curve order")
        typed = intent_typed_data(signed.intent, view.chain_id, view.settlement.address)
        return str(
            Account.recover_message(
                encode_typed_data(full_message=typed), signature=signed.signature
            )
        )
    except Exception as exc:
        raise ApiError(422, "bad_signature", f"the signature is not valid: {exc}") from exc


# -- intents ----------------------------------------------------------------------------------


@router.post("/typed-data")
def typed_data(
    body: IntentTypedDataCreate, user: MemberUser, view: ViewDep, pool: PoolDep
) -> TypedDataPublic:
    """The EIP-712 Intent to sign (eth_signTypedData_v4) under the member's current nonce epoch;
    post it back with the signature to POST /orders. The terms are checked first (422 with the
    allowed range): gate open, within the horizon, energy from the minimum, limit price within
    the slot's tariff bounds, deadline after the gate closure, under the per-slot cap."""
    deadline = _default_deadline(view, body.slot) if body.deadline is None else body.deadline
    _check_terms(view, pool, user, body.slot, body.side, body.energy_wh, body.limit_price, deadline)
    intent = record_from(
        Intent, body, owner=user.address, epoch=view.intent_epoch(user.address), deadline=deadline
    )
    return TypedDataPublic(
        typed_data=intent_typed_data(intent, view.chain_id, view.settlement.address)
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": OrderPublic, "description": "already in the pool"}},
)
def place(
    body: IntentCreate, user: MemberUser, view: ViewDep, pool: PoolDep, response: Response
) -> OrderPublic:
    """Accept a signed intent into the pool (201; 200 with the stored intent if it was already
    there): the signer must be the signed-in member, the epoch its current one, the terms as
    for /orders/typed-data. No transaction: the matcher carries it into the slot's settlement."""
    user.require_signer(body.owner, "the intent's owner")
    try:
        intent = record_from(Intent, body)
    except ValueError as exc:  # terms no intent can have: name the allowed range
        _check_terms(
            view,
            pool,
            user,
            body.slot,
            body.side,
            body.energy_wh,
            body.limit_price,
            body.deadline,
        )
        raise ApiError(422, "invalid_intent", str(exc)) from exc
    signed = SignedIntent(intent, hex_bytes(body.signature))
    signer = _recover(signed, view)
    if signer != user.address:
        raise ApiError(
            422,
            "bad_signature",
            f"the signature recovers to {signer}, not the intent's owner {user.address}",
        )
    stored = pool.get(intent.id)
    if stored is not None:
        response.status_code = status.HTTP_200_OK
        return _intent_public(stored)
    epoch = view.intent_epoch(user.address)
    if intent.epoch != epoch:
        raise ApiError(
            422,
            "epoch_not_current",
            f"the intent is signed under epoch {intent.epoch}, your current epoch is {epoch} "
            "(GET /orders/epoch): sign it again",
        )
    _check_terms(
        view,
        pool,
        user,
        intent.slot,
        intent.side,
        intent.energy_wh,
        intent.limit_price,
        intent.deadline,
    )
    if not pool.add(signed, received_at=int(time.time())):
        response.status_code = status.HTTP_200_OK  # a concurrent post of the same intent won
    stored = pool.get(intent.id)
    assert stored is not None
    return _intent_public(stored)


@router.get("/epoch")
def epoch(user: CurrentUser, view: ViewDep) -> EpochPublic:
    """The nonce epoch the caller's intents must be signed under. To revoke every outstanding
    intent at once, call `Settlement.revokeIntents()` from your wallet (an on-chain transaction
    the API does not relay); the epoch then moves on by one."""
    return EpochPublic(
        member=user.address,
        epoch=view.intent_epoch(user.address),
        settlement=view.settlement.address,
        revoke=REVOKE,
    )


# -- direct orders (the fallback) -------------------------------------------------------------


@router.post("/direct/typed-data")
def direct_typed_data(body: OrderIntentCreate, user: CurrentUser, view: ViewDep) -> TypedDataPublic:
    """Direct order: the EIP-712 OrderIntent of the OrderBook to sign, with a fresh nonce and a
    deadline; post it back with the signature to POST /orders/direct."""
    nonce, deadline = view.signing_terms(body.deadline_seconds)
    intent = record_from(
        OrderIntent,
        body,
        owner=user.address,
        to_slot=body.from_slot if body.to_slot is None else body.to_slot,
        nonce=nonce,
        deadline=deadline,
    )
    return TypedDataPublic(typed_data=order_typed_data(intent, view.chain_id, view.book.address))


@router.post("/direct", status_code=status.HTTP_201_CREATED)
def place_direct(body: OrderCreate, user: CurrentUser, view: ViewDep) -> OrdersPlacedPublic:
    """Relay a signed direct order on-chain (a standing order when to_slot > from_slot): the
    fallback path, which every settlement must include; its buy escrow is locked at once. The
    contract checks signature, nonce, deadline, membership and escrow; a refusal comes back as a
    4xx naming its custom error, found by the gas estimate before anything is mined."""
    user.require_signer(body.owner, "the order's owner")
    intent = record_from(OrderIntent, body)
    signature = hex_bytes(body.signature)
    placed = view.relay(
        lambda sender: view.book.place_order_with_sig(intent, signature, sender=sender)
    )
    return OrdersPlacedPublic(order_ids=placed.order_ids, tx_hash=placed.mined.tx_hash)


# -- both kinds -------------------------------------------------------------------------------


@router.get("")
def my_orders(
    user: CurrentUser,
    view: ViewDep,
    pool: PoolDep,
    status_filter: Annotated[
        str | None,
        Query(alias="status", pattern=f"^({STATUSES})$", description="only orders in this status"),
    ] = None,
    slot: Annotated[
        int | None,
        Query(ge=0, lt=2**64, description="only this slot's orders (instead of a range)"),
    ] = None,
    from_slot: FromSlotQ = None,
    to_slot: ToSlotQ = None,
) -> list[OrderPublic]:
    """The account's orders for slots `from_slot`..`to_slot` (the history range cap: 422
    `range_too_long` beyond it), or for one `slot`; by default the capped range that ends at
    the last slot within the order horizon, which holds every order still open or pending.
    Its intents from the pool (status pending, included, left_out with the reason, withdrawn)
    and its direct on-chain orders (open, closed, settled, cancelled), each marked by `kind`,
    by slot (a direct order first in its slot); filter by status too."""
    if slot is not None:
        if from_slot is not None or to_slot is not None:
            raise ApiError(422, "invalid_range", "give either slot or from_slot/to_slot")
        lo, hi = slot, slot
    else:
        last = view.current_slot() + view.community.order_horizon_slots()
        window = recent_window(from_slot, to_slot, last)
        lo, hi = window.from_slot, window.to_slot
    direct = [_direct_public(o) for o in view.orders_of(user.address) if lo <= o.order.slot <= hi]
    intents = [_intent_public(p) for p in pool.of_owner(user.address, lo, hi)]
    both = sorted(direct + intents, key=lambda o: o.slot)  # stable: direct first in a slot
    return [o for o in both if status_filter is None or o.status == status_filter]


def _find(view: ChainView, user: User, order_id: int) -> OrderRecord:
    for o in view.orders_of(user.address):
        if o.order.order_id == order_id:
            return o
    raise ApiError(404, "order_not_found", f"no order {order_id} of {user.address}")


def _find_intent(pool: IntentPool, user: User, intent_id: int) -> PooledIntent:
    found = pool.get(intent_id)
    if found is None or found.intent.owner.lower() != user.address.lower():
        raise ApiError(404, "order_not_found", f"no intent 0x{intent_id:064x} of {user.address}")
    return found


@router.get("/{intent_id:intent}")
def my_intent(intent_id: IntentIdPath, user: CurrentUser, pool: PoolDep) -> OrderPublic:
    """One of the account's intents (its id: 0x + 64 hex digits) and what became of it."""
    return _intent_public(_find_intent(pool, user, intent_id))


@router.get("/{order_id:int}")
def my_order(order_id: OrderId, user: CurrentUser, view: ViewDep) -> OrderPublic:
    """One of the account's direct orders (its id: a number)."""
    return _direct_public(_find(view, user, order_id))


@router.post("/{order_id:int}/cancel-typed-data")
def cancel_typed(
    order_id: OrderId, body: CancelIntentCreate, user: CurrentUser, view: ViewDep
) -> TypedDataPublic:
    """Direct order: the EIP-712 CancelIntent to sign for one of the account's direct orders,
    with a fresh nonce and a deadline from the chain's clock; send its nonce, deadline and
    signature to DELETE. (An intent needs no signature to withdraw.)"""
    _find(view, user, order_id)
    nonce, deadline = view.signing_terms(body.deadline_seconds)
    typed = cancel_typed_data(
        user.address, order_id, nonce, deadline, view.chain_id, view.book.address
    )
    return TypedDataPublic(typed_data=typed)


@router.delete("/{intent_id:intent}")
def withdraw(intent_id: IntentIdPath, user: CurrentUser, pool: PoolDep) -> OrderPublic:
    """Withdraw one of the account's intents from the pool while it is pending: the matcher then
    leaves it out. No signature, no transaction; 409 once its slot's settlement decided it. To
    stop intents a relayer may already hold, revoke them on-chain (GET /orders/epoch)."""
    found = _find_intent(pool, user, intent_id)
    if not pool.withdraw(intent_id, user.address):
        now = pool.get(intent_id) or found
        raise ApiError(
            409,
            "not_pending",
            f"intent 0x{intent_id:064x} is {_status_text(now)}, no longer pending"
            + (": it was carried in its slot's settlement" if now.status == INCLUDED else ""),
        )
    withdrawn = pool.get(intent_id)
    assert withdrawn is not None and withdrawn.status != PENDING
    return _intent_public(withdrawn)


@router.delete("/{order_id:int}")
def cancel(order_id: OrderId, body: OrderCancel, user: CurrentUser, view: ViewDep) -> TxPublic:
    """Relay a direct order's signed cancellation (EIP-712 CancelIntent); the escrow goes back to
    the owner."""
    _find(view, user, order_id)
    signature = hex_bytes(body.signature)
    mined = view.relay(
        lambda sender: view.book.cancel_order_with_sig(
            user.address, order_id, body.nonce, body.deadline, signature, sender=sender
        )
    )
    return tx_public(mined)
