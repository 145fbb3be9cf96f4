"""`year_100_households_s`: the 100-household community on a private ganache, all the way
through the contracts (orders, matcher, signed readings, imbalance, period close).

The full year (17,520 slots) is the goal's definition; `--days` runs a shorter stretch and the
result says how many days were actually run. The per-slot time is measured, the year figure is
only reported when a whole year was run (an extrapolation is shown separately and named so).

    .venv/bin/python -m bench.sim --days 1
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.report import days_and_community, record
from gridshare.settings import Settings
from sim.chainrun import simulate


def main() -> None:
    days, community = days_and_community(__doc__, 1, "communities/hundred.toml")
    with tempfile.TemporaryDirectory(prefix="gridshare-bench-sim-") as deployments:
        result = simulate(community, days, "dev", Settings(), Path(deployments))
    slots = len(result.slots)
    per_slot = result.seconds / slots
    year_slots = 365 * community.slots_per_day
    ran_year = days >= 365
    figures = {
        "households": len(community.households),
        "days_run": days,
        "slots_run": slots,
        "run_s (after deployment)": round(result.seconds, 1),
        "transactions (after set-up) / set-up": (
            f"{result.transactions - result.setup_transactions} / {result.setup_transactions}"
        ),
        "transactions_per_slot_100_households (after set-up; goal <= 1.1)": round(
            (result.transactions - result.setup_transactions) / slots, 2
        ),
        "day_100_households_ganache_s": round(result.seconds, 1) if days == 1 else "not this run",
        "s_per_slot": round(per_slot, 3),
        "year_100_households_s": round(result.seconds, 1) if ran_year else "not run",
        "year_extrapolated_s (s_per_slot x 17,520; not measured)": round(per_slot * year_slots),
        "goal_s": 1200,
        "bills_match_chain": all(
            result.ledgers[m.name].chain_delta_matches for m in result.members
        ),
        "supply_conserved": result.supply_conserved,
    }
    record(
        "simulation: year of 100 households on ganache (issue 7)",
        f".venv/bin/python -m bench.sim --days {days}",
        figures,
        "Ganache 7.9.2 on a free port (chain/devchain.py), 30-minute slots. Orders travel as "
        "signed intents (issue 16): each agent signs its orders into the intent pool (no "
        "transaction), the matcher carries them in the slot's one settlement; each meter signs "
        "its day of readings once (a span) which the oracle's relay sends at the day's end, "
        "then one imbalance settlement per slot, a period close per day, then the audit over "
        "all events. `transactions` counts what the run sent after "
        "set-up (settlements, relays, imbalance settlements, period closes with the battery "
        "lease, the battery's result, daily refills); set-up (members, meters, gas money, "
        "floats, leases) is counted apart. "
        "The year itself was not run unless `days_run` is 365; the "
        "extrapolation assumes the per-slot cost stays flat. The goal of <= 1.1 transactions "
        "per slot needs the imbalance settled in batches of slots (issue 16). On anvil: "
        "`make bench-year` (bench/year.py).",
    )
    print(figures)


if __name__ == "__main__":
    main()
