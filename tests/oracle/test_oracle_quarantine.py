"""Quarantined telegrams are filed under their meter, even when the telegram failed its CRC or
did not parse, so `gridshare oracle quarantine --meter ID` lists them. No chain needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dsmr_parser.parsers import TelegramParser  # type: ignore[import-untyped]

from market.calendar import Calendar
from oracle.meter.ingest import Ingest
from oracle.meter.signing import Domain, MeterSigner
from oracle.outbox import open_outbox, quarantined
from oracle.samples import Rejected
from oracle.slots import Limits
from oracle.sources import open_source
from oracle.sources.dsmr import DSMR_SPECS, meter_in_raw, telegram_item
from tests.oracle.frames import dsmr_v5

T0 = 1_763_629_200  # 2025-11-20 09:00:00 UTC


def _bad_crc(meter: str) -> str:
    return dsmr_v5(meter, T0, 1_000, 0).replace("000001.000", "000001.009")


def _unparsable(meter: str) -> str:
    """A telegram whose CRC is right but whose import register is garbled."""
    good = dsmr_v5(meter, T0, 1_000, 0)
    body = good[: good.index("!") + 1].replace("000001.000*kWh", "0000X1.000*kWh")
    return f"{body}{TelegramParser.crc16(body):04X}\r\n"


def test_the_meter_is_read_from_a_telegram_the_parser_refuses() -> None:
    parser = TelegramParser(DSMR_SPECS["v5"][0])
    crc = telegram_item(parser, _bad_crc("E0044"), None, 1).item
    assert isinstance(crc, Rejected) and crc.reason.startswith("bad CRC")
    assert crc.meter == "E0044"
    garbled = telegram_item(parser, _unparsable("E0045"), None, 2).item
    assert isinstance(garbled, Rejected) and garbled.meter == "E0045", garbled


def test_no_guess_when_the_identifier_is_missing_garbled_or_ambiguous() -> None:
    good = dsmr_v5("E0044", T0, 1_000, 0)
    ident = f"0-0:96.1.1({b'E0044'.hex().upper()})\r\n"
    assert meter_in_raw(good) == "E0044"
    assert meter_in_raw(good.replace(ident, "")) is None
    assert meter_in_raw(good.replace(ident, "0-0:96.1.1(45303\x0034)\r\n")) is None
    twice = good.replace(ident, ident + f"0-0:96.1.1({b'E0046'.hex().upper()})\r\n")
    assert meter_in_raw(twice) is None
    # An M-Bus device's identifier (gas meter on channel 1) is not this meter's.
    assert meter_in_raw(good.replace(ident, ident.replace("0-0:", "0-1:"))) is None


def test_quarantine_lists_refused_telegrams_under_their_meter(tmp_path: Path) -> None:
    path = tmp_path / "p1.txt"
    path.write_text(
        dsmr_v5("E0044", T0, 1_000, 0) + _bad_crc("E0044") + _unparsable("E0044") + _bad_crc("E7"),
        newline="",
    )
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    ingest = Ingest(
        open_outbox(url),
        # Another meter's signer: E0044's good telegram is quarantined too (an unknown meter).
        MeterSigner("E0001", "0x" + "01" * 32, Domain(1337, "0x" + "00" * 20)),
        Calendar(T0, 1800, 300),
        Limits(rating_w=50_000, max_future_seconds=600),
        lambda: T0,
    )
    stats = ingest.run(f"dsmr-file:{path}", open_source(f"dsmr-file:{path}"))
    assert stats.quarantined == 4
    with open_outbox(url).connect() as conn:
        assert [e.position for e in quarantined(conn, meter="E0044")] == [1, 2, 3]

    env = {
        **os.environ,
        "GRIDSHARE_CONFIG": "/nonexistent/gridshare.toml",
        "GRIDSHARE_ORACLE_DB_URL": url,
    }
    command = [sys.executable, "-c", "from gridshare.cli import app; app()"]
    result = subprocess.run(
        [*command, "oracle", "quarantine", "--meter", "E0044", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["meter"], e["position"]) for e in entries] == [
        ("E0044", 1),
        ("E0044", 2),
        ("E0044", 3),
    ]
    reasons = [e["reason"] for e in entries]
    assert reasons[0].startswith("unknown meter")
    assert reasons[1].startswith("bad CRC")
    assert reasons[2].startswith(("unparsable telegram", "telegram lacks a register"))
