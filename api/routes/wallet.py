"""A signed-in account's wallet and its top-up requests."""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, status

from api import store
from api.deps import CurrentUser, EngineDep, MemberUser, SettingsDep, ViewDep, cached_read
from api.errors import ApiError
from api.schemas import TopUpCreate, TopUpPublic, WalletPublic
from api.view import WALLET_KEY, ChainView, hex_bytes

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
    recorded = view.token.top_up_recorded(hex_bytes(req.payment_ref))
    return TopUpPublic(**asdict(req), status="confirmed" if recorded else "pending")


MAX_TOP_UPS = 1000  # top-up requests listed per call
TopUpLimit = Annotated[
    int,
    Query(ge=1, le=MAX_TOP_UPS, description=f"at most this many requests (1 to {MAX_TOP_UPS})"),
]
TopUpCursor = Annotated[
    str | None,
    Query(
        pattern="^[A-Za-z0-9-]{1,32}$",
        description="a request's reference: list only those older than it (the next page after "
        "a page ending with it)",
    ),
]


def cursor(
    engine: EngineDep, reference: str | None, member: str | None
) -> store.TopUpRequest | None:
    """The request `reference` a page starts after (one of `member`'s if given); 422 if none."""
    if reference is None:
        return None
    req = store.get_request(engine, reference)
    if req is None or (member is not None and req.member != member):
        raise ApiError(
            422, "invalid_cursor", f"before: no top-up request {reference!r} to list from"
        )
    return req


# Counting a member's open requests and adding one must not interleave with another request
# of the same process, or two concurrent requests could both pass the cap.
_top_up_lock = threading.Lock()


def _eur(amount: int) -> str:
    """n€ as euros for a message: 500000000000 -> '500 €' (integer arithmetic, exact)."""
    euros, rest = divmod(amount, 10**9)
    return f"{euros} €" if not rest else f"{euros}.{rest:09d}".rstrip("0") + " €"


@router.post(
    "/top-ups",
    status_code=status.HTTP_201_CREATED,
    responses={429: {"description": "too many open top-up requests"}},
)
def request_top_up(
    body: TopUpCreate,
    user: MemberUser,
    view: ViewDep,
    engine: EngineDep,
    settings: SettingsDep,
) -> TopUpPublic:
    """Ask for a top-up: pay `amount` to the DSO quoting `reference`; the DSO then mints.

    Members only (403 otherwise). At most `api_top_up_max_amount` per request (422) and
    `api_top_up_max_open` requests waiting for their payment per member (429)."""
    cap = settings.api_top_up_max_amount
    if body.amount > cap:
        raise ApiError(
            422,
            "top_up_too_large",
            f"amount {body.amount} n€ is above the cap of {cap} n€ ({_eur(cap)}) per top-up "
            "request (api_top_up_max_amount)",
        )
    with _top_up_lock:
        open_requests = [
            r
            for r in store.requests_of(engine, user.address)
            if top_up_public(view, r).status == "pending"
        ]
        most = settings.api_top_up_max_open
        if len(open_requests) >= most:
            raise ApiError(
                429,
                "too_many_open_top_ups",
                f"{len(open_requests)} top-up requests of {user.address} wait for their payment; "
                f"the cap is {most} open requests per member (api_top_up_max_open)",
            )
        req = store.new_request(engine, user.address, body.amount)
    return top_up_public(view, req)


@router.get("/top-ups")
def my_top_ups(
    user: CurrentUser,
    view: ViewDep,
    engine: EngineDep,
    limit: TopUpLimit = 100,
    before: TopUpCursor = None,
) -> list[TopUpPublic]:
    """The account's top-up requests, newest first, and whether each has been minted: at most
    `limit`; for the next page pass the last one's reference as `before`."""
    start = cursor(engine, before, user.address)
    return [top_up_public(view, r) for r in store.page(engine, user.address, limit, start)]


@router.get("/top-ups/{reference}")
def my_top_up(reference: str, user: CurrentUser, view: ViewDep, engine: EngineDep) -> TopUpPublic:
    req = store.get_request(engine, reference)
    if req is None or (req.member != user.address and not user.roles.dso):
        raise ApiError(404, "top_up_not_found", f"no top-up request {reference!r} of yours")
    return top_up_public(view, req)
