"""Meters sign spans of their slot readings (e.g. a day) once; the relay sends them with
`submitReadingSpans`, as durably as single readings. On a real ganache whose reading deadline
is a day (so a day's span may settle), each side a separate process: a day of readings reaches
the chain exactly once through kill -9s of the relay; a span the chain refuses is quarantined
with the contract's error and logged; a span longer than a deployment's deadline is refused at
the meter's start."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.calendar import read_calendar
from chain.devchain import DevChain, dev_chain
from chain.node import Node
from gridshare.settings import Settings
from oracle import outbox
from oracle.meter.keys import read_key
from oracle.meter.signing import Domain, sign_span
from oracle.samples import meter_id
from oracle.slots import SlotEnergy
from tests.oracle.conftest import (
    METERS,
    PASSWORD,
    Meters,
    meter_env,
    register_meters,
    relay_env,
)
from tests.oracle.test_oracle_chain import DAY, _accepted, _day_of_readings, _gridshare


@pytest.fixture(scope="module")
def day_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevChain]:
    """Ganache with the contracts deployed with a reading deadline of a day."""
    env = {"GRIDSHARE_READING_DEADLINE_SECONDS": str(DAY)}
    with dev_chain(tmp_path_factory.mktemp("span-deployments"), env) as running:
        yield running


@pytest.fixture(scope="module")
def day_node(day_chain: DevChain) -> Node:
    return Node.from_settings(
        day_chain.network_id, Settings(deployments_dir=day_chain.deployments_dir)
    )


@pytest.fixture(scope="module")
def day_meters(day_node: Node, tmp_path_factory: pytest.TempPathFactory) -> Meters:
    return register_meters(day_node, tmp_path_factory.mktemp("span-meter-keys"))


def _status(env: dict[str, str]) -> dict[str, int]:
    done = subprocess.run(
        _gridshare("oracle", "status"), env=env, capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout))


def test_a_day_of_spans_reaches_the_chain_exactly_once_through_kill_9(
    day_chain: DevChain, day_node: Node, day_meters: Meters, tmp_path: Path
) -> None:
    node = day_node
    calendar = read_calendar(node)
    first = int(node.call(node.contract("MeterReadings").functions.openFromSlot()))
    first += -first % 48  # a whole calendar day: spans are aligned to days
    start = calendar.genesis + first * calendar.slot_seconds
    source = tmp_path / "day.csv"
    expected = {
        (m, first + s): energy for (m, s), energy in _day_of_readings(source, start).items()
    }
    node.make_request("evm_increaseTime", [start + DAY + 60 - node.block_timestamp()])
    node.make_request("evm_mine", [])
    first_block = node.w3.eth.block_number + 1
    db = tmp_path / "outbox.db"
    env = relay_env(day_chain, node, db)
    env["GRIDSHARE_ORACLE_BATCH_SIZE"] = "2"  # two spans per transaction: many places to die
    # Two meters sign spans of 6 slots, two the default (the longest the deadline allows: a day).
    spans = {"E0001": 6, "E0002": 6, "E0003": None, "E0004": None}
    sign = ("meter", "run", "--network", day_chain.network_id, "--once", "--source")
    signers = [
        subprocess.Popen(
            _gridshare(*sign, f"csv:{tmp_path / m}.csv", "--meter", m),
            env=meter_env(day_chain, day_meters, db, spans[m]),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for m in METERS
    ]
    cmd = _gridshare("oracle", "run", "--network", day_chain.network_id)
    rng = random.Random(16)
    kills = 0
    for _ in range(5):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.5, 4.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    for m, signer in zip(METERS, signers, strict=True):
        out, err = signer.communicate(timeout=300)
        assert signer.returncode == 0, err[-3000:]
        ingest = json.loads(out)["ingest"]
        assert (ingest["readings"], ingest["spans"]) == (48, 8 if spans[m] else 1)
        assert f"signing spans of {spans[m] or 48} slot(s)" in err
    done = subprocess.run([*cmd, "--once"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert kills == 5
    accepted = _accepted(node, first_block)
    assert accepted == Counter((m, s, i, e) for (m, s), (i, e) in expected.items())
    assert _status(env) == {
        "pending": 0,
        "sent": 0,
        "done": len(expected),
        "quarantined": 0,
        "spans_pending": 0,
        "spans_sent": 0,
        "spans_done": 8 + 8 + 1 + 1,
        "spans_quarantined": 0,
        "open": 0,
        "quarantine": 0,
    }


def test_a_refused_span_is_quarantined_with_the_reason_and_logged(
    day_chain: DevChain, day_node: Node, day_meters: Meters, tmp_path: Path
) -> None:
    node = day_node
    readings = node.contract("MeterReadings").functions
    domain = Domain(node.manifest.chain_id, node.contract("MeterReadings").address)
    calendar = read_calendar(node)
    slot = calendar.slot_at(node.block_timestamp()) + 1
    node.make_request("evm_increaseTime", [4 * calendar.slot_seconds])
    node.make_request("evm_mine", [])
    key = read_key(day_meters.keystore_dir, "E0001", PASSWORD)
    other = read_key(day_meters.keystore_dir, "E0002", PASSWORD)

    def span(meter: str, signed_by: str) -> dict[str, object]:
        energies = [SlotEnergy(meter, slot + k, 100 + k, k) for k in range(3)]
        return sign_span(energies, signed_by, domain)

    forged = span("E0003", other)  # E0002's key on E0003's readings
    unknown = span("E0099", read_key(day_meters.keystore_dir, "E0099", PASSWORD))
    good = span("E0001", key)
    db = tmp_path / "outbox.db"
    with outbox.open_outbox(f"sqlite:///{db}").begin() as conn:
        outbox.add_spans(conn, [forged, unknown, good])
    first_block = node.w3.eth.block_number + 1
    env = relay_env(day_chain, node, db)
    run = subprocess.run(
        _gridshare("oracle", "run", "--network", day_chain.network_id, "--once"),
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "quarantined span of meter E0003" in run.stderr  # logged, not only stored
    assert "quarantined span of meter E0099" in run.stderr
    listed = subprocess.run(
        _gridshare("oracle", "quarantine", "--json"), env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    entries = {e["meter"]: e for e in map(json.loads, listed.stdout.splitlines())}
    assert set(entries) == {"E0003", "E0099"}
    assert entries["E0003"]["reason"].startswith("chain refused: MeterReadingsBadSignature")
    assert entries["E0099"]["reason"].startswith("chain refused: MeterReadingsUnknownMeter")
    assert entries["E0003"]["slot"] == slot
    assert entries["E0003"]["raw"] == f"E0003,{slot},{slot + 1},100:0,101:1,102:2"
    assert _accepted(node, first_block) == Counter(
        {("E0001", slot + k, 100 + k, k): 1 for k in range(3)}
    )
    status = _status(env)
    assert (status["spans_done"], status["spans_quarantined"], status["done"]) == (1, 2, 3)
    any_, last, _ = node.call(readings.lastReading(meter_id("E0003")))
    assert not any_ or int(last) < slot  # nothing of the forged span


def test_a_span_longer_than_the_reading_deadline_is_refused(
    chain: DevChain, meters: Meters, tmp_path: Path
) -> None:
    """The shared chain's deadline is an hour (the default): a day's span would settle its
    first slots without their readings, so the meter refuses to start (exit 2, one line)."""
    source = tmp_path / "empty.csv"
    source.write_text("timestamp,meter_id,import_wh_total,export_wh_total\n")
    run = subprocess.run(
        _gridshare("meter", "run", "--meter", "E0001", "--source", f"csv:{source}",
                   "--network", chain.network_id, "--once"),
        env=meter_env(chain, meters, tmp_path / "outbox.db", 48),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2
    assert "error: a span of 48 slots of 1800 s is longer than the reading deadline" in run.stderr
    assert "use at most 2" in run.stderr
