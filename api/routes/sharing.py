"""A member's energy-sharing figures per slot, for the household view of a community deployed in
the `sharing` mode: consumption (G.01), what the community covered (G.03) and the residual grid
draw (G.01 − G.03), production exported to the community and to the grid (P.01), and the slot's
bill against business as usual. Read from the event index's SharingSettled rows, one per member
and slot (a member with several meters is settled on their sum), as `api/history.py` reads them
for the statement; nothing is allocated again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.engine import Connection

from api.deps import CurrentUser, HistoryDep, SharingOnly, SlotRangeDep
from api.errors import ApiError
from api.history import check_range
from indexer.schema import event_table

router = APIRouter(tags=["sharing"])


class SharingFiguresPublic(BaseModel):
    """A member's energy-sharing figures, Wh and n€ (costs positive when paid)."""

    consumption_wh: int = Field(description="Metered consumption, G.01: max(import − export, 0)")
    covered_wh: int = Field(description="Covered by the community, G.03 (the allocated Wh)")
    grid_draw_wh: int = Field(description="The residual grid draw, G.01 − G.03")
    production_wh: int = Field(description="Metered production: max(export − import, 0)")
    to_community_wh: int = Field(description="Production credited as shared in the community")
    to_grid_wh: int = Field(description="Production fed into the grid, P.01")
    net_cost: int = Field(description="n€ paid for the slot's energy, less what was received")
    bau_cost: int = Field(description="n€ the same metered energy would have cost via the grid")
    savings: int = Field(description="bau_cost − net_cost")


class SharingSlotPublic(SharingFiguresPublic):
    slot: int
    allotment_wh: int = Field(description="The key's allotment before the cap, G.02")


class SharingSlotsPublic(BaseModel):
    member: str
    from_slot: int
    to_slot: int
    period: int | None
    totals: SharingFiguresPublic = Field(description="The slots' figures summed")
    slots: list[SharingSlotPublic] = Field(description="The settled slots in the range, in order")


def _slot(r: Any) -> SharingSlotPublic:
    imp, exp = int(r["import_wh"]), int(r["export_wh"])
    consumption, production = max(imp - exp, 0), max(exp - imp, 0)
    covered, credited = int(r["allocated_wh"]), int(r["credited_wh"])
    net, bau = int(r["charged"]) - int(r["paid"]), int(r["bau_cost"])
    return SharingSlotPublic(
        slot=int(r["slot"]),
        consumption_wh=consumption,
        covered_wh=covered,
        grid_draw_wh=consumption - covered,
        production_wh=production,
        to_community_wh=credited,
        to_grid_wh=production - credited,
        allotment_wh=int(r["allotment_wh"]),
        net_cost=net,
        bau_cost=bau,
        savings=bau - net,
    )


def _totals(slots: Sequence[SharingSlotPublic]) -> SharingFiguresPublic:
    keys = SharingFiguresPublic.model_fields
    return SharingFiguresPublic(**{k: sum(getattr(s, k) for s in slots) for k in keys})


@router.get("/sharing/slots", dependencies=[SharingOnly])
def sharing_slots(
    user: CurrentUser, history: HistoryDep, slots: SlotRangeDep
) -> SharingSlotsPublic:
    """The account's energy-sharing figures per settled slot of a period or slot range, and
    their sums: consumption (G.01) = covered by the community (G.03) + residual grid draw;
    production = exported to the community + to the grid (P.01); the slot's cost against
    business as usual (energy, network charges and platform fees of the slot, as in /bills).
    409 `trading_mode` in a trading community; 404 `not_member` for an account that never was a
    member."""
    lo, hi = slots.lo, slots.hi
    check_range(lo, hi)
    if not user.roles.member_role and not history.ever_registered(user.address):
        raise ApiError(
            404, "not_member", f"{user.address} is not and never was a member: it shares nothing"
        )
    t = event_table("SharingSettlement", "SharingSettled")
    query = (
        select(t)
        .where(t.c.member == user.address, t.c.slot >= lo, t.c.slot <= hi)
        .order_by(t.c.slot)
    )

    def compute(conn: Connection) -> list[SharingSlotPublic]:
        return [_slot(r) for r in conn.execute(query).mappings()]

    rows = history.cached(("sharing-slots", user.address, lo, hi), compute)
    return SharingSlotsPublic(
        member=user.address,
        from_slot=lo,
        to_slot=hi,
        period=slots.period,
        totals=_totals(rows),
        slots=rows,
    )
