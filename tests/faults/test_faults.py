"""Fault injection, short: two slots of a two-household community with the oracle, the matcher
and the indexer as separate processes and ganache on a persistent database, each of the four
killed with SIGKILL at least once (cycling through them in a shuffled order) and restarted.
Nothing may be lost: every reading on-chain once, every slot settled once, the audit clean, the
live index equal to a fresh rebuild. `make faults` runs the full day (bench/faults.py)."""

from __future__ import annotations

from pathlib import Path

from bench.faults import TARGETS, FaultConfig, run_faults
from chain.devchain import ROOT


def test_two_slots_survive_kill_9_of_every_process(tmp_path: Path) -> None:
    config = FaultConfig(
        community=ROOT / "communities" / "default-20.toml",
        households=2,
        slots=2,
        min_kills=len(TARGETS),
        interval=(2.0, 4.0),
        max_down=0.5,
        seed=3,
        work=tmp_path,
    )
    s = run_faults(config, say=lambda _: None)
    assert all(s["kills"][t] >= 1 for t in TARGETS), s["kills"]
    assert s["restarts"] == s["kills"]
    assert s["driver_error"] is None
    assert s["node_block_time_monotonic"]
    chain = s["chain"]
    assert chain["readings_produced"] == 2 * 2
    assert chain["readings_on_chain"] == chain["readings_produced"]
    assert chain["readings_lost"] == chain["readings_duplicated"] == 0
    assert chain["slots_settled"] == chain["slots_imbalance_settled"] == 2
    assert chain["slots_settled_twice"] == chain["slots_imbalance_twice"] == 0
    assert s["audit"]["ok"] and s["audit"]["discrepancies"] == 0, s["audit"]
    assert s["index"]["equal"], s["index"]
    assert s["passed"], s
