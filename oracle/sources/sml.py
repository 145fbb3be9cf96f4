"""SML (German smart meters: EDL21, eHZ and similar), decoded and CRC-checked by `smllib`.

SML meters send no wall-clock time, so a capture file stamps each frame with its receive time:
one frame per line, "<ISO-8601 time or unix seconds> <frame as hex>". Registers: 1-0:1.8.0
(import) and 1-0:2.8.0 (export) in Wh with the frame's scaler, rounded down to whole Wh. Meter:
the server id of the GetList response (1-0:0.0.9), as hex.
"""

from __future__ import annotations

from binascii import Error as HexError
from binascii import a2b_hex
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from smllib.errors import SmlLibException
from smllib.reader import SmlStreamReader

from oracle.samples import Rejected, Sample, SourceItem
from oracle.sources.timestamps import parse_timestamp

IMPORT_OBIS = "0100010800ff"
EXPORT_OBIS = "0100020800ff"
WH_UNIT = 30  # DLMS unit code of Wh


def frame_item(stamp: str, frame_hex: str, position: int | None) -> SourceItem:
    raw = f"{stamp} {frame_hex}"
    try:
        timestamp = parse_timestamp(stamp)
    except ValueError as exc:
        return SourceItem(position, Rejected(f"bad time: {exc}", raw))
    reader = SmlStreamReader()
    try:
        reader.add(a2b_hex(frame_hex))
        frame = reader.get_frame()
        if frame is None:
            return SourceItem(position, Rejected("incomplete SML frame", raw))
        registers: dict[str, int] = {}
        meter = None
        for message in frame.parse_frame():
            server = getattr(message.message_body, "server_id", None)
            if server is not None and meter is None:
                meter = str(server)
        for entry in frame.get_obis():
            if entry.obis in (IMPORT_OBIS, EXPORT_OBIS):
                if entry.unit != WH_UNIT:
                    return SourceItem(position, Rejected(f"{entry.obis} unit {entry.unit}", raw))
                wh = Decimal(int(str(entry.value))).scaleb(entry.scaler or 0)
                registers[entry.obis] = int(wh.to_integral_value(rounding="ROUND_FLOOR"))
    except (SmlLibException, HexError, ValueError) as exc:
        return SourceItem(position, Rejected(f"bad SML frame: {type(exc).__name__} {exc}", raw))
    if meter is None or IMPORT_OBIS not in registers:
        return SourceItem(position, Rejected("SML frame lacks a server id or 1.8.0", raw, meter))
    return SourceItem(
        position,
        Sample(meter, timestamp, registers[IMPORT_OBIS], registers.get(EXPORT_OBIS, 0)),
    )


def read_sml_file(path: Path) -> Iterator[SourceItem]:
    """Frames of a capture file; positions are line numbers (blank and # lines skipped)."""
    with path.open("r", encoding="ascii", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            stamp, _, frame_hex = text.partition(" ")
            yield frame_item(stamp, frame_hex.strip(), number)
