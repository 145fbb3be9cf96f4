"""The allocation export of a `sharing` deployment, read from the event index (`gridshare export
allocation`): one row per metering point and slot with the energy-sharing figures of its
`SharingSettled` event, named as in Austria's energy-community data (docs/decisions.md,
"Allocation export").

Per row, by the member's direction in the slot (it consumes or produces, never both):

* consumer (`import > export`): G.01 = c = import − export, G.01T = C (participating
  consumption), G.02 = the key's allotment, G.03 = a (allocated); P.01 = 0.
* producer (`export > import`): G.01 = g = export − import, G.01T = G (participating
  production), P.01 = g − r (the surplus sold to the grid, r = credited); G.02 = G.03 = 0.
* none (`import = export`): every figure 0.

Money is the token's base unit, n€ (exact, as on-chain); `bau_cost_neur` is signed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, RowMapping, func, inspect, select

from indexer.migrate import current_revision, head_revision
from indexer.schema import checkpoint, event_table
from market.calendar import Calendar

COLUMNS = (
    "slot_start",
    "slot",
    "metering_point",
    "member",
    "direction",
    "G.01",
    "G.01T",
    "G.02",
    "G.03",
    "P.01",
    "credited_wh",
    "charged_neur",
    "paid_neur",
    "collected_neur",
    "bau_cost_neur",
)


class AllocationIndexError(Exception):
    """The database is not an up-to-date index of a `sharing` deployment."""


@dataclass(frozen=True, slots=True)
class IndexInfo:
    network: str
    chain_id: int


def index_info(engine: Engine, url: str) -> IndexInfo:
    """The deployment the database indexes, once it is known to be a current index of a
    `sharing` deployment."""
    if "checkpoint" not in inspect(engine).get_table_names():
        raise AllocationIndexError(f"{url} holds no event index: run `gridshare index run` first")
    if current_revision(engine) != head_revision():
        raise AllocationIndexError(
            f"{url} is at schema {current_revision(engine)}, not {head_revision()}: "
            "run `gridshare index run` to upgrade it"
        )
    with engine.connect() as connection:
        row = connection.execute(select(checkpoint)).mappings().first()
    if row is None:
        raise AllocationIndexError(f"{url} holds no event index: run `gridshare index run` first")
    if "SharingSettlement" not in dict(row["contracts"]):
        raise AllocationIndexError(
            f"{url} indexes network {row['network']}, a deployment without SharingSettlement "
            "(not the `sharing` mode): nothing to export"
        )
    return IndexInfo(str(row["network"]), int(row["chain_id"]))


def settled_through(engine: Engine) -> int | None:
    """The last slot every chunk of the index has a `SharingSlotDigest` of (None: none yet)."""
    digest = event_table("SharingSettlement", "SharingSlotDigest")
    per_chunk = select(func.max(digest.c.slot).label("last")).group_by(digest.c.chunk).subquery()
    with engine.connect() as connection:
        last = connection.execute(select(func.min(per_chunk.c.last))).scalar_one()
    return None if last is None else int(last)


def metering_point(meter_id: str) -> str:
    """A bytes32 meter id as it was registered: its text when it is printable ASCII padded with
    zero bytes (`sharing-meter-0`), else its 0x-hex."""
    raw = bytes.fromhex(meter_id.removeprefix("0x")).rstrip(b"\0")
    if raw and all(0x21 <= b <= 0x7E for b in raw):
        return raw.decode("ascii")
    return meter_id


def _meters(connection: Connection) -> dict[str, list[tuple[tuple[int, int], str, bool]]]:
    """Per member, its meters' registrations and retirements in chain order: ((block, log
    index), meter id, registered)."""
    out: dict[str, list[tuple[tuple[int, int], str, bool]]] = {}
    for event, registered in (("MeterRegistered", True), ("MeterRetired", False)):
        t = event_table("Community", event)
        for r in connection.execute(
            select(t.c.block_number, t.c.log_index, t.c.meter_id, t.c.member)
        ):
            out.setdefault(r.member, []).append(
                ((int(r.block_number), int(r.log_index)), str(r.meter_id), registered)
            )
    for changes in out.values():
        changes.sort()
    return out


def _meters_at(changes: list[tuple[tuple[int, int], str, bool]], at: tuple[int, int]) -> str:
    """The member's meters registered and not retired before chain position `at`, space
    separated (a member with several meters is settled on their sum)."""
    active: list[str] = []
    for position, meter, registered in changes:
        if position >= at:
            break
        if registered:
            active.append(meter)
        elif meter in active:
            active.remove(meter)
    return " ".join(sorted(metering_point(m) for m in active))


def allocation_rows(engine: Engine, calendar: Calendar, slots: range) -> Iterator[dict[str, Any]]:
    """The export's rows (keys `COLUMNS`) of the slots in `slots`, by slot, then member."""
    t = event_table("SharingSettlement", "SharingSettled")
    with engine.connect() as connection:
        meters = _meters(connection)
        result = connection.execution_options(yield_per=1000).execute(
            select(t)
            .where(t.c.slot >= slots.start, t.c.slot < slots.stop)
            .order_by(t.c.slot, t.c.member)
        )
        for r in result.mappings():
            yield _row(
                r,
                calendar,
                _meters_at(
                    meters.get(r["member"], []), (int(r["block_number"]), int(r["log_index"]))
                ),
            )


def _row(r: RowMapping, calendar: Calendar, meters: str) -> dict[str, Any]:
    imp, exp, slot = int(r["import_wh"]), int(r["export_wh"]), int(r["slot"])
    credited = int(r["credited_wh"])
    consumer, producer = imp > exp, exp > imp
    direction = "consumer" if consumer else "producer" if producer else "none"
    start = datetime.fromtimestamp(calendar.slot_start(slot), UTC)
    return {
        "slot_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "slot": slot,
        "metering_point": meters,
        "member": r["member"],
        "direction": direction,
        "G.01": abs(imp - exp),
        "G.01T": int(
            r["participating_consumption_wh"] if consumer else r["participating_production_wh"]
        ),
        "G.02": int(r["allotment_wh"]),
        "G.03": int(r["allocated_wh"]),
        "P.01": exp - imp - credited if producer else 0,
        "credited_wh": credited,
        "charged_neur": int(r["charged"]),
        "paid_neur": int(r["paid"]),
        "collected_neur": int(r["collected"]),
        "bau_cost_neur": int(r["bau_cost"]),
    }


def write_csv(rows: Iterator[Mapping[str, Any]], out: TextIO) -> int:
    """`rows` as CSV with a header line (`,`-separated, `\\n` line ends); returns the count."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def write_json(rows: Iterator[Mapping[str, Any]], out: TextIO) -> int:
    """`rows` as one JSON array of objects (integers as JSON integers), written row by row."""
    count = 0
    out.write("[")
    for row in rows:
        out.write(",\n " if count else "\n ")
        out.write(json.dumps(row))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count
