"""History from the SQL event index (indexer/): a member's trades, readings and statement of
account, the DSO's statement, settled slots and raw events. Nothing here re-implements a rule or
re-clears a slot: the index's rows are read as the audit's events, `chain.settled.read_settled`
takes what was settled from them, and `market.statement` builds the statement (the same function
the audit and the simulation report use).

Results are cached per index checkpoint (the last block indexed). The API's poller notes the
checkpoint with the chain head, so a repeated request is answered from memory until the indexer
moves on (at most one poll interval late).
"""

from __future__ import annotations

import heapq
import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Table, or_, select
from sqlalchemy.engine import Connection, Engine

from api.errors import ApiError
from audit.model import Event
from chain.settled import SettledChain, read_settled
from chain.signing import ReadingSpan
from indexer.schema import SPECS, checkpoint, event_table, event_tables
from market.billing import OrderSettlement
from market.statement import Statement, dso_statement, member_statement, settled_trades

T = TypeVar("T")
MAX_SLOTS = 4 * 1440  # one request spans at most four 30-day periods of slots
_SPECS = {spec.table_name: spec for spec in SPECS}
_COMMUNITY_EVENTS = (
    "DsoAccountsSet",
    "SupplyAccountSet",
    "RoleGranted",
    "RoleRevoked",
    "MemberRegistered",
    "MemberRoleChanged",
    "TariffScheduled",
    "TariffWithdrawn",
)
# Events read for one member (filtered on the column named), or for every member (the DSO).
_MEMBER_EVENTS = (
    ("ProfitSharing", "PeriodBilled", "member"),
    ("Flexibility", "FlexDelivered", "member"),
    ("Membership", "ExitRequested", "member"),
    ("EnergyToken", "TopUp", "member"),
    ("EnergyToken", "Redeemed", "holder"),
    ("EnergyToken", "DebtRepaid", "member"),
)
_PLAIN_TABLES = {event_table("EnergyToken", n).name for n in ("Transfer", "Approval")}


def ints(value: Any) -> list[int]:
    """An array column (JSON list; a JSON text on engines without a JSON type)."""
    if isinstance(value, str):
        value = json.loads(value)
    return [int(v) for v in value]


def index_rows(conn: Connection, table: Table, *where: Any) -> list[dict[str, Any]]:
    """The rows of index table `table` that meet `where`, in chain order (block, log index)."""
    query = select(table).where(*where).order_by(table.c.block_number, table.c.log_index)
    return [dict(r._mapping) for r in conn.execute(query)]


def _readings(conn: Connection, member: str | None, lo: int, hi: int) -> list[dict[str, Any]]:
    """Readings of slots `lo`..`hi`, of `member` or (None) of everyone, one row a meter and slot."""
    t = event_table("MeterReadings", "ReadingAccepted")
    s = event_table("MeterReadings", "ReadingSpanAccepted")
    whose = (t.c.member == member,) if member is not None else ()
    spans_of = (s.c.member == member,) if member is not None else ()
    singles = index_rows(conn, t, *whose, t.c.slot >= lo, t.c.slot <= hi)
    from_spans = [
        {
            **{
                k: row[k]
                for k in ("tx_hash", "log_index", "block_number", "block_hash", "block_time")
            },
            "meter_id": row["meter_id"],
            "member": row["member"],
            "slot": r.slot,
            "import_wh": r.import_wh,
            "export_wh": r.export_wh,
            "sequence": r.sequence,
        }
        for row in index_rows(conn, s, *spans_of, s.c.first_slot <= hi)
        for r in ReadingSpan.from_words(
            bytes.fromhex(row["meter_id"][2:]),
            int(row["first_slot"]),
            int(row["first_sequence"]),
            [int(w) for w in row["readings"]],
        ).readings()
        if lo <= r.slot
    ]
    return list(heapq.merge(singles, from_spans, key=lambda r: (r["block_number"], r["log_index"])))


