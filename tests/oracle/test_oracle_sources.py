"""Meter sources on real formats: DSMR telegrams (file, TCP, serial), SML frames, CSV."""

from __future__ import annotations

import os
import socket
import threading
from itertools import islice
from pathlib import Path

import pytest
from dsmr_parser.parsers import TelegramParser  # type: ignore[import-untyped]

from oracle.samples import Rejected, Sample
from oracle.sources import SourceSpecError, open_source
from oracle.sources.dsmr import DSMR_SPECS, telegram_item
from oracle.sources.sim import SimMeterSpec, slot_energy
from tests.oracle.frames import DATA, dsmr_v5, holley_frame

T0 = 1_763_629_200  # 2025-11-20 09:00:00 UTC


def _items(spec: str, **kw: str) -> list[Sample | Rejected]:
    return [it.item for it in open_source(spec, **kw)]  # type: ignore[arg-type]


def test_real_dsmr_v4_2_and_v5_telegrams() -> None:
    (kaifa,) = _items(f"dsmr-file:{DATA / 'dsmr-v4.2-kaifa.txt'}", dsmr_version="v4")
    assert isinstance(kaifa, Sample)
    # 1581.123 + 1435.706 kWh imported; 2016-11-13 20:57:57 CET.
    assert (kaifa.import_wh, kaifa.export_wh) == (3_016_829, 0)
    assert kaifa.timestamp == 1_479_067_077
    (iskra,) = _items(f"dsmr-file:{DATA / 'dsmr-v5-iskra.txt'}", dsmr_version="v5")
    assert iskra == Sample("K8EG004046395507", 1_483_381_202, 6_825, 2_444)


def test_belgian_fluvius_and_dsmr_3_telegrams(tmp_path: Path) -> None:
    body = (
        "/FLU5\\253769484_A\r\n\r\n0-0:96.1.4(50217)\r\n"
        "0-0:96.1.1(3153414733313031303231363035)\r\n0-0:1.0.0(200512135409S)\r\n"
        "1-0:1.8.1(000000.034*kWh)\r\n1-0:1.8.2(000015.758*kWh)\r\n1-0:2.8.1(000000.000*kWh)\r\n"
        "1-0:2.8.2(000000.011*kWh)\r\n1-0:1.4.0(02.351*kW)\r\n0-0:96.14.0(0001)\r\n!"
    )
    path = tmp_path / "fluvius.txt"
    path.write_text(f"{body}{TelegramParser.crc16(body):04X}\r\n", newline="")
    (flu,) = _items(f"dsmr-file:{path}", dsmr_version="fluvius")
    # 2020-05-12 13:54:09 CEST (summer time, S).
    assert flu == Sample("1SAG3101021605", 1_589_284_449, 15_792, 11)
    # DSMR 3 has no time of its own: a live port stamps each telegram on receipt.
    v3 = (
        "/ISk5\\2MT382-1000\r\n\r\n0-0:96.1.1(4B384547303034303436333935353037)\r\n"
        "1-0:1.8.1(12345.678*kWh)\r\n1-0:1.8.2(12345.678*kWh)\r\n1-0:2.8.1(00012.345*kWh)\r\n"
        "1-0:2.8.2(00000.000*kWh)\r\n0-0:96.14.0(0002)\r\n!\r\n"
    )
    parser = TelegramParser(DSMR_SPECS["v3"][0])
    got = telegram_item(parser, v3, received_at=T0, position=None).item
    assert got == Sample("K8EG004046395507", T0, 24_691_356, 12_345)


def test_dsmr_bad_crc_and_missing_time_are_rejected(tmp_path: Path) -> None:
    good = dsmr_v5("E0044", T0, 1_000, 0)
    corrupt = good.replace("000001.000", "000001.009")
    path = tmp_path / "p1.txt"
    path.write_text(good + corrupt + good, newline="")
    items = list(open_source(f"dsmr-file:{path}"))
    assert [it.position for it in items] == [1, 2, 3]
    assert isinstance(items[1].item, Rejected) and items[1].item.reason.startswith("bad CRC")
    assert items[0].item == items[2].item == Sample("E0044", T0, 1_000, 0)
    # DSMR 2.2 telegrams carry no time: a file of them cannot be placed in time.
    v22 = "/ISk5\\2MT382-1004\r\n\r\n0-0:96.1.1(4530303434)\r\n1-0:1.8.1(00001.001*kWh)\r\n"
    v22 += "1-0:1.8.2(00001.001*kWh)\r\n1-0:2.8.1(00001.001*kWh)\r\n"
    v22 += "1-0:2.8.2(00001.001*kWh)\r\n!\r\n"
    path.write_text(v22, newline="")
    (old,) = _items(f"dsmr-file:{path}", dsmr_version="v2.2")
    assert isinstance(old, Rejected) and old.reason == "telegram carries no timestamp"


