"""The all-in gas benchmark's own code (bench/allin.py), short: six members in three chunks,
two rounds of two slots on a private anvil (intents, settlements, spans, the settlement against
the meters in batches, the period close), and the figures it reports."""

from __future__ import annotations

from bench import allin
from gridshare.settings import Settings


def test_two_short_rounds_measure_every_part_of_a_member_slot() -> None:
    # Chunks of two members; a budget that fits a chunk's two slots (its members warm in the
    # second) but not two chunks' first slots (all cold): one batch per chunk, where slot after
    # slot over every chunk would take one per (slot, chunk).
    settings = Settings(chunk_members=2, imbalance_batch_gas=410_000)
    result = allin.measure(6, 2, settings)
    per = result["per"]
    assert set(per) == {"settleSlot", "submitReadingSpans", "settleImbalances"}
    assert all(v > 0 for v in per.values())
    # The measured round: two settlements, one relay of six spans, one batch per chunk.
    assert result["transactions"] == {
        "settleSlot": 2,
        "submitReadingSpans": 1,
        "settleImbalances": 3,
    }
    assert result["imbalance_txs"] == 3
    assert result["close_per_member"] > 0
    assert result["all_in"] == sum(per.values()) + result["close_per_member"] / 1440
    figures = allin.figures({6: result}, 2, settings.period_slots)
    key = "gas_per_member_slot_all_in (6 members, uniform; goal <= 12,500)"
    assert figures[key].startswith(f"{result['all_in']:,.0f} = settleSlot ")
