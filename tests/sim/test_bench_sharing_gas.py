"""The sharing mode's gas benchmark (bench/sharing_gas.py) at a few members on a private anvil:
what `make bench-sharing-gas` runs, short, through the relay's gateway and the matcher's
sharing step; both reading paths (one reading a transaction, and a meter's span of slots)."""

from __future__ import annotations

from bench import sharing_gas


def test_single_readings_and_spans_settle_every_slot() -> None:
    singles = sharing_gas.run(4, batch=250)
    first, steady = singles["slots"]
    for g in (first, steady):
        assert len(g["relay"]) == 1 and len(g["settle"]) == 1  # one chunk, one transaction each
    # The period's first slot writes each exporter's period counter fresh.
    assert sum(first["settle"]) > sum(steady["settle"])
    spans = sharing_gas.run(4, batch=250, span_slots=6)
    (day,) = spans["slots"]
    assert len(day["relay"]) == 1 and len(day["settle"]) == 6  # one span each, six slots
    # Six slots' readings signed once per meter cost less than six single readings would.
    assert sum(day["relay"]) < 6 * sum(steady["relay"])
