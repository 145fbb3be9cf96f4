"""History from the SQL event index (indexer/): a member's trades, readings and bills, settled
slots and raw events. Nothing here re-implements a rule: a slot's fills are re-derived by the
rulebook (`market.clearing.clear` on the slot's book as the index holds it) and checked against
the fills the chain settled; money per order comes from `market.billing.settle_order`, bills from
`market.billing.bill` and `sum_bills`.

Results are cached per index checkpoint (the last block indexed). The API's poller notes the
checkpoint with the chain head, so a repeated request is answered from memory until the indexer
moves on (at most one poll interval late).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection, Engine

from api.errors import ApiError
from indexer.schema import checkpoint, event_table
from market.billing import Bill, OrderSettlement, bill, settle_order, sum_bills
from market.clearing import Clearing, Mode, clear
from market.orders import Order, Side
from market.tariff import SlotRules

T = TypeVar("T")
MAX_SLOTS = 4 * 1440  # one request spans at most four 30-day periods of slots


def _ints(value: Any) -> list[int]:
    """An array column (JSON list; a JSON text on engines without a JSON type)."""
    if isinstance(value, str):
        value = json.loads(value)
    return [int(v) for v in value]


@dataclass(frozen=True)
class SlotTrades:
    """A settled slot as the rulebook sees it: its open orders and their clearing."""

    slot: int
    rules: SlotRules
    orders: dict[int, Order]
    clearing: Clearing
    settled_price: int
    volume_wh: int


@dataclass(frozen=True)
class SlotBill:
    slot: int
    metered: bool
    bill: Bill
    settlements: list[OrderSettlement]


class History:
    def __init__(self, engine: Engine, rules: Callable[[int], SlotRules]) -> None:
        self.engine = engine
        self._rules = rules
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._cache_block: int | None = None
        self._lock = threading.Lock()

    # -- plumbing --------------------------------------------------------------------------

    def indexed_block(self, conn: Connection) -> int:
        row = conn.execute(select(checkpoint.c.block_number)).first()
        if row is None:
            raise ApiError(503, "index_empty", "the event index has not indexed this deployment")
        return int(row[0])

    def refresh(self) -> None:
        """Note the index's checkpoint (called by the API's poller); a new one drops the cache."""
        try:
            with self.engine.connect() as conn:
                block = self.indexed_block(conn)
        except Exception:  # no index yet: requests will say so
            return
        with self._lock:
            if block != self._cache_block:
                self._cache, self._cache_block = {}, block

    def peek(self, key: tuple[Any, ...]) -> tuple[bool, Any]:
        """(True, value) if `key` is cached for the checkpoint last seen."""
        with self._lock:
            if self._cache_block is not None and key in self._cache:
                return True, self._cache[key]
        return False, None

    def store(self, key: tuple[Any, ...], block: int, value: Any) -> None:
        with self._lock:
            if self._cache_block == block:
                self._cache[key] = value

    def cached(self, key: tuple[Any, ...], compute: Callable[[Connection], T]) -> T:
        """`compute(conn)` once per indexed block."""
        with self.engine.connect() as conn:
            block = self.indexed_block(conn)
            with self._lock:
                if self._cache_block != block:
                    self._cache, self._cache_block = {}, block
                if key in self._cache:
                    return self._cache[key]  # type: ignore[no-any-return]
            value = compute(conn)
        self.store(key, block, value)
        return value

    @staticmethod
    def _rows(conn: Connection, table: Table, *where: Any) -> list[dict[str, Any]]:
        query = select(table).where(*where).order_by(table.c.block_number, table.c.log_index)
        return [dict(r._mapping) for r in conn.execute(query)]

    # -- slots -----------------------------------------------------------------------------

    def settled_slots(self, conn: Connection, lo: int, hi: int) -> list[dict[str, Any]]:
        t = event_table("Settlement", "SlotSettled")
        return self._rows(conn, t, t.c.slot >= lo, t.c.slot <= hi)

    def slot_trades(self, conn: Connection, settled: dict[str, Any]) -> SlotTrades:
        """Re-derive a settled slot's clearing from the index and check it against the chain's."""
        slot = int(settled["slot"])
        placed_t = event_table("OrderBook", "OrderPlaced")
        cancel_t = event_table("OrderBook", "OrderCancelled")
        placed = self._rows(conn, placed_t, placed_t.c.slot == slot)
        cancelled = {int(r["id"]) for r in self._rows(conn, cancel_t, cancel_t.c.slot == slot)}
        rules = self._rules(slot)
        orders = {
            int(r["id"]): Order(
                id=int(r["id"]),
                side=Side.SELL if int(r["side"]) else Side.BUY,
                energy_wh=int(r["energy_wh"]),
                price=int(r["limit_price"]),
                owner=str(r["owner"]),
            )
            for r in placed
            if int(r["id"]) not in cancelled
        }
        mode = Mode(rules.mode)
        pc = rules.tariff.community_price if mode is Mode.COMMUNITY else None
        clearing = clear(orders.values(), mode, pc)
        fills = _ints(settled["fills"])
        by_index = {int(r["index"]): int(r["id"]) for r in placed}
        for index, filled in enumerate(fills):
            oid = by_index.get(index)
            derived = clearing.fills[oid].filled_wh if oid in orders else 0
            if oid is None or derived != filled:
                raise ApiError(
                    409,
                    "index_inconsistent",
                    f"slot {slot}: the index's book does not reproduce the settled fills",
                )
        return SlotTrades(
            slot, rules, orders, clearing, int(settled["price"]), int(settled["volume_wh"])
        )

    # -- a member --------------------------------------------------------------------------

    def _member_slots(self, conn: Connection, member: str, lo: int, hi: int) -> set[int]:
        placed = event_table("OrderBook", "OrderPlaced")
        readings = event_table("MeterReadings", "ReadingAccepted")
        slots = {
            int(s)
            for (s,) in conn.execute(
                select(placed.c.slot).where(
                    placed.c.owner == member, placed.c.slot >= lo, placed.c.slot <= hi
                )
            )
        }
        slots |= {
            int(s)
            for (s,) in conn.execute(
                select(readings.c.slot).where(
                    readings.c.member == member, readings.c.slot >= lo, readings.c.slot <= hi
                )
            )
        }
        return slots

    def ever_registered(self, address: str) -> bool:
        """Whether `address` was ever registered as a member (a MemberRegistered event in the
        index): a member now, one leaving, or one gone, whose bills of its time stay readable."""
        t = event_table("Community", "MemberRegistered")
        return self.cached(
            ("registered", address),
            lambda conn: (
                conn.execute(select(t.c.block_number).where(t.c.member == address).limit(1)).first()
                is not None
            ),
        )

    def readings(self, member: str, lo: int, hi: int) -> list[dict[str, Any]]:
        check_range(lo, hi)  # the same cap as trades, bills and slots
        t = event_table("MeterReadings", "ReadingAccepted")
        return self.cached(
            ("readings", member, lo, hi),
            lambda conn: self._rows(conn, t, t.c.member == member, t.c.slot >= lo, t.c.slot <= hi),
        )

    def slot_bills(self, member: str, lo: int, hi: int) -> list[SlotBill]:
        """The member's bill for every settled slot in [lo, hi] where it traded or metered."""
        check_range(lo, hi)

        def compute(conn: Connection) -> list[SlotBill]:
            wanted = self._member_slots(conn, member, lo, hi)
            if not wanted:
                return []
            readings: dict[int, int] = defaultdict(int)
            metered: set[int] = set()
            for r in self.readings_rows(conn, member, lo, hi):
                readings[int(r["slot"])] += int(r["export_wh"]) - int(r["import_wh"])
                metered.add(int(r["slot"]))
            out = []
            for settled in self.settled_slots(conn, lo, hi):
                slot = int(settled["slot"])
                if slot not in wanted:
                    continue
                trades = self.slot_trades(conn, settled)
                tariff = trades.rules.tariff
                settlements = [
                    settle_order(tariff, order, trades.clearing.fills[oid])
                    for oid, order in sorted(trades.orders.items())
                    if order.owner == member and trades.clearing.fills[oid].filled_wh
                ]
                sold = sum(s.filled_wh for s in settlements if s.side is Side.SELL)
                bought = sum(s.filled_wh for s in settlements if s.side is Side.BUY)
                # Without a reading the trades stand as delivered (docs/decisions.md).
                m = readings[slot] if slot in metered else sold - bought
                out.append(
                    SlotBill(slot, slot in metered, bill(tariff, m, settlements), settlements)
                )
            return out

        return self.cached(("bills", member, lo, hi), compute)

    def readings_rows(
        self, conn: Connection, member: str, lo: int, hi: int
    ) -> list[dict[str, Any]]:
        t = event_table("MeterReadings", "ReadingAccepted")
        return self._rows(conn, t, t.c.member == member, t.c.slot >= lo, t.c.slot <= hi)

    def period_bill(self, slot_bills: Sequence[SlotBill], service_fee: int) -> Bill:
        return sum_bills([b.bill for b in slot_bills], service_fee)

    # -- public ----------------------------------------------------------------------------

    def slots(self, lo: int, hi: int) -> list[dict[str, Any]]:
        check_range(lo, hi)
        return self.cached(("slots", lo, hi), lambda conn: self.settled_slots(conn, lo, hi))

    def events(
        self,
        contract: str,
        event: str,
        *,
        from_block: int,
        to_block: int | None,
        filters: dict[str, Any],
        limit: int,
        offset: int,
    ) -> list[dict[str, Any]]:
        try:
            t = event_table(contract, event)
        except KeyError as exc:
            raise ApiError(404, "unknown_event", str(exc.args[0])) from exc
        where = [t.c.block_number >= from_block]
        if to_block is not None:
            where.append(t.c.block_number <= to_block)
        for name, value in filters.items():
            if name not in t.c:
                raise ApiError(422, "unknown_filter", f"{t.name} has no column {name!r}")
            where.append(t.c[name] == value)
        query = (
            select(t)
            .where(*where)
            .order_by(t.c.block_number, t.c.log_index)
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            self.indexed_block(conn)
            return [dict(r._mapping) for r in conn.execute(query)]


def check_range(lo: int, hi: int) -> None:
    if hi < lo:
        raise ApiError(422, "invalid_range", f"to_slot {hi} is before from_slot {lo}")
    if hi - lo + 1 > MAX_SLOTS:
        raise ApiError(422, "range_too_long", f"at most {MAX_SLOTS} slots per request")
