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
from chain.codec import MODE_NAMES, decode_order_word, encode_rules
from chain.sharing import SHARING_KEY_CODES

router = APIRouter(tags=["public"])
SlotNumber = Annotated[int, Path(ge=0, lt=2**64)]


@router.get("/health")
def health(view: ViewDep) -> dict[str, int]:
    return {"head_block": view.head}


def _sharing_key(view: ViewDep) -> str | None:
    if view.ledger != "SharingSettlement":
        return None
    code = int(view.call(view.ledger, "key"))
    return next(k.value for k, c in SHARING_KEY_CODES.items() if c == code)


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
        period_slots=int(view.call(view.ledger, "periodSlots")),
        market_mode="sharing" if view.ledger == "SharingSettlement" else "trading",
        sharing_key=_sharing_key(view),
        tariff=_tariff_public(slot, encode_rules(view.rules(slot))),
    )


@router.get("/slots/{slot}", dependencies=[TradingOnly])
def slot_detail(slot: SlotNumber, view: ViewDep) -> SlotPublic:
    """A slot's book and, once settled, its clearing price, volume and fills (from the chain)."""
    settled, mode, price, volume = view.call("Settlement", "clearingOf", slot)
    words = view.call("OrderBook", "slotBook", slot)
    ids = view.call("OrderBook", "slotOrderIds", slot)
    fills: list[int] = [0] * len(words)
    intents: list[IntentPublic] = []
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
            args = events[-1]["args"]
            fills = [int(f) for f in args["fills"]]
            for k, (word, intent_id) in enumerate(
                zip(args["intentWords"], args["intentIds"], strict=True)
            ):
                e = decode_order_word(len(words) + k, int(word))
                intents.append(
                    IntentPublic(
                        intent_id=f"0x{int(intent_id):064x}",
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
        orders=len(words) + len(intents),
        fills=out,
        intents=intents,
    )


@router.get("/audit/status")
def audit_status(view: ViewDep) -> AuditStatusPublic:
    """How far settlement against meters has come, the last audit digest, and whether the token
    supply equals minted minus redeemed."""
    first = int(view.call(view.ledger, "firstSlot"))
    nxt = int(view.call(view.ledger, "nextSlot"))
    # Chunk 0's link at the last slot every chunk has settled (each chunk has its own chain).
    digest = None
    if nxt > first:
        digest = bytes(view.call(view.ledger, "digestAt", nxt - 1, 0))
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
        escrow_held=(
            int(view.call("OrderBook", "escrowHeld"))
            if "OrderBook" in view.node.manifest.contracts
            else 0
        ),
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