class History:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
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

    # -- what was settled, as events -------------------------------------------------------

    def _events(self, conn: Connection, contract: str, event: str, *where: Any) -> list[Event]:
        """Index rows as the audit's events (ABI argument names, struct arguments as lists)."""
        t = event_table(contract, event)
        spec = _SPECS[t.name]
        out = []
        for r in index_rows(conn, t, *where):
            args: dict[str, Any] = {}
            for c in spec.columns:
                value = r[c.name]
                if c.abi_type.endswith("]"):
                    value = ints(value)
                elif c.abi_type.startswith(("uint", "int")):
                    value = int(value)
                if len(c.path) == 1:
                    args[c.path[0]] = value
                else:
                    args.setdefault(c.path[0], []).append(value)
            out.append(
                Event(
                    contract, event, args, int(r["block_number"]), int(r["log_index"]), r["tx_hash"]
                )
            )
        return out

    def settled_chain(self, conn: Connection, lo: int, hi: int, member: str | None) -> SettledChain:
        """What was settled in slots [lo, hi] that a statement of `member` (None: the DSO)
        reads, from the index (`chain.settled.read_settled`)."""
        ev = self._events
        community = [e for name in _COMMUNITY_EVENTS for e in ev(conn, "Community", name)]
        accounts = read_settled(community).accounts
        ss = event_table("Settlement", "SlotSettled")
        placed = event_table("OrderBook", "OrderPlaced")
        cancelled = event_table("OrderBook", "OrderCancelled")
        mine = (lambda t, col: (t.c[col] == member,)) if member else (lambda t, col: ())
        events = community + ev(conn, "Settlement", "SlotSettled", ss.c.slot >= lo, ss.c.slot <= hi)
        events += ev(conn, "OrderBook", "OrderPlaced", placed.c.slot >= lo, placed.c.slot <= hi)
        events += ev(
            conn, "OrderBook", "OrderCancelled", cancelled.c.slot >= lo, cancelled.c.slot <= hi
        )
        # Each member's settlement against its meter: ImbalanceSettled, or SharingSettled in the
        # `sharing` mode; then the digests that date the items without a slot.
        for contract, name in (
            ("ImbalanceSettlement", "ImbalanceSettled"),
            ("SharingSettlement", "SharingSettled"),
        ):
            t = event_table(contract, name)
            events += ev(conn, contract, name, t.c.slot >= lo, t.c.slot <= hi, *mine(t, "member"))
        events += ev(conn, "ImbalanceSettlement", "SlotDigest")
        events += ev(conn, "SharingSettlement", "SharingSlotDigest")
        events += ev(conn, "Flexibility", "FlexRequested")
        for contract, name, col in _MEMBER_EVENTS:
            t = event_table(contract, name)
            events += ev(conn, contract, name, *mine(t, col))
        parties = {member} if member else set(accounts.all_dso)
        tr = event_table("EnergyToken", "Transfer")
        transfers = ev(
            conn, "EnergyToken", "Transfer", or_(tr.c["from"].in_(parties), tr.c.to.in_(parties))
        )
        hashes = {e.tx for e in transfers}
        market: set[str] = set()
        for t in event_tables():
            if hashes and t.name not in _PLAIN_TABLES:
                market |= {
                    h for (h,) in conn.execute(select(t.c.tx_hash).where(t.c.tx_hash.in_(hashes)))
                }
        events += [e for e in transfers if e.tx not in market]
        return read_settled(events)

    def statement(self, member: str, lo: int, hi: int, period_slots: int) -> Statement:
        """`member`'s statement of account for slots [lo, hi] (`market.statement`)."""
        check_range(lo, hi)

        def compute(conn: Connection) -> Statement:
            c = self.settled_chain(conn, lo, hi, member)
            return member_statement(member, c, period_slots, lo, hi)

        return self.cached(("statement", member, lo, hi), compute)

    def dso_statement(self, lo: int, hi: int, period_slots: int) -> Statement:
        """The DSO's statement of account for slots [lo, hi] (`market.statement`)."""
        check_range(lo, hi)

        def compute(conn: Connection) -> Statement:
            c = self.settled_chain(conn, lo, hi, None)
            return dso_statement(c, period_slots, lo, hi)

        return self.cached(("dso-statement", lo, hi), compute)

    def trades(self, member: str, lo: int, hi: int) -> list[tuple[int, OrderSettlement]]:
        """(slot, settlement) of `member`'s filled orders in settled slots [lo, hi], as the
        contract paid them (`market.statement.settled_trades`)."""
        check_range(lo, hi)

        def compute(conn: Connection) -> list[tuple[int, OrderSettlement]]:
            c = self.settled_chain(conn, lo, hi, member)
            return [
                (s.slot, x)
                for s in c.settled.slots
                for owner, x in settled_trades(s, c.tariff_at(s.slot))
                if owner == member
            ]

        return self.cached(("trades", member, lo, hi), compute)

    def direct_order_ids(self, member: str, lo: int, hi: int) -> set[int]:
        """The ids of `member`'s on-chain (direct) orders in slots [lo, hi]: every other order
        the settlements carried was a signed intent."""
        check_range(lo, hi)
        t = event_table("OrderBook", "OrderPlaced")
        query = select(t.c.id).where(t.c.owner == member, t.c.slot >= lo, t.c.slot <= hi)
        return self.cached(
            ("direct-orders", member, lo, hi),
            lambda conn: {int(i) for (i,) in conn.execute(query)},
        )

    def closed_periods(self) -> set[int]:
        """The periods whose close (profit share, service fee: PeriodClosed) is indexed."""
        t = event_table("ProfitSharing", "PeriodClosed")
        return self.cached(
            ("closed-periods",),
            lambda conn: {int(p) for (p,) in conn.execute(select(t.c.period))},
        )

    # -- a member --------------------------------------------------------------------------

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

    def readings(self, member: str | None, lo: int, hi: int) -> list[dict[str, Any]]:
        """The member's (None: every member's) readings of slots `lo`..`hi` in chain order, each
        as a ReadingAccepted row: those accepted one by one, and those of spans
        (ReadingSpanAccepted) one row a slot, carrying the span's block, transaction and log
        index."""
        check_range(lo, hi)  # the same cap as trades, bills and slots
        return self.cached(
            ("readings", member, lo, hi), lambda conn: _readings(conn, member, lo, hi)
        )

    # -- public ----------------------------------------------------------------------------

    def slots(self, lo: int, hi: int) -> list[dict[str, Any]]:
        check_range(lo, hi)
        t = event_table("Settlement", "SlotSettled")
        return self.cached(
            ("slots", lo, hi), lambda conn: index_rows(conn, t, t.c.slot >= lo, t.c.slot <= hi)
        )

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
