"""CSV meter exports: `timestamp,meter_id,import_wh_total,export_wh_total` (cumulative
registers in whole Wh; time as ISO-8601 with zone or unix seconds). A header line is optional."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from oracle.samples import Rejected, Sample, SourceItem
from oracle.sources.timestamps import parse_timestamp

HEADER = ["timestamp", "meter_id", "import_wh_total", "export_wh_total"]


def row_item(row: list[str], position: int) -> SourceItem:
    raw = ",".join(row)
    if len(row) != 4:
        return SourceItem(position, Rejected(f"expected 4 fields, got {len(row)}", raw))
    stamp, meter, imp, exp = (field.strip() for field in row)
    try:
        timestamp = parse_timestamp(stamp)
    except ValueError as exc:
        return SourceItem(position, Rejected(f"bad time: {exc}", raw, meter or None))
    if not (imp.isdigit() and exp.isdigit()):
        return SourceItem(
            position, Rejected("registers must be whole non-negative Wh", raw, meter, timestamp)
        )
    return SourceItem(position, Sample(meter, timestamp, int(imp), int(exp)))


def read_csv(path: Path) -> Iterator[SourceItem]:
    """Rows of the file; positions are line numbers."""
    with path.open(newline="", encoding="utf-8") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or (number == 1 and [c.strip() for c in row] == HEADER):
                continue
            yield row_item(row, number)
