"""DSO actions. The caller must hold DSO_ROLE on-chain (checked per request); the API then sends
from its operator account, which holds the DSO and treasurer roles. Every action is logged with
the DSO user who asked for it."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, status

from api import store
from api.deps import DsoUser, EngineDep, SlotQ, ViewDep
from api.errors import ApiError
from api.routes.wallet import top_up_public
from api.schemas import (
    FeesPublic,
    MemberCreate,
    MeterCreate,
    TariffCreate,
    TariffPublic,
    TopUpConfirm,
    TopUpPublic,
    TxPublic,
)
from api.view import ChainView, tx_public
from chain.codec import MODE_NAMES, ROLE_CODES, encode_rules
from market.tariff import InvalidTariffError, SlotRules, Tariff

router = APIRouter(prefix="/dso", tags=["dso"])
log = logging.getLogger("api.dso")


def _send(
    view: ChainView, user: DsoUser, what: str, contract: str, fn: str, *args: object
) -> TxPublic:
    log.info("%s by DSO user %s", what, user.address)
    return tx_public(view.send(view.fn(contract, fn, *args), view.operator, "operator"))


def _require_member(view: ChainView, address: str, what: str) -> None:
    """409 unless `address` is a member now: a member may have left (or begun to leave) between
    asking for a top-up and the DSO confirming it. A direct mint, POST /dso/top-ups, may also go
    to the DSO's supply, fee or network account, so it is left to the token, which refuses any
    other account (EnergyTokenNotMember, a 409 too). Read at the node's head, not from the
    cache of the last poll: an exit mined since then must stop the mint."""
    view.refresh()
    if view.roles(address).member_role is None:
        raise ApiError(
            409, "not_member", f"{what}: {address} is no longer a member; nothing minted"
        )


@router.post("/members", status_code=status.HTTP_201_CREATED)
def register_member(body: MemberCreate, user: DsoUser, view: ViewDep) -> TxPublic:
    return _send(
        view,
        user,
        f"register member {body.address}",
        "Community",
        "registerMember",
        body.address,
        ROLE_CODES[body.role],
        body.lock_in_slots,
    )


@router.post("/meters", status_code=status.HTTP_201_CREATED)
def register_meter(body: MeterCreate, user: DsoUser, view: ViewDep) -> TxPublic:
    return _send(
        view,
        user,
        f"register meter {body.meter_id}",
        "Community",
        "registerMeter",
        bytes.fromhex(body.meter_id[2:]),
        body.member,
        body.signer,
    )


@router.get("/top-ups")
def top_ups(
    user: DsoUser,
    view: ViewDep,
    engine: EngineDep,
    status_filter: Annotated[
        str | None, Query(alias="status", pattern="^(pending|confirmed)$")
    ] = None,
) -> list[TopUpPublic]:
    """Every top-up request; `status=pending` lists those waiting for their payment."""
    out = [top_up_public(view, r) for r in store.all_requests(engine)]
    return [t for t in out if status_filter is None or t.status == status_filter]


@router.post("/top-ups/{reference}/confirm")
def confirm_top_up(reference: str, user: DsoUser, view: ViewDep, engine: EngineDep) -> TopUpPublic:
    """The payment for request `reference` arrived: mint its amount to the member."""
    req = store.get_request(engine, reference)
    if req is None:
        raise ApiError(404, "top_up_not_found", f"no top-up request {reference!r}")
    _require_member(view, req.member, f"top-up request {reference}")
    _send(
        view,
        user,
        f"top-up {reference} of {req.amount} n€ to {req.member}",
        "EnergyToken",
        "topUp",
        req.member,
        req.amount,
        bytes.fromhex(req.payment_ref[2:]),
    )
    return top_up_public(view, req)


@router.post("/top-ups", status_code=status.HTTP_201_CREATED)
def mint_top_up(body: TopUpConfirm, user: DsoUser, view: ViewDep) -> TxPublic:
    """Mint a top-up paid with bank reference `reference` (each reference once)."""
    return _send(
        view,
        user,
        f"top-up {body.reference!r} of {body.amount} n€ to {body.member}",
        "EnergyToken",
        "topUp",
        body.member,
        body.amount,
        bytes.fromhex(store.payment_ref(body.reference)[2:]),
    )


def _tariff_public(from_slot: int, values: list[int] | tuple[int, ...]) -> TariffPublic:
    v = [int(x) for x in values]
    return TariffPublic(
        from_slot=from_slot,
        retail_price=v[0],
        feed_in_price=v[1],
        grid_fee=v[2],
        p2p_grid_fee=v[3],
        trade_fee_buy=v[4],
        trade_fee_sell=v[5],
        community_price=v[6],
        service_fee=v[7],
        mode=MODE_NAMES[v[8]],  # type: ignore[arg-type]
        sharing_price=v[9],
    )


@router.get("/tariffs")
def tariffs(user: DsoUser, view: ViewDep) -> list[TariffPublic]:
    """The tariff schedule: each entry applies from its slot until the next."""
    count = int(view.call("Community", "tariffCount"))
    out = []
    for i in range(count):
        from_slot, values = view.call("Community", "tariffEntry", i)
        out.append(_tariff_public(int(from_slot), values))
    return out


@router.post("/tariffs", status_code=status.HTTP_201_CREATED)
def schedule_tariff(body: TariffCreate, user: DsoUser, view: ViewDep) -> TxPublic:
    """Schedule a tariff from `from_slot` (beyond the order horizon); checked by the rulebook
    first, then by the contract."""
    try:
        tariff = Tariff(
            retail_price=body.retail_price,
            feed_in_price=body.feed_in_price,
            grid_fee=body.grid_fee,
            p2p_grid_fee=body.p2p_grid_fee,
            trade_fee_buy=body.trade_fee_buy,
            trade_fee_sell=body.trade_fee_sell,
            service_fee=body.service_fee,
            community_price=body.community_price,
            sharing_price=body.community_price
            if body.sharing_price is None
            else body.sharing_price,
        )
    except InvalidTariffError as exc:
        raise ApiError(422, "invalid_tariff", str(exc)) from exc
    words = encode_rules(SlotRules(tariff, body.mode))
    return _send(
        view,
        user,
        f"tariff from slot {body.from_slot}",
        "Community",
        "scheduleTariff",
        body.from_slot,
        words,
    )


@router.get("/fees")
def fees(user: DsoUser, view: ViewDep, period: SlotQ = None) -> FeesPublic:
    """The DSO's accounts and the platform fees of a period (default: the current one)."""
    fee_account = str(view.call("Community", "feeAccount"))
    network_account = str(view.call("Community", "networkAccount"))
    supply_account = str(view.call("Community", "supplyAccount"))
    if period is None:
        period = view.current_slot() // int(view.call(view.ledger, "periodSlots"))
    return FeesPublic(
        fee_account=fee_account,
        fee_balance=int(view.call("EnergyToken", "balanceOf", fee_account)),
        network_account=network_account,
        network_balance=int(view.call("EnergyToken", "balanceOf", network_account)),
        supply_account=supply_account,
        supply_balance=int(view.call("EnergyToken", "balanceOf", supply_account)),
        period=period,
        period_platform_fees=int(view.call(view.ledger, "platformFeesOf", period)),
    )
