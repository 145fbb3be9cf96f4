"""History from the event index: a member's trades, readings and bills; settled slots and
events for auditors and the public."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import (
    CurrentUser,
    DsoUser,
    HistoryDep,
    SlotRangeDep,
    SlotWindowDep,
    TradingOnly,
    ViewDep,
)
from api.errors import ApiError
from api.history import History
from api.schemas import (
    BillPublic,
    DsoStatementPublic,
    FeeIncomePublic,
    PeriodPublic,
    PeriodsPublic,
    ReadingPublic,
    SettledSlotPublic,
    SlotBillPublic,
    SlotReadingPublic,
    StatementLinePublic,
    TradePublic,
)
from chain.codec import MODE_NAMES
from market.statement import Statement

router = APIRouter(tags=["history"])


def _lines(st: Statement) -> list[StatementLinePublic]:
    return [
        StatementLinePublic(
            key=x.key, label=x.label, explanation=x.explanation, amount=x.amount, part=x.part.value
        )
        for x in st.lines
    ]


@router.get("/trades", dependencies=[TradingOnly])
def trades(
    user: CurrentUser, view: ViewDep, history: HistoryDep, slots: SlotRangeDep
) -> list[TradePublic]:
    """The account's filled orders in settled slots, with what each paid or earned, as the
    settlement paid them (from the settled events; nothing is cleared again)."""
    direct = history.direct_order_ids(user.address, slots.lo, slots.hi)
    return [
        TradePublic(
            slot=slot,
            order_id=s.order_id,
            side="sell" if s.side == "sell" else "buy",
            kind="direct" if s.order_id in direct else "intent",
            filled_wh=s.filled_wh,
            amount=s.amount,
            paid=s.paid_by_member,
            received=s.received_by_member if s.side == "sell" else 0,
            # A buy's settlement returns escrow - paid; only a direct order had an escrow.
            escrow_returned=(
                s.received_by_member if s.side == "buy" and s.order_id in direct else 0
            ),
            platform_fee=s.platform_fee,
            network_fee=s.network_fee,
        )
        for slot, s in history.trades(user.address, slots.lo, slots.hi)
    ]


def _reading_figures(r: Mapping[str, Any]) -> dict[str, Any]:
    """A reading row's public figures (the index's integers as ints)."""
    return {
        "meter_id": r["meter_id"],
        "slot": int(r["slot"]),
        "import_wh": int(r["import_wh"]),
        "export_wh": int(r["export_wh"]),
        "sequence": int(r["sequence"]),
        "block_number": int(r["block_number"]),
        "tx_hash": r["tx_hash"],
    }


@router.get("/readings")
def readings(user: CurrentUser, history: HistoryDep, slots: SlotRangeDep) -> list[ReadingPublic]:
    """The account's accepted meter readings."""
    return [
        ReadingPublic(**_reading_figures(r))
        for r in history.readings(user.address, slots.lo, slots.hi)
    ]


@router.get("/slots/{slot}/readings")
def slot_readings(
    history: HistoryDep, slot: Annotated[int, Path(ge=0, lt=2**63)]
) -> list[SlotReadingPublic]:
    """Every member's accepted meter readings of `slot`, in chain order, one row a meter whether
    it signed the slot alone or in a span (a span's event has no slot of its own to filter
    /events by). For auditors, as /events."""
    return [
        SlotReadingPublic(**_reading_figures(r), member=r["member"])
        for r in history.readings(None, slot, slot)
    ]


def _bill(
    user: CurrentUser, view: ViewDep, history: History, lo: int, hi: int, period: int | None
) -> bytes:
    """The bill as JSON, cached whole for the checkpoint it was computed at (a repeated bill is
    sent as stored, not validated and serialized again). Only for a member, now
    (its role on the chain) or ever (registered in the index): anyone else has no bill, not
    one of service fees alone."""
    if not user.roles.member_role and not history.ever_registered(user.address):
        raise ApiError(
            404, "not_member", f"{user.address} is not and never was a member: it has no bills"
        )
    return history.cached(
        ("bill", user.address, lo, hi, period),
        lambda _conn: _compute_bill(user, view, history, lo, hi, period).model_dump_json().encode(),
    )


def _compute_bill(
    user: CurrentUser, view: ViewDep, history: History, lo: int, hi: int, period: int | None
) -> BillPublic:
    st = history.statement(user.address, lo, hi, view.ledger.period_slots())
    return BillPublic(
        member=user.address,
        from_slot=lo,
        to_slot=hi,
        period=period,
        net_cost=st["net_cost"],
        bau_cost=st["bau_cost"],
        savings=st["savings"],
        lines=_lines(st),
        slots=[SlotBillPublic.model_validate(x, from_attributes=True) for x in st.slots],
    )


