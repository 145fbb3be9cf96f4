"""Building test inputs in the meters' own formats: DSMR 5 telegrams with their CRC, and SML
frames of the captured Holley meter with its import register rewritten (transport CRC redone)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dsmr_parser.parsers import TelegramParser  # type: ignore[import-untyped]
from smllib.crc import x25

DATA = Path(__file__).parent / "data"


def dsmr_v5(meter: str, timestamp: int, import_wh: int, export_wh: int) -> str:
    """A DSMR 5.0 telegram (winter time stamp, tariff 1 only) with a valid CRC."""
    local = datetime.fromtimestamp(timestamp + 3600, UTC)  # CET, 'W'
    body = (
        "/ISk5\\2MT382-1000\r\n\r\n1-3:0.2.8(50)\r\n"
        f"0-0:1.0.0({local:%y%m%d%H%M%S}W)\r\n"
        f"0-0:96.1.1({meter.encode().hex().upper()})\r\n"
        f"1-0:1.8.1({import_wh // 1000:06d}.{import_wh % 1000:03d}*kWh)\r\n"
        "1-0:1.8.2(000000.000*kWh)\r\n"
        f"1-0:2.8.1({export_wh // 1000:06d}.{export_wh % 1000:03d}*kWh)\r\n"
        "1-0:2.8.2(000000.000*kWh)\r\n0-0:96.14.0(0001)\r\n1-0:1.7.0(00.244*kW)\r\n"
        "1-0:2.7.0(00.000*kW)\r\n!"
    )
    return f"{body}{TelegramParser.crc16(body):04X}\r\n"


def holley_frame(import_tenth_wh: int) -> str:
    """The captured Holley SML frame with 1-0:1.8.0 set to `import_tenth_wh` (scaler -1)."""
    stamp, frame = (DATA / "sml-frames.txt").read_text().splitlines()[3].split(" ")
    del stamp
    raw = bytearray(bytes.fromhex(frame))
    at = raw.find(bytes.fromhex("6502aea132"))
    raw[at + 1 : at + 5] = import_tenth_wh.to_bytes(4, "big")
    crc = x25.get_crc(bytes(raw[:-2]))
    raw[-2:] = crc.to_bytes(2, "big")
    return raw.hex()
