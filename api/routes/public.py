"""Public reads: the market's calendar and tariff, slots with their clearing and fills, and the
audit status. No sign-in needed: everything here is on the public chain anyway."""

from __future__ import annotations

from typing import Annotated, Any

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool

from api.deps import AuditorUser, ViewDep
from api.routes.dso import _tariff_public
from api.schemas import AuditStatusPublic, FillPublic, MarketPublic, SlotPublic
from api.view import ChainView
from audit.checks import audit
from audit.fetch import fetch_events, fetch_state
from chain.codec import MODE_NAMES, decode_order_word, encode_rules

router = APIRouter(tags=["public"])
SlotNumber = Annotated[int, Path(ge=0, lt=2**64)]


@router.get("/health")
def health(view: ViewDep) -> dict[str, int]:
    return {"head_block": view.head}


@router.get("/market")
def market(view: ViewDep) -> MarketPublic:
    """Chain, contracts, calendar, and the tariff in force now."""
    slot = view.current_slot()
    return MarketPublic(
        chain_id=view.chain_id,
        contracts=dict(view.node.manifest.contracts),
        head_block=view.head,
        current_slot=slot,
        genesis=int(view.call("Community", "genesis")),
        head_timestamp=int(view.cached(("head-timestamp",), view.node.block_timestamp)),
        slot_seconds=int(view.call("Community", "slotSeconds")),
        gate_closure_seconds=int(view.call("Community", "gateClosureSeconds")),
        order_horizon_slots=int(view.call("Community", "orderHorizonSlots")),
        period_slots=int(view.call("ImbalanceSettlement", "periodSlots")),
        tariff=_tariff_public(slot, encode_rules(view.rules(slot))),
    )


@router.get("/slots/{slot}")
def slot_detail(slot: SlotNumber, view: ViewDep) -> SlotPublic:
    """A slot's book and, once settled, its clearing price, volume and fills (from the chain)."""
    settled, mode, price, volume = view.call("Settlement", "clearingOf", slot)
    words = view.call("OrderBook", "slotBook", slot)
    ids = view.call("OrderBook", "slotOrderIds", slot)
    fills: list[int] = [0] * len(words)
    if settled:
        events = view.cached(
            ("SlotSettled", slot),
            lambda: view.node.events(
                "Settlement",
                "SlotSettled",
                from_block=view.node.manifest.deployed_at_block,
                argument_filters={"slot": slot},
            ),
        )
        if events:
            fills = [int(f) for f in events[-1]["args"]["fills"]]
    out = []
    for i, (word, oid) in enumerate(zip(words, ids, strict=True)):
        if fills[i]:
            e = decode_order_word(i, int(word))
            out.append(
                FillPublic(
                    index=i,
                    order_id=int(oid),
                    owner=to_checksum_address(e.owner),
                    side="sell" if e.side == "sell" else "buy",
                    energy_wh=e.energy_wh,
                    limit_price=e.price,
                    filled_wh=fills[i],
                )
            )
    mode_name = MODE_NAMES[int(mode)] if settled else view.rules(slot).mode
    no_price = (
        not settled or (mode_name == "uniform" and int(volume) == 0) or mode_name == "pay-as-bid"
    )
    return SlotPublic(
        slot=slot,
        gate_closure=int(view.call("Community", "gateClosure", slot)),
        settled=bool(settled),
        mode=mode_name,  # type: ignore[arg-type]
        price=None if no_price else int(price),
        volume_wh=int(volume),
        orders=len(words),
        fills=out,
    )


@router.get("/audit/status")
def audit_status(view: ViewDep) -> AuditStatusPublic:
    """How far settlement against meters has come, the last audit digest, and whether the token
    supply equals minted minus redeemed."""
    first = int(view.call("ImbalanceSettlement", "firstSlot"))
    nxt = int(view.call("ImbalanceSettlement", "nextSlot"))
    # Chunk 0's link at the last slot every chunk has settled (each chunk has its own chain).
    digest = None
    if nxt > first:
        digest = bytes(view.call("ImbalanceSettlement", "digestAt", nxt - 1, 0))
    supply = int(view.call("EnergyToken", "totalSupply"))
    minted = int(view.call("EnergyToken", "totalMinted"))
    redeemed = int(view.call("EnergyToken", "totalRedeemed"))
    return AuditStatusPublic(
        first_slot=first,
        next_slot=nxt,
        last_digest=None if digest is None else "0x" + digest.hex(),
        total_supply=supply,
        total_minted=minted,
        total_redeemed=redeemed,
        total_debt=int(view.call("EnergyToken", "totalDebt")),
        escrow_held=int(view.call("OrderBook", "escrowHeld")),
        supply_conserved=supply == minted - redeemed,
    )


@router.get("/audit/report", tags=["auditor"])
async def audit_report(user: AuditorUser, view: ViewDep) -> dict[str, Any]:
    """The full audit (`gridshare audit`: every settlement rebuilt from chain events alone and
    checked against the rulebook) at the head block; computed once per block. Auditors and DSO."""
    key = ("audit-report",)
    hit, value = view.peek(key)
    if hit:
        return value  # type: ignore[no-any-return]
    return await run_in_threadpool(view.cached, key, lambda: _audit(view))


def _audit(view: ChainView) -> dict[str, Any]:
    head = view.head
    events = fetch_events(view.node, head, view.audit_batch_blocks)
    return audit(events, fetch_state(view.node, events, head)).to_json()
