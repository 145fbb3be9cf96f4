"""The oracle's durable state (SQLAlchemy: SQLite by default, PostgreSQL by URL).

- `readings`: every signed reading, stored before it is sent. States: pending → sent (with the
  hash of the transaction carrying it, recorded before that transaction is broadcast) → done
  (once the chain has included it); or quarantined if the chain refuses it for good.
- `spans`: a meter's readings of consecutive slots signed once (a span, e.g. a day), with the
  same states as a reading; `open_readings`: the slots a meter has measured whose span is not
  complete yet (not signed), kept so that a restart loses none of them.
- `tracks`: each meter's last accepted sample and last slot-boundary registers (oracle.slots).
- `cursors`: how far each replayable source has been read.
- `quarantine`: every input that must not reach the chain, with the reason.

A batch of source items is taken in one database transaction: its readings, tracks, quarantine
entries and the source's cursor commit together or not at all, so a crash at any point neither
loses an item nor takes one twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)

from market.records import record_of
from oracle.samples import Sample
from oracle.slots import MeterTrack, SlotEnergy
from storage.engine import create_tables, open_engine

PENDING, SENT, DONE, QUARANTINED = "pending", "sent", "done", "quarantined"


def _delivery_columns() -> list[Column[Any]]:
    """The columns a signed reading and a signed span share on their way to the chain: the
    signature, the state, the transaction and block that carried it, and when it was queued.
    New objects per call, as SQLAlchemy ties a column to one table."""
    return [
        Column("signature", String(132), nullable=False),
        Column("state", String(12), nullable=False, index=True),
        Column("tx_hash", String(66)),
        Column("block_number", BigInteger),
        Column("created_at", BigInteger, nullable=False),
    ]


def _slot_energy_columns() -> list[Column[Any]]:
    """The columns a signed reading and an open (not yet signed) one share: the meter and slot
    that key it and its import and export in Wh. New objects per call, as above."""
    return [
        Column("meter", String(32), primary_key=True),
        Column("slot", BigInteger, primary_key=True, autoincrement=False),
        Column("import_wh", BigInteger, nullable=False),
        Column("export_wh", BigInteger, nullable=False),
    ]


metadata = MetaData()
readings = Table(
    "readings",
    metadata,
    *_slot_energy_columns(),
    Column("sequence", BigInteger, nullable=False),
    *_delivery_columns(),
)
tracks = Table(
    "tracks",
    metadata,
    Column("meter", String(32), primary_key=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("import_wh", BigInteger, nullable=False),
    Column("export_wh", BigInteger, nullable=False),
    Column("boundary", BigInteger),
    Column("boundary_import_wh", BigInteger, nullable=False),
    Column("boundary_export_wh", BigInteger, nullable=False),
)
spans = Table(
    "spans",
    metadata,
    Column("meter", String(32), primary_key=True),
    Column("first_slot", BigInteger, primary_key=True, autoincrement=False),
    Column("first_sequence", BigInteger, nullable=False),
    Column("slots", Integer, nullable=False),
    Column("energy", Text, nullable=False),  # "import:export,..." Wh, one pair per slot
    *_delivery_columns(),
)
open_readings = Table(
    "open_readings",
    metadata,
    *_slot_energy_columns(),
)
cursors = Table(
    "cursors",
    metadata,
    Column("source", String(512), primary_key=True),
    Column("position", BigInteger, nullable=False),
)
quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", BigInteger, nullable=False),
    Column("source", String(512), nullable=False),
    Column("position", BigInteger),
    Column("meter", String(64)),
    Column("timestamp", BigInteger),
    Column("slot", BigInteger),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
)


@dataclass(frozen=True, slots=True)
class StoredReading:
    meter: str
    slot: int
    import_wh: int
    export_wh: int
    sequence: int
    signature: str
    state: str
    tx_hash: str | None


@dataclass(frozen=True, slots=True)
class StoredSpan:
    meter: str
    first_slot: int
    first_sequence: int
    energy: tuple[tuple[int, int], ...]
    """(import Wh, export Wh) of slot `first_slot + k`."""
    signature: str
    state: str
    tx_hash: str | None

    @property
    def last_slot(self) -> int:
        return self.first_slot + len(self.energy) - 1


def encode_energy(energy: Sequence[tuple[int, int]]) -> str:
    """A span's energies as the `spans.energy` column stores them."""
    return ",".join(f"{i}:{e}" for i, e in energy)


