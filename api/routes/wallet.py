"""A signed-in account's wallet and its top-up requests."""

from __future__ import annotations

from fastapi import APIRouter, status

from api import store
from api.deps import CurrentUser, EngineDep, ViewDep, cached_read
from api.errors import ApiError
from api.schemas import TopUpCreate, TopUpPublic, WalletPublic
from api.view import WALLET_KEY, ChainView

router = APIRouter(prefix="/wallet", tags=["member"])


@router.get("")
async def wallet(user: CurrentUser, view: ViewDep) -> WalletPublic:
    """Balance, escrow held for open buy orders and debt, in n€."""
    key = (*WALLET_KEY, user.address)
    balance, escrow, debt = await cached_read(view, key, view.wallet, user.address)
    return WalletPublic(
        address=user.address,
        member_role=user.roles.member_role,
        balance=balance,
        escrow=escrow,
        debt=debt,
    )


def top_up_public(view: ChainView, req: store.TopUpRequest) -> TopUpPublic:
    recorded = bool(view.call("EnergyToken", "topUpRecorded", bytes.fromhex(req.payment_ref[2:])))
    return TopUpPublic(
        reference=req.reference,
        payment_ref=req.payment_ref,
        member=req.member,
        amount=req.amount,
        requested_at=req.requested_at,
        status="confirmed" if recorded else "pending",
    )


@router.post("/top-ups", status_code=status.HTTP_201_CREATED)
def request_top_up(
    body: TopUpCreate, user: CurrentUser, view: ViewDep, engine: EngineDep
) -> TopUpPublic:
    """Ask for a top-up: pay `amount` to the DSO quoting `reference`; the DSO then mints."""
    return top_up_public(view, store.new_request(engine, user.address, body.amount))


@router.get("/top-ups")
def my_top_ups(user: CurrentUser, view: ViewDep, engine: EngineDep) -> list[TopUpPublic]:
    """The account's top-up requests and whether each has been minted."""
    return [top_up_public(view, r) for r in store.requests_of(engine, user.address)]


@router.get("/top-ups/{reference}")
def my_top_up(reference: str, user: CurrentUser, view: ViewDep, engine: EngineDep) -> TopUpPublic:
    req = store.get_request(engine, reference)
    if req is None or (req.member != user.address and not user.roles.dso):
        raise ApiError(404, "top_up_not_found", f"no top-up request {reference!r} of yours")
    return top_up_public(view, req)
