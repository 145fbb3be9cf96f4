"""The two sides of the oracle: a meter's signer holds that one meter's key and signs only its
readings; the relay holds no meter key (it never loads the meter side), and a forged or unsigned
reading that reaches its outbox is refused by the chain, quarantined with the error and logged."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from sqlalchemy import select

from chain.calendar import read_calendar
from chain.node import Node, Sender
from chain.signing import Reading, reading_typed_data
from oracle import outbox
from oracle.meter.keys import read_key
from oracle.meter.signing import Domain, MeterSigner, sign_reading
from oracle.relay import Relay
from oracle.samples import meter_id
from oracle.slots import SlotEnergy
from tests.oracle.conftest import ORACLE, PASSWORD, Meters


def test_the_relay_never_loads_the_meter_side() -> None:
    """Importing the relay, its service, its wiring and its commands (the whole `gridshare`
    command line included) loads nothing that opens a keystore or signs a reading."""
    probe = (
        "import sys, gridshare.cli, gridshare.wiring, oracle.service, oracle.relay, oracle.outbox\n"
        "print(sorted(m for m in sys.modules if m.startswith('oracle.meter.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["[]"]  # `gridshare meter`'s commands load it when run


def test_a_signer_signs_its_own_meter_only() -> None:
    key = Account.create("signer test")
    domain = Domain(1337, "0x" + "33" * 20)
    signer = MeterSigner("E0007", "0x" + bytes(key.key).hex(), domain)
    row = signer.sign(SlotEnergy("E0007", 12, 340, 5))
    assert (row["meter"], row["slot"], row["import_wh"], row["export_wh"]) == ("E0007", 12, 340, 5)
    assert row["sequence"] == 13
    typed = reading_typed_data(
        Reading(meter_id("E0007"), 12, 340, 5, 13), domain.chain_id, domain.readings_address
    )
    signature = bytes.fromhex(str(row["signature"])[2:])
    recovered = Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
    assert recovered == key.address
    with pytest.raises(ValueError, match="signer of meter E0007 cannot sign for E0008"):
        signer.sign(SlotEnergy("E0008", 12, 340, 5))


def test_the_meter_command_refuses_a_keystore_it_cannot_open(
    meters: Meters, tmp_path: Path
) -> None:
    """Exit 2 with one line, before anything else is opened (no chain needed)."""
    command = [sys.executable, "-c", "from gridshare.cli import app; app()", "meter", "run"]
    base = {
        "PATH": "/usr/bin:/bin",
        "GRIDSHARE_CONFIG": "/nonexistent/gridshare.toml",
        "GRIDSHARE_METER_KEYSTORE_DIR": str(meters.keystore_dir),
        "GRIDSHARE_ORACLE_DB_URL": f"sqlite:///{tmp_path / 'outbox.db'}",
    }
    args = ["--source", "csv:/nonexistent.csv", "--network", "nowhere", "--once"]
    cases = [
        ("E0001", {"GRIDSHARE_METER_KEY_PASSWORD": "wrong"}, "cannot open the keystore of meter"),
        ("E0001", {}, "set GRIDSHARE_METER_KEY_PASSWORD"),
        ("E0050", {"GRIDSHARE_METER_KEY_PASSWORD": PASSWORD}, "cannot open the keystore"),
    ]
    for meter, extra, message in cases:
        run = subprocess.run(
            [*command, "--meter", meter, *args],
            env={**base, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 2, run.stderr
        assert run.stderr.startswith("error: ") and message in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_forged_and_unsigned_readings_are_quarantined_and_logged(
    node: Node, meters: Meters, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calendar = read_calendar(node)
    readings = node.contract("MeterReadings").functions
    slot = int(node.call(readings.openFromSlot()))
    for m in ("E0003", "E0004"):
        any_, last, _ = node.call(readings.lastReading(meter_id(m)))
        slot = max(slot, int(last) + 1 if any_ else 0)
    end = calendar.genesis + (slot + 2) * calendar.slot_seconds
    node.make_request("evm_increaseTime", [max(0, end + 60 - node.block_timestamp())])
    node.make_request("evm_mine", [])
    domain = Domain(node.manifest.chain_id, node.contract("MeterReadings").address)
    e0004 = read_key(meters.keystore_dir, "E0004", PASSWORD)
    forged = sign_reading(SlotEnergy("E0003", slot, 900, 0), e0004, domain)  # another meter's key
    unsigned = {**sign_reading(SlotEnergy("E0003", slot + 1, 1, 0), e0004, domain)}
    unsigned["signature"] = "0x" + "00" * 65
    good = sign_reading(SlotEnergy("E0004", slot, 120, 7), e0004, domain)
    engine = outbox.open_outbox(f"sqlite:///{tmp_path / 'outbox.db'}")
    with engine.begin() as conn:
        outbox.add_readings(conn, [forged, unsigned, good])
    relay = Relay(engine, node, Sender(node.w3.eth.accounts[ORACLE]), calendar, batch_size=10)
    with caplog.at_level(logging.WARNING, logger="oracle.relay"):
        stats = relay.run_once()
    assert (stats.sent, stats.quarantined) == (1, 2)
    with engine.connect() as conn:
        states = {
            (r.meter, r.slot): r.state
            for r in conn.execute(select(outbox.readings.c.meter, outbox.readings.c.slot,
                                         outbox.readings.c.state))
        }  # fmt: skip
        entries = outbox.quarantined(conn, meter="E0003")
    assert states == {
        ("E0003", slot): outbox.QUARANTINED,
        ("E0003", slot + 1): outbox.QUARANTINED,
        ("E0004", slot): outbox.DONE,
    }
    assert [e.slot for e in entries] == [slot, slot + 1]
    assert all("chain refused: MeterReadingsBadSignature" in e.reason for e in entries)
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("quarantined reading of meter E0003" in line for line in logged) == 2