def decode_energy(text: str) -> tuple[tuple[int, int], ...]:
    pairs = (pair.split(":") for pair in text.split(","))
    return tuple((int(i), int(e)) for i, e in pairs)


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    id: int
    created_at: int
    source: str
    position: int | None
    meter: str | None
    timestamp: int | None
    slot: int | None
    reason: str
    raw: str


def open_outbox(url: str) -> Engine:
    """The outbox database at `url`, with its tables created if missing."""
    engine = open_engine(url, durable=True)
    create_tables(metadata, engine)
    return engine


def load_tracks(conn: Connection) -> dict[str, MeterTrack]:
    out = {}
    for row in conn.execute(select(tracks)):
        last = Sample(row.meter, row.timestamp, row.import_wh, row.export_wh)
        out[row.meter] = MeterTrack(
            last, row.boundary, row.boundary_import_wh, row.boundary_export_wh
        )
    return out


def save_track(conn: Connection, track: MeterTrack, new: bool) -> None:
    values = {
        "timestamp": track.last.timestamp,
        "import_wh": track.last.import_wh,
        "export_wh": track.last.export_wh,
        "boundary": track.boundary,
        "boundary_import_wh": track.boundary_import_wh,
        "boundary_export_wh": track.boundary_export_wh,
    }
    if new:
        conn.execute(insert(tracks).values(meter=track.last.meter, **values))
    else:
        conn.execute(update(tracks).where(tracks.c.meter == track.last.meter).values(**values))


def cursor_of(conn: Connection, source: str) -> int:
    position = conn.execute(select(cursors.c.position).where(cursors.c.source == source)).scalar()
    return int(position) if position is not None else 0


def save_cursor(conn: Connection, source: str, position: int, new: bool) -> None:
    if new:
        conn.execute(insert(cursors).values(source=source, position=position))
    else:
        conn.execute(update(cursors).where(cursors.c.source == source).values(position=position))


def add_readings(conn: Connection, rows: Sequence[dict[str, object]]) -> None:
    """Signed readings (oracle.meter.signing.sign_reading), pending for the relay."""
    _add_pending(conn, readings, rows)


def add_spans(conn: Connection, rows: Sequence[dict[str, object]]) -> None:
    """Signed spans (oracle.meter.signing.sign_span), pending for the relay."""
    _add_pending(conn, spans, rows)


def _add_pending(conn: Connection, table: Table, rows: Sequence[dict[str, object]]) -> None:
    if rows:
        now = int(time.time())
        conn.execute(insert(table), [{**r, "state": PENDING, "created_at": now} for r in rows])


def open_readings_of(conn: Connection, meter: str) -> list[SlotEnergy]:
    """`meter`'s measured slots that wait for their span to complete, in slot order."""
    q = select(open_readings).where(open_readings.c.meter == meter).order_by(open_readings.c.slot)
    return [SlotEnergy(r.meter, r.slot, r.import_wh, r.export_wh) for r in conn.execute(q)]


def replace_open_readings(conn: Connection, meter: str, energies: Sequence[SlotEnergy]) -> None:
    """`meter`'s open slots are now `energies` (the others were signed into a span)."""
    conn.execute(delete(open_readings).where(open_readings.c.meter == meter))
    if energies:
        conn.execute(
            insert(open_readings),
            [
                {
                    "meter": e.meter,
                    "slot": e.slot,
                    "import_wh": e.import_wh,
                    "export_wh": e.export_wh,
                }
                for e in energies
            ],
        )