def test_dsmr_over_tcp_in_fragments() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stream = (dsmr_v5("E0044", T0, 1_000, 0) + dsmr_v5("E0044", T0 + 10, 1_002, 0)).encode()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            for k in range(0, len(stream), 37):  # a dongle sends whatever it has
                conn.sendall(stream[k : k + 37])
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    got = [it.item for it in islice(open_source(f"dsmr-tcp:127.0.0.1:{port}"), 2)]
    assert got == [Sample("E0044", T0, 1_000, 0), Sample("E0044", T0 + 10, 1_002, 0)]


def test_dsmr_from_a_serial_port() -> None:
    controller, device = os.openpty()  # the port is the pty's device end
    done = threading.Event()

    def meter() -> None:  # a port drops what arrived before it was opened: send every 0.2 s
        while not done.wait(0.2):
            os.write(controller, dsmr_v5("E0045", T0, 5_000, 7).encode())

    threading.Thread(target=meter, daemon=True).start()
    items = open_source(f"dsmr-serial:{os.ttyname(device)}")
    try:
        assert next(items).item == Sample("E0045", T0, 5_000, 7)
    finally:
        done.set()


def test_real_sml_frames_and_a_corrupt_one(tmp_path: Path) -> None:
    dzg, holley = _items(f"sml-file:{DATA / 'sml-frames.txt'}")
    assert dzg == Sample("0a01445a47000282c0b0", 1_795_168_800, 13_391_000, 0)
    assert holley == Sample("0a01484c5902000424a0", 1_795_168_800, 4_499_896, 0)
    frame = holley_frame(44_999_999)
    corrupt = frame[:200] + ("0" if frame[200] != "0" else "1") + frame[201:]
    path = tmp_path / "sml.txt"
    path.write_text(f"1763632800 {frame}\n1763632810 {corrupt}\n\n1763632820 zz\n")
    items = list(open_source(f"sml-file:{path}"))
    assert items[0].item == Sample("0a01484c5902000424a0", 1_763_632_800, 4_499_999, 0)
    assert [it.position for it in items] == [1, 2, 4]
    assert all(isinstance(it.item, Rejected) for it in items[1:])
    assert "CrcError" in items[1].item.reason  # type: ignore[union-attr]


def test_csv_rows_and_their_faults(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "timestamp,meter_id,import_wh_total,export_wh_total\n"
        "2025-11-20T09:00:00Z,m1,100,5\n"
        f"{T0 + 60},m1,101,5\n"
        "2025-11-20T09:02:00,m1,102,5\n"
        f"{T0 + 180},m1,-3,5\n"
        f"{T0 + 240},m1,1.5,5\n"
        "oops\n"
    )
    items = list(open_source(f"csv:{path}"))
    first = [Sample("m1", T0, 100, 5), Sample("m1", T0 + 60, 101, 5)]
    assert [it.item for it in items[:2]] == first
    reasons = [it.item.reason for it in items[2:]]  # type: ignore[union-attr]
    assert reasons[0].startswith("bad time") and "no zone" in reasons[0]
    assert reasons[1:3] == ["registers must be whole non-negative Wh"] * 2
    assert reasons[3] == "expected 4 fields, got 1"


def test_unknown_source_kinds_are_refused() -> None:
    for spec in ("nope", "ftp:x", "dsmr-tcp:host"):
        with pytest.raises(SourceSpecError):
            open_source(spec)
    with pytest.raises(SourceSpecError):
        open_source("dsmr-file:x", dsmr_version="v9")


def test_simulated_meters_from_a_config(tmp_path: Path) -> None:
    config = tmp_path / "sim.toml"
    config.write_text(
        'start = "2026-11-20T00:00:00Z"\nslots = 48\nsamples_per_slot = 2\n'
        '[[meters]]\nname = "home-1"\nload_w = 500\npv_peak_w = 4000\n'
        '[[meters]]\nname = "home-2"\nload_w = 300\n'
    )
    items = list(open_source(f"sim:{config}"))
    assert [it.position for it in items] == list(range(1, 2 + 48 * 2 * 2 + 1))
    last = {it.item.meter: it.item for it in items if isinstance(it.item, Sample)}
    # 300 W mean load for a day is 7.2 kWh (less per-slot rounding down); no PV, no export.
    assert 7_150 <= last["home-2"].import_wh <= 7_200 and last["home-2"].export_wh == 0
    # home-1 nets its PV against its load slot by slot: the registers add up the slots.
    spec = SimMeterSpec("home-1", 500, 4000)
    energies = [slot_energy(spec, 1_795_132_800 + k * 1800, 1800) for k in range(48)]
    assert last["home-1"].import_wh == sum(i for i, _ in energies)
    assert last["home-1"].export_wh == sum(e for _, e in energies) > 5_000  # a sunny midday
    bad = tmp_path / "bad.toml"
    bad.write_text("start = 1\n")
    (only,) = list(open_source(f"sim:{bad}"))
    assert isinstance(only.item, Rejected) and "bad simulation config" in only.item.reason
