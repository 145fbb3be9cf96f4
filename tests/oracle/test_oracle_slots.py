"""From cumulative registers to slot energy: exact conservation, the plausibility checks, and
the outbox's resume after a crash (real SQLite and PostgreSQL)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from market.calendar import Calendar
from oracle import outbox
from oracle.meter.ingest import Ingest
from oracle.meter.keys import read_key, write_keystore
from oracle.meter.signing import Domain, MeterSigner
from oracle.samples import Sample, SourceItem
from oracle.slots import Limits, MeterTrack, advance, check
from oracle.sources.sim import SimulatedMeter

CAL = Calendar(genesis=1_000_000, slot_seconds=1800, gate_closure_seconds=300)
LIMITS = Limits(rating_w=27_600, max_future_seconds=300)


def _run(samples: list[Sample]) -> tuple[MeterTrack | None, list[tuple[int, int, int]]]:
    track: MeterTrack | None = None
    out = []
    for s in samples:
        track, done = advance(track, s, CAL)
        out += [(e.slot, e.import_wh, e.export_wh) for e in done]
    return track, out


@given(
    st.integers(0, 5000),
    st.lists(st.tuples(st.integers(1, 4000), st.integers(0, 10**6), st.integers(0, 10**5)),
             min_size=1, max_size=60),
)  # fmt: skip
def test_slot_energies_add_up_to_the_registers(
    offset: int, steps: list[tuple[int, int, int]]
) -> None:
    t, imp, exp = CAL.genesis + offset, 10**7, 10**6
    samples = [Sample("m", t, imp, exp)]
    for dt, di, de in steps:
        t, imp, exp = t + dt, imp + di, exp + de
        samples.append(Sample("m", t, imp, exp))
    track, slots = _run(samples)
    assert track is not None
    if slots:  # consecutive slots
        assert [s for s, _, _ in slots] == list(range(slots[0][0], slots[0][0] + len(slots)))
    assert all(i >= 0 and e >= 0 for _, i, e in slots)
    if slots:  # between the first and the last boundary passed, nothing is lost or invented
        first_boundary = CAL.genesis + slots[0][0] * CAL.slot_seconds
        start_imp = _register_at(samples, first_boundary, "import")
        assert sum(i for _, i, _ in slots) == track.boundary_import_wh - start_imp


def _register_at(samples: list[Sample], b: int, which: str) -> int:
    for s0, s1 in pairwise(samples):
        if s0.timestamp < b <= s1.timestamp or s0.timestamp == b:
            v0 = s0.import_wh if which == "import" else s0.export_wh
            v1 = s1.import_wh if which == "import" else s1.export_wh
            if s0.timestamp == b:
                return v0
            return v0 + (v1 - v0) * (b - s0.timestamp) // (s1.timestamp - s0.timestamp)
    raise AssertionError("boundary not covered")


def test_interpolation_across_a_boundary() -> None:
    g = CAL.genesis
    # Samples 900 s either side of slot 1's start: R = 100 + 201·900/1800 = 200.5, rounded down;
    # the half Wh is slot 1's, so nothing is lost.
    _, slots = _run([Sample("m", g, 0, 0), Sample("m", g + 900, 100, 0),
                     Sample("m", g + 2700, 301, 50), Sample("m", g + 3600, 400, 50)])  # fmt: skip
    assert slots == [(0, 200, 25), (1, 200, 25)]


def test_checks_name_what_is_wrong() -> None:
    g = CAL.genesis
    track, _ = advance(None, Sample("m", g, 1000, 50), CAL)
    assert check(track, Sample("m", g + 60, 999, 50), g, LIMITS) is not None
    assert "export register went backwards" in str(
        check(track, Sample("m", g + 60, 1000, 49), g, LIMITS)
    )
    assert "jumped" in str(check(track, Sample("m", g + 60, 1000 + 462, 50), g, LIMITS))
    assert check(track, Sample("m", g + 60, 1000 + 461, 50), g, LIMITS) is None  # 27.6 kW · 60 s
    assert "before the last" in str(check(track, Sample("m", g - 1, 1000, 50), g, LIMITS))
    assert "other registers" in str(check(track, Sample("m", g, 1001, 50), g, LIMITS))
    assert check(track, Sample("m", g, 1000, 50), g, LIMITS) is None  # an exact repeat
    assert "future" in str(check(track, Sample("m", g + 301, 1000, 50), g, LIMITS))


def test_simulated_meter_reproduces_the_energies_it_was_given() -> None:
    meter = SimulatedMeter("m", 5_000, 10)
    samples = [meter.sample(CAL.genesis)]
    wanted = [(300, 0), (0, 1_234), (17, 5)]
    for k, (i, e) in enumerate(wanted):
        samples += meter.slot_samples(CAL.genesis + k * 1800, 1800, i, e, per_slot=3)
    _, slots = _run(samples)
    assert slots == [(k, i, e) for k, (i, e) in enumerate(wanted)]


def test_ingest_resumes_after_a_crash_without_duplicates(tmp_path: Path, outbox_url: str) -> None:
    keys_dir = tmp_path / "keys"
    write_keystore(keys_dir, "m", "0x" + bytes(Account.create().key).hex(), "pw", iterations=2)
    engine = outbox.open_outbox(outbox_url)
    domain = Domain(1337, "0x" + "11" * 20)
    meter = SimulatedMeter("m")
    samples = [meter.sample(CAL.genesis)]
    for k in range(8):
        samples += meter.slot_samples(CAL.genesis + k * 1800, 1800, 100 + k, k, per_slot=2)
    items = [SourceItem(n + 1, s) for n, s in enumerate(samples)]

    def ingest() -> Ingest:  # a fresh process: state only from the database
        signer = MeterSigner("m", read_key(keys_dir, "m", "pw"), domain)
        return Ingest(engine, signer, CAL, LIMITS, lambda: CAL.genesis + 10**6)

    first = ingest().run("sim", items[:7], chunk=3)  # "crash" after 7 items
    assert first.readings == 3
    again = ingest().run("sim", items, chunk=4)  # the source replays from the start
    assert (again.skipped, again.readings) == (7, 5)
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.readings).order_by(outbox.readings.c.slot)).all()
    assert [(r.slot, r.import_wh, r.export_wh) for r in rows] == [(k, 100 + k, k) for k in range(8)]
    assert all(r.state == outbox.PENDING and r.sequence == r.slot + 1 for r in rows)


def test_spans_keep_their_open_slots_through_a_crash(tmp_path: Path, outbox_url: str) -> None:
    """Slots measured before their span is complete wait in the outbox: a signer that dies
    mid-span loses none, signs none twice, and its spans cover every slot once, in order,
    aligned to the span (slot // 4); a finite source's end signs the open rest."""
    keys_dir = tmp_path / "keys"
    write_keystore(keys_dir, "m", "0x" + bytes(Account.create().key).hex(), "pw", iterations=2)
    engine = outbox.open_outbox(outbox_url)
    domain = Domain(1337, "0x" + "11" * 20)
    meter = SimulatedMeter("m")
    samples = [meter.sample(CAL.genesis + 1800)]  # the first slot measured is slot 1
    for k in range(1, 11):
        samples += meter.slot_samples(CAL.genesis + k * 1800, 1800, 100 + k, k, per_slot=2)
    items = [SourceItem(n + 1, s) for n, s in enumerate(samples)]

    def ingest() -> Ingest:
        signer = MeterSigner("m", read_key(keys_dir, "m", "pw"), domain)
        return Ingest(engine, signer, CAL, LIMITS, lambda: CAL.genesis + 10**6, span_slots=4)

    first = ingest().run("sim", items[:9], chunk=2)  # "crash" with slots 1..4 measured
    assert (first.readings, first.spans) == (3, 1)  # span 1..3 signed, slot 4 open
    with engine.connect() as conn:
        assert [e.slot for e in outbox.open_readings_of(conn, "m")] == [4]
    again = ingest()
    more = again.run("sim", items, chunk=3)  # the source replays from the start
    assert (more.skipped, more.readings, more.spans) == (9, 4, 1)  # span 4..7; 8..10 open
    assert again.flush() == 3
    with engine.connect() as conn:
        spans = outbox.spans_in_state(conn, outbox.PENDING)
        assert outbox.open_readings_of(conn, "m") == []
    assert [(s.first_slot, s.last_slot) for s in spans] == [(1, 3), (4, 7), (8, 10)]
    assert [e for s in spans for e in s.energy] == [(100 + k, k) for k in range(1, 11)]
    assert all(s.first_sequence == s.first_slot + 1 for s in spans)
