"""Public reads: the market's calendar and tariff, slots with their clearing and fills, and the
audit status. No sign-in needed: everything here is on the public chain anyway."""

from __future__ import annotations

from typing import Annotated, Any

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool

from api.auditjob import AuditRun
from api.deps import AuditorUser, AuditsDep, TradingOnly, ViewDep
from api.routes.dso import _tariff_public
from api.schemas import (
    AuditProgressPublic,
    AuditRunPublic,
    AuditStatusPublic,
    FillPublic,
    IntentPublic,
    MarketPublic,
    SlotPublic,
)
from chain.codec import decode_order_word
from chain.gateway import SharingGateway

router = APIRouter(tags=["public"])
SlotNumber = Annotated[int, Path(ge=0, lt=2**64)]


@router.get("/health")
def health(view: ViewDep) -> dict[str, int]:
    return {"head_block": view.head}


def _sharing_key(view: ViewDep) -> str | None:
    if not isinstance(view.ledger, SharingGateway):
        return None
    return view.ledger.sharing_key().value


@router.get("/market")
def market(view: ViewDep) -> MarketPublic:
    """Chain, contracts, calendar, and the tariff in force now."""
    slot = view.current_slot()
    return MarketPublic(
        chain_id=view.chain_id,
        contracts=dict(view.node.manifest.contracts),
        head_block=view.head,
        current_slot=slot,
        genesis=view.community.genesis(),
        head_timestamp=view.chain_time(),
        slot_seconds=view.community.slot_seconds(),
        gate_closure_seconds=view.community.gate_closure_seconds(),
        order_horizon_slots=view.community.order_horizon_slots(),
        period_slots=view.ledger.period_slots(),
        market_mode="sharing" if view.sharing_mode else "trading",
        sharing_key=_sharing_key(view),
        tariff=_tariff_public(slot, view.rules(slot)),
    )


@router.get("/slots/{slot}", dependencies=[TradingOnly])
def slot_detail(slot: SlotNumber, view: ViewDep) -> SlotPublic:
    """A slot's book and, once settled, its clearing price, volume and fills (from the chain)."""
    clearing = view.settlement.clearing_of(slot)
    words = view.book.slot_book(slot)
    ids = view.book.slot_order_ids(slot)
    fills: list[int] = [0] * len(words)
    intents: list[IntentPublic] = []
    if clearing.settled:
        events = view.cached(("SlotSettled", slot), lambda: view.settlement.settled_events(slot))
        if events:
            settled = events[-1]
            fills = settled.fills
            for k, (word, intent_id) in enumerate(
                zip(settled.intent_words, settled.intent_ids, strict=True)
            ):
                e = decode_order_word(len(words) + k, word)
                intents.append(
                    IntentPublic(
                        intent_id=f"0x{intent_id:064x}",
                        owner=to_checksum_address(e.owner),
                        side="sell" if e.side == "sell" else "buy",
                        energy_wh=e.energy_wh,
                        limit_price=e.price,
                        filled_wh=fills[len(words) + k],
                    )
                )
    out = []
    for i, (word, oid) in enumerate(zip(words, ids, strict=True)):
        if fills[i]:
            e = decode_order_word(i, word)
            out.append(
                FillPublic(
                    index=i,
                    order_id=oid,
                    owner=to_checksum_address(e.owner),
                    side="sell" if e.side == "sell" else "buy",
                    energy_wh=e.energy_wh,
                    limit_price=e.price,
                    filled_wh=fills[i],
                )
            )
    mode_name = clearing.mode if clearing.settled else view.rules(slot).mode
    no_price = (
        not clearing.settled
        or (mode_name == "uniform" and clearing.volume_wh == 0)
        or mode_name == "pay-as-bid"
    )
    return SlotPublic(
        slot=slot,
        gate_closure=view.community.gate_closure(slot),
        settled=clearing.settled,
        mode=mode_name,  # type: ignore[arg-type]
        price=None if no_price else clearing.price,
        volume_wh=clearing.volume_wh,
        orders=len(words) + len(intents),
        fills=out,
        intents=intents,
    )


@router.get("/audit/status")
def audit_status(view: ViewDep) -> AuditStatusPublic:
    """How far settlement against meters has come, the last audit digest, and whether the token
    supply equals minted minus redeemed."""
    first = view.ledger.first_slot()
    nxt = view.ledger.next_slot()
    # Chunk 0's link at the last slot every chunk has settled (each chunk has its own chain).
    digest = None
    if nxt > first:
        digest = view.ledger.digest_at(nxt - 1, 0)
    supply = view.token.total_supply()
    minted = view.token.total_minted()
    redeemed = view.token.total_redeemed()
    return AuditStatusPublic(
        first_slot=first,
        next_slot=nxt,
        last_digest=None if digest is None else "0x" + digest.hex(),
        total_supply=supply,
        total_minted=minted,
        total_redeemed=redeemed,
        total_debt=view.token.total_debt(),
        escrow_held=view.book.escrow_held() if view.deployed("OrderBook") else 0,
        supply_conserved=supply == minted - redeemed,
    )


@router.get("/audit/report", tags=["auditor"])
async def audit_report(user: AuditorUser, audits: AuditsDep) -> dict[str, Any]:
    """The full audit (`gridshare audit`: every settlement rebuilt from chain events alone and
    checked against the rulebook) at the head block; computed once per block, one run at a
    time (a request during a run waits for it). Auditors and DSO; GET /audit/progress shows a
    run's progress and the last result without waiting."""
    run = audits.start()
    await run_in_threadpool(run.done.wait)
    if run.error is not None:
        raise run.error
    assert run.report is not None
    return run.report


@router.get("/audit/progress", tags=["auditor"])
def audit_progress(user: AuditorUser, audits: AuditsDep, view: ViewDep) -> AuditProgressPublic:
    """Where the full audit is, without starting or waiting for a run: the run under way (its
    phase and elapsed time) and the last finished report with the block it audited, which
    may be behind the head. Auditors and DSO."""
    last = audits.last
    failed = audits.last_failed
    return AuditProgressPublic(
        head_block=view.head,
        running=_run_public(audits.running),
        last=_run_public(last),
        last_report=None if last is None else last.report,
        last_error=None if failed is None else str(failed.error),
    )


def _run_public(run: AuditRun | None) -> AuditRunPublic | None:
    if run is None:
        return None
    return AuditRunPublic(
        block=run.block,
        started_at=int(run.started_at),
        phase=run.phase,
        elapsed_ms=run.elapsed_ms(),
        events_read=run.events_read,
        finished_at=None if run.finished_at is None else int(run.finished_at),
    )
