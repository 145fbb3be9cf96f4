"""DSO actions. The caller must hold DSO_ROLE on-chain (checked per request); the API then sends
from its operator account, which holds the DSO and treasurer roles. Every action is logged with
the DSO user who asked for it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Path, Query, status
from pydantic import AfterValidator

from api import store
from api.deps import DsoUser, EngineDep, SlotQ, ViewDep
from api.errors import ApiError
from api.routes.wallet import TopUpCursor, TopUpLimit, cursor, top_up_public
from api.schemas import (
    FeesPublic,
    LeasePublic,
    LeaseUpdate,
    MemberCreate,
    MeterCreate,
    TariffCreate,
    TariffPublic,
    TopUpConfirm,
    TopUpPublic,
    TxPublic,
)
from api.view import ChainView, hex_bytes, tx_public
from chain.gateway import Mined
from chain.node import Sender
from market.tariff import TARIFF_NAMES, InvalidTariffError, SlotRules, Tariff, tariff_terms

router = APIRouter(prefix="/dso", tags=["dso"])
log = logging.getLogger("api.dso")
MemberPath = Annotated[
    str, Path(pattern=r"^0x[0-9a-fA-F]{40}$"), AfterValidator(to_checksum_address)
]


def _send(view: ChainView, user: DsoUser, what: str, write: Callable[[Sender], Mined]) -> TxPublic:
    """Send the DSO action `write` (a gateway write) from the operator account, logged with
    the DSO user who asked for it."""
    log.info("%s by DSO user %s", what, user.address)
    return tx_public(view.operate(write))


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
        lambda sender: view.community.register_member(
            body.address, body.role, body.lock_in_slots, sender=sender
        ),
    )


@router.post("/meters", status_code=status.HTTP_201_CREATED)
def register_meter(body: MeterCreate, user: DsoUser, view: ViewDep) -> TxPublic:
    return _send(
        view,
        user,
        f"register meter {body.meter_id}",
        lambda sender: view.community.register_meter(
            hex_bytes(body.meter_id), body.member, body.signer, sender=sender
        ),
    )


@router.put("/leases/{member}")
def set_lease(member: MemberPath, body: LeaseUpdate, user: DsoUser, view: ViewDep) -> TxPublic:
    """Charge `member` `per_period` n€ at every period's close from now on, for its part of the
    community battery (0 ends the lease); the close bills it with the service fee."""
    return _send(
        view,
        user,
        f"set the battery lease of {member} to {body.per_period}",
        lambda sender: view.profit_sharing.set_lease(member, body.per_period, sender=sender),
    )


@router.get("/leases/{member}")
def lease(member: MemberPath, user: DsoUser, view: ViewDep) -> LeasePublic:
    """The battery lease `member` is charged at each period's close (n€; 0: none)."""
    return LeasePublic(member=member, per_period=view.profit_sharing.lease_of(member))


@router.get("/top-ups")
def top_ups(
    user: DsoUser,
    view: ViewDep,
    engine: EngineDep,
    status_filter: Annotated[
        str | None,
        Query(
            alias="status",
            pattern="^(pending|confirmed)$",
            description="only requests in this status (pending: waiting for their payment)",
        ),
    ] = None,
    limit: TopUpLimit = 100,
    before: TopUpCursor = None,
) -> list[TopUpPublic]:
    """Every top-up request, newest first; `status=pending` lists those waiting for their
    payment. At most `limit`; for the next page pass the last one's reference as `before`."""
    start = cursor(engine, before, None)
    out: list[TopUpPublic] = []
    while len(out) < limit:
        # The status is the chain's (topUpRecorded), so a filtered page reads on until full.
        batch = store.page(engine, None, limit, start)
        for r in batch:
            t = top_up_public(view, r)
            if status_filter is None or t.status == status_filter:
                out.append(t)
                if len(out) == limit:
                    break
        if len(batch) < limit:
            break
        start = batch[-1]
    return out


@router.post("/top-ups/{reference}/confirm")
def confirm_top_up(reference: str, user: DsoUser, view: ViewDep, engine: EngineDep) -> TopUpPublic:
    """The payment for request `reference` arrived: mint its amount to the member."""
    req = store.get_request(engine, reference)
    if req is None:
        raise ApiError(404, "top_up_not_found", f"no top-up request {reference!r}")
    _require_member(view, req.member, f"top-up request {reference}")
    _top_up(view, user, reference, req.member, req.amount, req.payment_ref)
    return top_up_public(view, req)


@router.post("/top-ups", status_code=status.HTTP_201_CREATED)
def mint_top_up(body: TopUpConfirm, user: DsoUser, view: ViewDep) -> TxPublic:
    """Mint a top-up paid with bank reference `reference` (each reference once)."""
    return _top_up(
        view, user, body.reference, body.member, body.amount, store.payment_ref(body.reference)
    )


def _top_up(
    view: ChainView, user: DsoUser, reference: str, member: str, amount: int, payment_ref: str
) -> TxPublic:
    """Mint `amount` n€ to `member` for the payment known as `reference`, recorded on chain as
    `payment_ref` (0x and 64 hex digits; the token takes each once)."""
    return _send(
        view,
        user,
        f"top-up {reference!r} of {amount} n€ to {member}",
        lambda sender: view.token.top_up(member, amount, hex_bytes(payment_ref), sender=sender),
    )


def _tariff_public(from_slot: int, rules: SlotRules) -> TariffPublic:
    return TariffPublic.model_validate(
        {"from_slot": from_slot, "mode": rules.mode, **tariff_terms(rules.tariff)}
    )


@router.get("/tariffs")
def tariffs(user: DsoUser, view: ViewDep) -> list[TariffPublic]:
    """The tariff schedule: each entry applies from its slot until the next."""
    entries = (view.community.tariff_entry(i) for i in range(view.community.tariff_count()))
    return [_tariff_public(e.from_slot, e.rules) for e in entries]


@router.post("/tariffs", status_code=status.HTTP_201_CREATED)
def schedule_tariff(body: TariffCreate, user: DsoUser, view: ViewDep) -> TxPublic:
    """Schedule a tariff from `from_slot` (beyond the order horizon); checked by the rulebook
    first, then by the contract."""
    try:
        tariff = Tariff(**body.model_dump(include=set(TARIFF_NAMES), exclude_none=True))
    except InvalidTariffError as exc:
        raise ApiError(422, "invalid_tariff", str(exc)) from exc
    rules = SlotRules(tariff, body.mode)
    return _send(
        view,
        user,
        f"tariff from slot {body.from_slot}",
        lambda sender: view.community.schedule_tariff(body.from_slot, rules, sender=sender),
    )


@router.get("/fees")
def fees(user: DsoUser, view: ViewDep, period: SlotQ = None) -> FeesPublic:
    """The DSO's accounts and the platform fees of a period (default: the current one)."""
    fee_account = view.community.fee_account()
    network_account = view.community.network_account()
    supply_account = view.community.supply_account()
    if period is None:
        period = view.current_slot() // view.ledger.period_slots()
    return FeesPublic(
        fee_account=fee_account,
        fee_balance=view.token.balance_of(fee_account),
        network_account=network_account,
        network_balance=view.token.balance_of(network_account),
        supply_account=supply_account,
        supply_balance=view.token.balance_of(supply_account),
        period=period,
        period_platform_fees=view.ledger.platform_fees_of(period),
    )