def add_quarantine(conn: Connection, rows: Sequence[dict[str, object]]) -> None:
    if rows:
        now = int(time.time())
        conn.execute(insert(quarantine), [{**r, "created_at": now} for r in rows])


def in_state(
    conn: Connection, state: str, *, last_slot: int | None = None, limit: int | None = None
) -> list[StoredReading]:
    """Readings in `state`, oldest slot first (a meter's readings must reach the chain in slot
    order), up to `last_slot` and `limit`."""
    last = None if last_slot is None else readings.c.slot <= last_slot
    rows = _in_state(conn, readings, readings.c.slot, state, last, limit)
    return [record_of(StoredReading, row._mapping.__getitem__) for row in rows]


def set_state(
    conn: Connection,
    table: Table,
    keys: Iterable[tuple[str, int]],
    state: str,
    *,
    tx_hash: str | None = None,
    block_number: int | None = None,
) -> None:
    """Rows of `readings` keyed (meter, slot), or of `spans` keyed (meter, first slot) (`table`'s
    primary key), to `state`, with the transaction that carried them (if any)."""
    keys = list(keys)
    if not keys:
        return
    conn.execute(
        update(table)
        .where(tuple_(*table.primary_key.columns).in_(keys))
        .values(state=state, tx_hash=tx_hash, block_number=block_number)
    )


def spans_in_state(
    conn: Connection, state: str, *, last_slot: int | None = None, limit: int | None = None
) -> list[StoredSpan]:
    """Spans in `state`, oldest first slot first, whose last slot is at most `last_slot`, up
    to `limit`."""
    last = None if last_slot is None else spans.c.first_slot + spans.c.slots - 1 <= last_slot
    rows = _in_state(conn, spans, spans.c.first_slot, state, last, limit)
    return [
        record_of(StoredSpan, row._mapping.__getitem__, energy=decode_energy(row.energy))
        for row in rows
    ]


def _in_state(
    conn: Connection,
    table: Table,
    slot_column: Column[Any],
    state: str,
    last: ColumnElement[bool] | None,
    limit: int | None,
) -> Sequence[Row[Any]]:
    """Rows of `table` in `state` (and meeting `last`, if given), oldest slot first, then by
    meter, up to `limit`."""
    q = select(table).where(table.c.state == state)
    if last is not None:
        q = q.where(last)
    q = q.order_by(slot_column, table.c.meter)
    if limit is not None:
        q = q.limit(limit)
    return conn.execute(q).all()


def counts(conn: Connection) -> dict[str, int]:
    """Readings per state (those signed in spans included), the spans per state
    (`spans_<state>`), the readings waiting for their span (`open`), and the quarantine's size."""
    out = {s: 0 for s in (PENDING, SENT, DONE, QUARANTINED)}
    for state, n in conn.execute(select(readings.c.state, func.count()).group_by(readings.c.state)):
        out[str(state)] = int(n)
    span_counts = select(spans.c.state, func.count(), func.sum(spans.c.slots)).group_by(
        spans.c.state
    )
    for state in (PENDING, SENT, DONE, QUARANTINED):
        out[f"spans_{state}"] = 0
    for state, n, slots in conn.execute(span_counts):
        out[str(state)] += int(slots)
        out[f"spans_{state}"] = int(n)
    out["open"] = int(conn.execute(select(func.count()).select_from(open_readings)).scalar() or 0)
    out["quarantine"] = int(
        conn.execute(select(func.count()).select_from(quarantine)).scalar() or 0
    )
    return out


def quarantined(
    conn: Connection, *, meter: str | None = None, limit: int = 1000
) -> list[QuarantineEntry]:
    q = select(quarantine)
    if meter is not None:
        q = q.where(quarantine.c.meter == meter)
    q = q.order_by(quarantine.c.id).limit(limit)
    return [QuarantineEntry(**row._mapping) for row in conn.execute(q)]


def reading_exists(conn: Connection, meter: str, slot: int) -> bool:
    q = select(func.count()).where(and_(readings.c.meter == meter, readings.c.slot == slot))
    return bool(conn.execute(q).scalar())
