"""DSMR P1 telegrams (Dutch and Belgian smart meters), parsed and CRC-checked by `dsmr-parser`.

Registers: import = 1-0:1.8.1 + 1-0:1.8.2 (tariffs 1 and 2), export = 1-0:2.8.1 + 1-0:2.8.2.
Time: the telegram's own 0-0:1.0.0 (DSMR 4 and 5, Fluvius); DSMR 2.2 and 3 carry none, so a live
source stamps them with the receive time and a file of them cannot be used (each is rejected).
Meter: 0-0:96.1.1, the equipment identifier, hex-decoded to its ASCII serial number.
A telegram with a bad CRC or that does not parse is rejected with the library's reason, under
its meter when the identifier line can still be read from the raw text (`meter_in_raw`), so
`gridshare oracle quarantine --meter ID` lists it.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import serialx
from dsmr_parser import telegram_specifications  # type: ignore[import-untyped]
from dsmr_parser.clients.settings import (  # type: ignore[import-untyped]
    SERIAL_SETTINGS_V2_2,
    SERIAL_SETTINGS_V4,
    SERIAL_SETTINGS_V5,
)
from dsmr_parser.clients.telegram_buffer import TelegramBuffer  # type: ignore[import-untyped]
from dsmr_parser.exceptions import InvalidChecksumError, ParseError  # type: ignore[import-untyped]
from dsmr_parser.parsers import TelegramParser  # type: ignore[import-untyped]

from oracle.samples import Rejected, Sample, SourceItem

log = logging.getLogger(__name__)

DSMR_SPECS: dict[str, tuple[Any, dict[str, Any]]] = {
    "v2.2": (telegram_specifications.V2_2, SERIAL_SETTINGS_V2_2),
    "v3": (telegram_specifications.V3, SERIAL_SETTINGS_V2_2),
    "v4": (telegram_specifications.V4, SERIAL_SETTINGS_V4),
    "v5": (telegram_specifications.V5, SERIAL_SETTINGS_V5),
    "fluvius": (telegram_specifications.BELGIUM_FLUVIUS, SERIAL_SETTINGS_V5),
}
_REGISTERS = {
    "import": ("ELECTRICITY_USED_TARIFF_1", "ELECTRICITY_USED_TARIFF_2"),
    "export": ("ELECTRICITY_DELIVERED_TARIFF_1", "ELECTRICITY_DELIVERED_TARIFF_2"),
}
_WH_PER_UNIT = {"kWh": 1000, "Wh": 1}
# Where each version names the meter's equipment identifier (0-0:96.1.1).
_IDENTIFIER = ("EQUIPMENT_IDENTIFIER", "BELGIUM_EQUIPMENT_IDENTIFIER")
# The same line read without the parser, for telegrams it refuses (bad CRC, a garbled line
# elsewhere). Channel 0 only: 0-1:96.1.x are M-Bus devices (gas, water), not this meter, and
# Fluvius' 0-0:96.1.4 is a version number, not an identifier.
_IDENTIFIER_LINE = re.compile(r"^0-0:96\.1\.1\(([0-9A-Za-z]{1,96})\)[ \t]*\r?$", re.MULTILINE)


def _wh(obj: Any) -> int:
    """A register object's value in Wh; only exact Wh are accepted (kWh have 3 decimals)."""
    scale = _WH_PER_UNIT.get(obj.unit)
    if scale is None:
        raise ValueError(f"register unit {obj.unit!r} is not kWh or Wh")
    wh = Decimal(obj.value) * scale
    if wh != wh.to_integral_value():
        raise ValueError(f"register value {obj.value} {obj.unit} is not a whole Wh")
    return int(wh)


def _meter(equipment_id: str) -> str:
    try:
        text = bytes.fromhex(equipment_id).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return equipment_id
    return text if text.isprintable() and text else equipment_id


def meter_in_raw(raw: str) -> str | None:
    """The meter named by a telegram's own equipment identifier line, read tolerantly from the
    raw text; None when there is no single well-formed one (a guess must not file a telegram
    under the wrong meter)."""
    found = set(_IDENTIFIER_LINE.findall(raw))
    if len(found) != 1:
        return None
    meter = _meter(found.pop())
    return meter if len(meter) <= 64 else None  # the quarantine's meter column


