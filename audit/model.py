"""What the audit reads and what it reports, as plain values (no I/O).

An `Event` is one decoded log with JSON-native arguments: integers, addresses as checksummed hex
strings, `bytes32` as 0x-prefixed hex strings, arrays and structs as lists. `ChainState` holds the
few values read from the chain at the audited block besides the events: the contracts'
immutable configuration (which no event carries), the times of the blocks that settled intents,
and the balances and debts that the replay of the events must reproduce.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    contract: str
    """The deployment manifest's name of the emitting contract ("OrderBook", ...)."""
    name: str
    args: Mapping[str, Any]
    block: int
    log_index: int
    tx: str


@dataclass(frozen=True, slots=True)
class ChainState:
    """The chain at the audited block, beyond its events."""

    block: int
    contracts: Mapping[str, str]
    """Contract name -> address (the deployment manifest)."""
    share_bps: int
    """ProfitSharing.shareBps (immutable)."""
    period_slots: int
    """The meter settlement's periodSlots (immutable): ImbalanceSettlement's, or
    SharingSettlement's in the `sharing` mode."""
    first_slot: int
    """The meter settlement's firstSlot (immutable): the first link of the digest chain."""
    total_supply: int
    balances: Mapping[str, int]
    """EnergyToken.balanceOf of every address that ever held or moved tokens."""
    debts: Mapping[str, int]
    """EnergyToken.debtOf of every address that ever owed."""
    total_debt: int
    min_order_wh: int
    """Settlement.minOrderWh (immutable): the smallest energy of an intent."""
    trade_first_slot: int
    """Settlement.firstSlot (immutable): the first slot whose trades settle."""
    block_times: tuple[tuple[int, int], ...]
    """(block, timestamp) of each block with a SlotSettled event that carried intents (the time
    their deadlines are checked against) or with SharingTermsScheduled / SharingHoursScheduled
    (the slot a change of terms was made in, which decides whether it withdrew an earlier
    change)."""
    last_digests: tuple[tuple[int, int, str], ...] = ()
    """Per chunk with a SlotDigest (SharingSlotDigest) event: (its last such slot, the chunk,
    the meter settlement's digestAt(slot, chunk)), lower-case hex."""
    slot_seconds: int = 1800
    """Community.slotSeconds (immutable): the flexibility baseline's slot of day."""
    flex_baseline_days: int = 5
    """Flexibility.baselineDays (immutable)."""
    flex_lookback_days: int = 10
    """Flexibility.lookbackDays (immutable)."""
    genesis: int = 0
    """Community.genesis (immutable): the start of slot 0, unix seconds."""
    sharing_key: str = ""
    """SharingSettlement.key ("dynamic" or "static") in the `sharing` mode; "" otherwise."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One discrepancy: the slot it concerns (None for whole-chain rules), the rule broken and
    what was found against what the rule gives."""

    slot: int | None
    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class Report:
    block: int
    events_read: int
    slots_checked: list[int]
    """Slots whose trade settlement was re-derived (SlotSettled)."""
    slots_metered: list[int]
    """Slots whose settlement against meters and digest link were re-derived (SlotDigest)."""
    periods_checked: list[int]
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "block": self.block,
            "events_read": self.events_read,
            "slots_checked": len(self.slots_checked),
            "slots": _span(self.slots_checked),
            "slots_metered": len(self.slots_metered),
            "periods_checked": self.periods_checked,
            "discrepancies": [asdict(f) for f in self.findings],
        }

    def to_text(self) -> str:
        lines = [
            f"audit at block {self.block}: {self.events_read} events read",
            f"slots checked: {len(self.slots_checked)} trades{_span_text(self.slots_checked)}, "
            f"{len(self.slots_metered)} against meters{_span_text(self.slots_metered)}",
            f"periods checked: {len(self.periods_checked)} {self.periods_checked or ''}".rstrip(),
            f"discrepancies: {len(self.findings)}",
        ]
        for f in self.findings:
            where = "chain" if f.slot is None else f"slot {f.slot}"
            lines.append(f"  {where}: {f.rule}: {f.detail}")
        lines.append("OK" if self.ok else "FAILED")
        return "\n".join(lines)


def _span(slots: Sequence[int]) -> list[int] | None:
    return [min(slots), max(slots)] if slots else None


def _span_text(slots: Sequence[int]) -> str:
    return f" ({min(slots)}..{max(slots)})" if slots else ""


def dump_events(events: Sequence[Event], state: ChainState) -> str:
    """Events and state as JSON (for recorded test fixtures)."""
    return json.dumps(
        {
            "state": asdict(state),
            "events": [asdict(e) for e in events],
        },
        indent=1,
    )


def load_events(text: str) -> tuple[list[Event], ChainState]:
    data = json.loads(text)
    state = dict(data["state"])
    state["last_digests"] = tuple(tuple(d) for d in state.get("last_digests", ()))
    state["block_times"] = tuple(tuple(t) for t in state["block_times"])
    return [Event(**e) for e in data["events"]], ChainState(**state)
