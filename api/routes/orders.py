"""Orders: members sign EIP-712 intents, the API relays them from its own account (members need
no ether). The contract checks signature, nonce, deadline, membership and escrow; a refusal comes
back as a 4xx naming its custom error, found by the gas estimate before anything is mined."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from hexbytes import HexBytes

from api.deps import CurrentUser, SlotQ, ViewDep
from api.errors import ApiError
from api.schemas import (
    CancelIntentCreate,
    OrderCancel,
    OrderCreate,
    OrderIntentCreate,
    OrderPublic,
    OrdersPlacedPublic,
    TxPublic,
    TypedDataPublic,
)
from api.view import OrderRecord
from chain.signing import OrderIntent, cancel_typed_data, order_typed_data

router = APIRouter(prefix="/orders", tags=["member"])
OrderId = Annotated[int, Path(ge=0, lt=2**256)]


def _public(o: OrderRecord) -> OrderPublic:
    return OrderPublic(
        id=o.id,
        owner=o.owner,
        slot=o.slot,
        index=o.index,
        side="sell" if o.side == "sell" else "buy",
        energy_wh=o.energy_wh,
        limit_price=o.limit_price,
        escrow=o.escrow,
        status=o.status,  # type: ignore[arg-type]
        tx_hash=o.tx_hash,
    )


@router.post("/typed-data")
def typed_data(body: OrderIntentCreate, user: CurrentUser, view: ViewDep) -> TypedDataPublic:
    """The EIP-712 OrderIntent to sign (eth_signTypedData_v4), with a fresh nonce and a deadline;
    post it back with the signature to POST /orders."""
    intent = OrderIntent(
        owner=user.address,
        from_slot=body.from_slot,
        to_slot=body.from_slot if body.to_slot is None else body.to_slot,
        side=body.side,
        energy_wh=body.energy_wh,
        limit_price=body.limit_price,
        nonce=secrets.randbits(64),
        deadline=view.node.block_timestamp() + body.deadline_seconds,
    )
    book = view.node.manifest.contracts["OrderBook"]
    return TypedDataPublic(typed_data=order_typed_data(intent, view.chain_id, book))


@router.post("", status_code=status.HTTP_201_CREATED)
def place(body: OrderCreate, user: CurrentUser, view: ViewDep) -> OrdersPlacedPublic:
    """Relay a signed order (a standing order when to_slot > from_slot)."""
    if body.owner != user.address:
        raise ApiError(403, "not_owner", "the order's owner must be the signed-in account")
    intent = OrderIntent(
        owner=body.owner,
        from_slot=body.from_slot,
        to_slot=body.to_slot,
        side=body.side,
        energy_wh=body.energy_wh,
        limit_price=body.limit_price,
        nonce=body.nonce,
        deadline=body.deadline,
    )
    fn = view.fn("OrderBook", "placeOrderWithSig", intent.as_tuple(), HexBytes(body.signature))
    receipt = view.send(fn, view.relayer, "relayer")
    return OrdersPlacedPublic(
        order_ids=view.placed_ids(receipt),
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
    )


@router.get("")
def my_orders(
    user: CurrentUser,
    view: ViewDep,
    status_filter: Annotated[
        str | None,
        Query(alias="status", pattern="^(open|closed|settled|cancelled)$"),
    ] = None,
    slot: SlotQ = None,
) -> list[OrderPublic]:
    """The account's orders since deployment, newest last; filter by status or slot."""
    return [
        _public(o)
        for o in view.orders_of(user.address)
        if (status_filter is None or o.status == status_filter) and (slot is None or o.slot == slot)
    ]


def _find(view: ViewDep, user: CurrentUser, order_id: int) -> OrderRecord:
    for o in view.orders_of(user.address):
        if o.id == order_id:
            return o
    raise ApiError(404, "order_not_found", f"no order {order_id} of {user.address}")


@router.get("/{order_id:int}")
def my_order(order_id: OrderId, user: CurrentUser, view: ViewDep) -> OrderPublic:
    return _public(_find(view, user, order_id))


@router.post("/{order_id}/cancel-typed-data")
def cancel_typed(
    order_id: OrderId, body: CancelIntentCreate, user: CurrentUser, view: ViewDep
) -> TypedDataPublic:
    """The EIP-712 CancelIntent to sign for one of the account's orders, with a fresh nonce and
    a deadline from the chain's clock; send its nonce, deadline and signature to DELETE."""
    _find(view, user, order_id)
    typed = cancel_typed_data(
        user.address,
        order_id,
        secrets.randbits(64),
        view.node.block_timestamp() + body.deadline_seconds,
        view.chain_id,
        view.node.manifest.contracts["OrderBook"],
    )
    return TypedDataPublic(typed_data=typed)


@router.delete("/{order_id:int}")
def cancel(order_id: OrderId, body: OrderCancel, user: CurrentUser, view: ViewDep) -> TxPublic:
    """Relay a signed cancellation (EIP-712 CancelIntent); the escrow goes back to the owner."""
    _find(view, user, order_id)
    fn = view.fn(
        "OrderBook",
        "cancelOrderWithSig",
        user.address,
        order_id,
        body.nonce,
        body.deadline,
        HexBytes(body.signature),
    )
    receipt = view.send(fn, view.relayer, "relayer")
    return TxPublic(
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        block_number=int(receipt["blockNumber"]),
    )
