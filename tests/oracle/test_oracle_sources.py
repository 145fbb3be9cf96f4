"""Meter sources on real formats: DSMR telegrams (file, TCP, serial), SML frames, CSV."""

from __future__ import annotations

import os
import socket
import threading
from itertools import islice
from pathlib import Path

import pytest

from oracle.samples import Rejected, Sample
from oracle.sources import SourceSpecError, open_source
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
