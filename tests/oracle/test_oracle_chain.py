"""The oracle against a real ganache, its two sides as separate processes: each meter's signer
(`gridshare meter run`, its own key) and the relay (`gridshare oracle run`, no meter key). A day
of CSV readings relayed exactly once through random kill -9s, bad input quarantined and never
pushed, chain refusals (forged, unsigned, unknown meter) quarantined with the error and logged."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from chain.calendar import read_calendar
from chain.devchain import DevChain
from chain.node import Node
from chain.signing import ReadingSpan
from oracle.samples import meter_id
from tests.oracle.conftest import METERS, Meters, meter_env, relay_env

DAY = 86_400
STEP = 600  # a sample every 10 minutes


def _gridshare(*args: str) -> list[str]:
    return [sys.executable, "-c", "from gridshare.cli import app; app()", *args]


def _day_of_readings(path: Path, start: int) -> dict[tuple[str, int], tuple[int, int]]:
    """A CSV of every meter's registers over one day from `start` (a slot boundary), and one
    per meter, `<meter>.csv` beside it (what each meter's logger writes); returns the per-slot
    energies the oracle must derive (samples fall on every boundary)."""
    rows = ["timestamp,meter_id,import_wh_total,export_wh_total"]
    expected: dict[tuple[str, int], tuple[int, int]] = {}
    rng = random.Random(7)
    totals = {m: [rng.randrange(10**6), rng.randrange(10**5)] for m in METERS}
    for t in range(start, start + DAY + 1, STEP):
        for m in METERS:
            if t > start:
                totals[m][0] += rng.randrange(0, 400)
                totals[m][1] += rng.randrange(0, 300)
            rows.append(f"{t},{m},{totals[m][0]},{totals[m][1]}")
    path.write_text("\n".join(rows) + "\n")
    for m in METERS:
        mine = [r for r in rows[1:] if r.split(",")[1] == m]
        path.with_name(f"{m}.csv").write_text("\n".join([rows[0], *mine]) + "\n")
    # Slot energies: register differences between boundaries (every 30 min = 3 samples).
    by_time: dict[str, dict[int, tuple[int, int]]] = {m: {} for m in METERS}
    for line in rows[1:]:
        stamp, meter, i, e = line.split(",")
        by_time[meter][int(stamp)] = (int(i), int(e))
    for m in METERS:
        for slot in range(DAY // 1800):
            a, b = by_time[m][start + slot * 1800], by_time[m][start + (slot + 1) * 1800]
            expected[(m, slot)] = (b[0] - a[0], b[1] - a[1])
    return expected


def _accepted(node: Node, from_block: int) -> Counter[tuple[str, int, int, int]]:
    """Every reading on chain by meter, whether accepted alone or in a span."""
    return Counter(
        (r.meter_id.rstrip(b"\0").decode(), r.slot, r.import_wh, r.export_wh)
        for event in ("ReadingAccepted", "ReadingSpanAccepted")
        for e in node.events("MeterReadings", event, from_block=from_block)
        for r in ReadingSpan.of_event(e["args"]).readings()
    )


def test_a_day_reaches_the_chain_exactly_once_through_kill_9(
    chain: DevChain, node: Node, meters: Meters, tmp_path: Path
) -> None:
    calendar = read_calendar(node)
    # The day from the first slot readings are open for (the one the contracts were deployed in).
    first = int(node.call(node.contract("MeterReadings").functions.openFromSlot()))
    start = calendar.genesis + first * calendar.slot_seconds
    source = tmp_path / "day.csv"
    expected = {
        (m, first + s): energy for (m, s), energy in _day_of_readings(source, start).items()
    }
    # Move the chain past the day so every slot of it has been delivered.
    node.make_request("evm_increaseTime", [start + DAY + 60 - node.block_timestamp()])
    node.make_request("evm_mine", [])
    first_block = node.w3.eth.block_number + 1
    outbox_db = tmp_path / "outbox.db"
    env = relay_env(chain, node, outbox_db)
    assert not any(k.startswith("GRIDSHARE_METER") for k in env)  # the relay holds no meter key
    env["GRIDSHARE_ORACLE_BATCH_SIZE"] = "5"  # many transactions: many places to die
    cmd = _gridshare("oracle", "run", "--network", chain.network_id)
    signer_env = meter_env(chain, meters, outbox_db)
    sign = ("meter", "run", "--network", chain.network_id, "--once", "--source")
    signers = [  # each meter's signer, where the meter is, beside the relay
        subprocess.Popen(
            _gridshare(*sign, f"csv:{tmp_path / m}.csv", "--meter", m),
            env=signer_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for m in METERS
    ]
    rng = random.Random(2026)
    kills = 0
    for _ in range(6):  # the relay follows the outbox (no --once) until it is killed
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.5, 5.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    for signer in signers:
        out, err = signer.communicate(timeout=300)
        assert signer.returncode == 0, err[-3000:]
        assert json.loads(out)["ingest"]["readings"] == DAY // 1800
    done = subprocess.run([*cmd, "--once"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert kills == 6  # every run of the relay ended in a kill -9
    accepted = _accepted(node, first_block)
    want = Counter((m, s, i, e) for (m, s), (i, e) in expected.items())
    assert accepted == want  # every reading once, none twice, none altered
    status = subprocess.run(
        _gridshare("oracle", "status"), env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(status.stdout) == {
        "pending": 0,
        "sent": 0,
        "done": len(expected),
        "quarantined": 0,
        "spans_pending": 0,
        "spans_sent": 0,
        "spans_done": 0,
        "spans_quarantined": 0,
        "open": 0,
        "quarantine": 0,
    }


def test_bad_input_is_quarantined_and_never_pushed(
    chain: DevChain, node: Node, meters: Meters, tmp_path: Path
) -> None:
    calendar = read_calendar(node)
    m = "E0001"
    readings = node.contract("MeterReadings").functions
    any_, last_slot, _ = node.call(readings.lastReading(meter_id(m)))
    slot0 = max(int(node.call(readings.openFromSlot())), int(last_slot) + 1 if any_ else 0)
    t0 = calendar.genesis + slot0 * calendar.slot_seconds
    node.make_request("evm_increaseTime", [max(0, t0 + 3 * 3600 - node.block_timestamp())])
    node.make_request("evm_mine", [])
    now = node.block_timestamp()
    lines = [
        f"{t0},{m},5000000,0",
        f"{t0 + 900},{m},5000100,0",
        f"{t0 + 1200},{m},4999000,0",  # import register backwards
        f"{t0 + 1500},{m},9000000,0",  # a jump no 27.6 kW meter can make in 10 min
        f"{t0 + 600},{m},5000050,0",  # out of order
        f"{now + 7200},{m},5000300,0",  # two hours in the future
        f"{t0 + 1800},NOPE,1,1",  # not the meter whose key this signer holds
        f"{t0 + 1800},{m},5000200,0",
        f"{t0 + 3600},{m},5000400,0",
        f"{t0},E0099,0,0",  # its own signer, but the meter is not registered on-chain
        f"{t0 + 1800},E0099,10,0",
        f"{t0 + 3600},E0099,20,0",
        "not,a,valid,row",
    ]
    source = tmp_path / "bad.csv"
    unregistered = tmp_path / "E0099.csv"  # its own meter's logger
    unregistered.write_text("\n".join(line for line in lines if ",E0099," in line) + "\n")
    source.write_text("\n".join(line for line in lines if ",E0099," not in line) + "\n")
    db = tmp_path / "outbox.db"
    env = relay_env(chain, node, db)
    first_block = node.w3.eth.block_number + 1
    for meter, path in ((m, source), ("E0099", unregistered)):
        signed = subprocess.run(
            _gridshare("meter", "run", "--meter", meter, "--source", f"csv:{path}",
                       "--network", chain.network_id, "--once"),
            env=meter_env(chain, meters, db), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert signed.returncode == 0, signed.stderr[-3000:]
    run = subprocess.run(
        _gridshare("oracle", "run", "--network", chain.network_id, "--once"),
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "quarantined reading of meter E0099" in run.stderr  # logged, not only stored
    listed = subprocess.run(
        _gridshare("oracle", "quarantine", "--json"), env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    reasons = [e["reason"] for e in entries]
    assert any("import register went backwards" in r for r in reasons)
    assert any("jumped" in r and "rating" in r for r in reasons)
    assert any("before the last accepted" in r for r in reasons)
    assert any("in the future" in r for r in reasons)
    assert any(r.startswith("unknown meter") for r in reasons)
    assert any(r.startswith("bad time") for r in reasons)
    assert any("chain refused: MeterReadingsUnknownMeter" in r for r in reasons)
    assert len(entries) == 8  # 6 bad rows + E0099 slots refused one by one on-chain
    # What did reach the chain: E0001's slots from the good samples only (t0 → t0+3600).
    accepted = _accepted(node, first_block)
    # 5,000,000 → 5,000,200 → 5,000,400 Wh at the boundaries; nothing of E0099.
    assert accepted == Counter({(m, slot0, 200, 0): 1, (m, slot0 + 1, 200, 0): 1})