def telegram_item(
    parser: TelegramParser, raw: str, received_at: int | None, position: int | None
) -> SourceItem:
    """Parse one framed telegram into a sample, or a rejection saying why not."""
    try:
        telegram = parser.parse(raw, throw_ex=True)
    except InvalidChecksumError as exc:
        return SourceItem(position, Rejected(f"bad CRC: {exc}", raw, meter_in_raw(raw)))
    except (ParseError, ValueError, ArithmeticError) as exc:
        # ArithmeticError: dsmr-parser lets decimal.InvalidOperation out of a garbled value
        # (e.g. "0000X1.000*kWh"), which would otherwise stop the oracle.
        return SourceItem(position, Rejected(f"unparsable telegram: {exc}", raw, meter_in_raw(raw)))
    try:
        ident = next(getattr(telegram, n) for n in _IDENTIFIER if hasattr(telegram, n))
        meter = _meter(str(ident.value))
        regs = {
            name: sum(_wh(getattr(telegram, field)) for field in fields)
            for name, fields in _REGISTERS.items()
        }
    except (AttributeError, KeyError, ValueError, StopIteration) as exc:
        return SourceItem(
            position,
            Rejected(f"telegram lacks a register or the meter id: {exc!r}", raw, meter_in_raw(raw)),
        )
    stamp = getattr(telegram, "P1_MESSAGE_TIMESTAMP", None)
    if stamp is not None:
        timestamp = int(stamp.value.timestamp())
    elif received_at is not None:
        timestamp = received_at
    else:
        return SourceItem(position, Rejected("telegram carries no timestamp", raw, meter))
    return SourceItem(position, Sample(meter, timestamp, regs["import"], regs["export"]))


def _telegrams(
    chunks: Iterable[str], version: str, clock: Callable[[], int] | None, positioned: bool
) -> Iterator[SourceItem]:
    parser = TelegramParser(DSMR_SPECS[version][0])
    buffer = TelegramBuffer()
    count = 0
    for chunk in chunks:
        buffer.append(chunk)
        for raw in buffer.get_all():
            count += 1
            received = clock() if clock is not None else None
            yield telegram_item(parser, raw, received, count if positioned else None)


def read_dsmr_file(
    path: Path, version: str, clock: Callable[[], int] | None
) -> Iterator[SourceItem]:
    """Telegrams of a file; positions are telegram ordinals (1, 2, ...). A file is history:
    its telegrams need their own timestamps, so `clock` is not used."""
    del clock

    def lines() -> Iterator[str]:
        with path.open("r", encoding="ascii", errors="replace", newline="") as f:
            yield from f

    return _telegrams(lines(), version, None, positioned=True)


def _default_clock() -> int:
    return int(time.time())


def read_dsmr_serial(
    device: str, version: str, clock: Callable[[], int] | None
) -> Iterator[SourceItem]:
    """Telegrams from a P1 serial port, with the version's serial settings; reopened with a
    pause when the port fails (a cable pulled, a USB reset)."""

    def chunks() -> Iterator[str]:
        settings = {**DSMR_SPECS[version][1], "url": device}
        while True:
            try:
                with serialx.serial_for_url(**settings) as port:
                    while True:
                        data = port.read(max(1, min(1024, port.num_unread_bytes())))
                        if data:
                            yield data.decode("ascii", errors="replace")
            except OSError as exc:
                log.error("serial port %s failed, reopening in 5 s: %s", device, exc)
                time.sleep(5)

    return _telegrams(chunks(), version, clock or _default_clock, positioned=False)


def read_dsmr_tcp(
    host: str, port: int, version: str, clock: Callable[[], int] | None
) -> Iterator[SourceItem]:
    """Telegrams from a P1-to-network dongle; reconnects with backoff when the link drops."""

    def chunks() -> Iterator[str]:
        pause = 1.0
        while True:
            try:
                with socket.create_connection((host, port), timeout=60) as conn:
                    pause = 1.0
                    while data := conn.recv(4096):
                        yield data.decode("ascii", errors="replace")
                log.warning("P1 dongle %s:%d closed the connection; reconnecting", host, port)
            except OSError as exc:
                log.error("P1 dongle %s:%d: %s; reconnecting in %.0f s", host, port, exc, pause)
                time.sleep(pause)
                pause = min(pause * 2, 60.0)

    return _telegrams(chunks(), version, clock or _default_clock, positioned=False)
