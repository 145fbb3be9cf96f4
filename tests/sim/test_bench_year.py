"""The year benchmark's own code (bench/year.py) on a few slots of the 100-household community
on a private anvil: the run `make bench-year` makes, short (intents signed into the SQLite pool,
the matcher's settlements, the meters' spans relayed at the run's end, the imbalance, the
audit), and the figures it reports."""

from __future__ import annotations

from bench import year
from bench.year import HUNDRED
from sim.community import load_community


def test_a_few_slots_of_the_year_run_end_to_end_with_the_audit() -> None:
    figures = year.run(1, slots=3)
    assert figures["households"] == 100
    assert figures["days_run / slots_run"] == "0.0625 / 3"
    assert figures["year_100_households_s (goal <= 600)"] == "not run (0.0625 day(s) run)"
    assert figures["audit_ok / findings"] == "True / 0"
    assert figures["bills_match_chain"] is True
    assert figures["supply_conserved"] is True
    # Per slot its settlement; one relay of 101 spans of 3 slots; one settlement against the
    # meters of the 3 slots (303 member-slots, within a batch), which the audit checked.
    assert figures["imbalance_carry_slots"] == year.CARRY_SLOTS
    # Set-up: 405 transactions, each battery lessee's lease set by the DSO (charged by every
    # close) and each lessee's one mandate for a battery loss, given once so that no lessee
    # sends a transaction per period.
    battery = load_community(HUNDRED).battery
    assert battery is not None and len(battery.lessees) == 10
    lessees = len(battery.lessees)
    assert figures["transactions (after set-up) / set-up"] == f"5 / {405 + 2 * lessees}"
    assert figures["transactions_per_slot_100_households (after set-up; goal <= 1.1)"] == 1.667
    assert figures["transactions_per_slot: settlement (matcher) and its check"] == 1.0
    # The run ends before the day's span does: its readings go at the end; their settlement
    # against the meters, left for slot settlements to carry, is settled when the run ends.
    cut = "readings of a span the run's end cut short, and imbalance"
    assert figures[f"transactions_per_slot: {cut}"] == 0.333
    end = "settlement against meters left to carry at the run's end"
    assert figures[f"transactions_per_slot: {end}"] == 0.333
    all_in = next(v for k, v in figures.items() if k.startswith("gas_per_member_slot_all_in"))
    total, parts = all_in.split(" = ")
    assert parts.split(" + ")[0].startswith("settleSlot ")
    assert "settleImbalances" in parts and "submitReadingSpans" in parts
    assert int(total.replace(",", "")) > 0
    phases = [k for k in figures if k.startswith("ms_per_slot: ")]
    assert "ms_per_slot: readings (spans signed, relayed) and imbalance" in phases