@router.get("/bills", response_model=BillPublic)
async def bills(
    user: CurrentUser, view: ViewDep, history: HistoryDep, slots: SlotRangeDep
) -> Response:
    """The account's statement of account for a period or any slot range, from what was settled
    (trades, settlement against meters, flexibility, battery lease and result, profit share,
    service fee, exit penalty), each figure named and explained, with what business as usual
    would have cost and the saving; per slot too. A period's profit share and service fee count
    in the range holding its last slot. 404 `not_member` for an account that never was a
    member; a former member still gets its bills."""
    lo, hi, period = slots.lo, slots.hi, slots.period
    key = ("bill", user.address, lo, hi, period)
    hit, value = history.peek(key)
    if not hit:
        value = await run_in_threadpool(_bill, user, view, history, lo, hi, period)
    return Response(value, media_type="application/json")


@router.get("/dso/statement", tags=["dso"])
def dso_statement(
    user: DsoUser, view: ViewDep, history: HistoryDep, slots: SlotRangeDep
) -> DsoStatementPublic:
    """The DSO's statement of account for a period or slot range, from what was settled: fee
    income, network charges, the supply account's energy sales and purchases, profit share paid
    out, service fees, exit penalties, flexibility, battery lease and the battery result passed
    on, each figure named and explained."""
    st = history.dso_statement(slots.lo, slots.hi, view.ledger.period_slots())
    return DsoStatementPublic(
        from_slot=slots.lo, to_slot=slots.hi, net_income=st["dso_net_income"], lines=_lines(st)
    )


@router.get("/periods")
def periods(
    view: ViewDep,
    history: HistoryDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=0, lt=2**64)] = None,
) -> PeriodsPublic:
    """The billing periods up to the current one, newest first (at most `limit`, only those
    before period `before` if given), each with its slots, times and status; and the newest
    complete period (closed, else settled against the meters), where a statement should open:
    the current period is still filling up."""
    length = view.ledger.period_slots()
    current_slot = view.current_slot()
    current = current_slot // length
    next_slot = view.ledger.next_slot()
    genesis = view.community.genesis()
    slot_seconds = view.community.slot_seconds()
    closed = history.closed_periods()
    settled_through = next_slot // length - 1  # every slot of it settled against the meters

    def status(p: int) -> str:
        if p in closed:
            return "closed"
        if p <= settled_through:
            return "settled"
        return "ended" if (p + 1) * length <= current_slot else "open"

    top = current if before is None else min(current, before - 1)
    return PeriodsPublic(
        period_slots=length,
        current_period=current,
        last_complete_period=(
            max(closed) if closed else settled_through if settled_through >= 0 else None
        ),
        periods=[
            PeriodPublic(
                period=p,
                from_slot=p * length,
                to_slot=(p + 1) * length - 1,
                starts_at=genesis + p * length * slot_seconds,
                ends_at=genesis + (p + 1) * length * slot_seconds,
                status=status(p),  # type: ignore[arg-type]
            )
            for p in range(top, max(-1, top - limit), -1)
        ],
    )


@router.get("/slots")
def slots(history: HistoryDep, window: SlotWindowDep) -> list[SettledSlotPublic]:
    """Settled slots in a range: clearing price, volume, trade value and fees."""
    out = []
    for r in history.slots(window.from_slot, window.to_slot):
        mode = MODE_NAMES[int(r["mode"])]
        volume = int(r["volume_wh"])
        none = mode == "pay-as-bid" or (mode == "uniform" and volume == 0)
        out.append(
            SettledSlotPublic(
                slot=int(r["slot"]),
                mode=mode,  # type: ignore[arg-type]
                price=None if none else int(r["price"]),
                volume_wh=volume,
                trade_value=int(r["trade_value"]),
                platform_fees=int(r["platform_fees"]),
                network_fees=int(r["network_fees"]),
                block_number=int(r["block_number"]),
                tx_hash=r["tx_hash"],
            )
        )
    return out


@router.get("/dso/fee-income", tags=["dso"])
def fee_income(user: DsoUser, history: HistoryDep, window: SlotWindowDep) -> FeeIncomePublic:
    """The DSO's trade-fee and network-charge income of the settled slots in a range (from the
    index's SlotSettled events)."""
    rows = history.slots(window.from_slot, window.to_slot)
    return FeeIncomePublic(
        from_slot=window.from_slot,
        to_slot=window.to_slot,
        slots_settled=len(rows),
        platform_fees=sum(int(r["platform_fees"]) for r in rows),
        network_fees=sum(int(r["network_fees"]) for r in rows),
    )


@router.get("/events")
def events(
    history: HistoryDep,
    contract: Annotated[str, Query(min_length=1, max_length=64, examples=["OrderBook"])],
    event: Annotated[str, Query(min_length=1, max_length=64, examples=["OrderPlaced"])],
    from_block: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    to_block: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
    where: Annotated[
        list[str] | None,
        Query(
            max_length=8,
            description="column=value filters (snake_case argument names), e.g. slot=12",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
) -> list[dict[str, Any]]:
    """Indexed events of one contract event, in chain order, filtered by block range and any
    argument. Large integers are JSON numbers (exact); arrays are lists."""
    filters: dict[str, Any] = {}
    for item in where or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ApiError(422, "invalid_filter", f"filter {item!r} is not column=value")
        filters[name] = int(value) if value.isdigit() and len(value) < 78 else value
    return history.events(
        contract,
        event,
        from_block=from_block,
        to_block=to_block,
        filters=filters,
        limit=limit,
        offset=offset,
    )
