"""The matcher's intent step: from a slot's pending intents in the pool to the batch its
settlement carries, and back to the pool with what happened to each.

The selection rule is pure (market/intents.py); this module only reads what it needs from the
chain (each holder's role, epoch and spendable balance in one call, the book's limits once) and
from the pool. The contract re-checks everything; if it still refuses an intent by name (the pool
was written by something that did not check a signature, or a balance moved between the read and
the mining), the step leaves that intent (or that member's buys) out and the matcher tries again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from chain.codec import decode_order_word
from chain.gateway import OrderBookGateway, SettlementGateway
from chain.intents import EMPTY_BATCH, IntentBatch, SignedIntent
from chain.node import Node, TransactionReverted
from market.intents import (
    DEADLINE_MARGIN_SECONDS,
    Candidate,
    LeftOut,
    Limits,
    select_intents,
)
from market.tariff import Tariff

_INDEXED_REFUSALS: dict[str, LeftOut] = {
    "SettlementIntentBadSignature": LeftOut.BAD_SIGNATURE,
    "SettlementIntentMalformed": LeftOut.BAD_SIGNATURE,
    "SettlementIntentExpired": LeftOut.EXPIRED,
    "SettlementIntentEnergy": LeftOut.ENERGY_TOO_SMALL,
    "SettlementIntentPriceOutOfBounds": LeftOut.PRICE_OUT_OF_BOUNDS,
}
_MEMBER_REFUSALS: dict[str, LeftOut] = {
    "SettlementIntentNotMember": LeftOut.NOT_MEMBER,
    "SettlementIntentRoleCannotSell": LeftOut.ROLE_CANNOT_SELL,
    "SettlementIntentUncovered": LeftOut.UNCOVERED,
}


class Pool(Protocol):
    """What the matcher needs of the intent pool (intents/pool.py)."""

    def pending(self, slot: int) -> list[SignedIntent]: ...

    def resolve(
        self,
        slot: int,
        included: Sequence[int],
        left_out: Mapping[int, str],
        tx_hash: str | None,
    ) -> None: ...


def _candidate(s: SignedIntent) -> Candidate:
    i = s.intent
    return Candidate(
        id=i.id,
        owner=i.owner.lower(),
        side=i.side,
        energy_wh=i.energy_wh,
        limit_price=i.limit_price,
        epoch=i.epoch,
        deadline=i.deadline,
    )


class IntentStep:
    """Selects a slot's batch from the pool and records the outcome there."""

    def __init__(self, node: Node, pool: Pool) -> None:
        self.node = node
        self.pool = pool
        self.settlement = SettlementGateway(node)
        limits = OrderBookGateway(node).limits()
        self.min_order_wh = limits.min_order_wh
        self.max_per_member = limits.max_per_member_slot
        self.max_intents = limits.max_per_slot

    def batch(
        self, slot: int, tariff: Tariff, direct_words: Sequence[int]
    ) -> tuple[IntentBatch, dict[int, LeftOut]]:
        """The intents to carry into `slot`'s settlement, and why the others stay out."""
        pending = {s.intent.id: s for s in self.pool.pending(slot) if s.intent.slot == slot}
        if not pending:
            return EMPTY_BATCH, {}
        candidates = [_candidate(s) for s in pending.values()]
        owners = sorted({c.owner for c in candidates})
        holders = dict(zip(owners, self.settlement.holders(owners), strict=True))
        direct: dict[str, int] = {}
        for k, word in enumerate(direct_words):
            owner = decode_order_word(k, int(word)).owner
            direct[owner] = direct.get(owner, 0) + 1
        limits = Limits(
            min_order_wh=self.min_order_wh,
            max_per_member=self.max_per_member,
            max_intents=self.max_intents,
            not_before=self.node.block_timestamp() + DEADLINE_MARGIN_SECONDS,
        )
        selection = select_intents(candidates, holders, tariff, limits, direct)
        batch = IntentBatch.of([pending[c.id] for c in selection.kept])
        return batch, dict(selection.left_out)

    @staticmethod
    def refused(batch: IntentBatch, exc: TransactionReverted) -> dict[int, LeftOut]:
        """The intents a named refusal points at (empty if it points at none of them)."""
        args = exc.error_args
        if exc.error in _INDEXED_REFUSALS and args:
            index = int(args[0])
            if 0 <= index < len(batch.intents):
                return {batch.intents[index].intent.id: _INDEXED_REFUSALS[exc.error]}
        if exc.error in _MEMBER_REFUSALS and args:
            member = str(args[0]).lower()
            side = "buy" if exc.error == "SettlementIntentUncovered" else None
            return {
                s.intent.id: _MEMBER_REFUSALS[exc.error]
                for s in batch.intents
                if s.intent.owner.lower() == member and side in (None, s.intent.side)
            }
        return {}
