"""How the relay cuts the outbox's spans into transactions (pure: no chain)."""

from __future__ import annotations

from oracle.outbox import PENDING, StoredSpan
from oracle.relay import GAS_PER_SPAN_BOUND, GAS_PER_SPAN_READING_BOUND, spans_within

DAY_SPAN_GAS = GAS_PER_SPAN_BOUND + 48 * GAS_PER_SPAN_READING_BOUND


def _span(meter: int, slots: int) -> StoredSpan:
    return StoredSpan(f"E{meter:04d}", 0, 1, ((100, 0),) * slots, "0x", PENDING, None)


def test_a_day_of_100_meters_goes_in_transactions_of_at_most_15m_gas_at_the_bounds() -> None:
    pending = [_span(m, 48) for m in range(100)]
    batches = []
    while pending:
        batch = spans_within(pending, 15_000_000)
        batches.append(len(batch))
        pending = pending[len(batch) :]
    assert batches == [51, 49]
    assert 51 * DAY_SPAN_GAS <= 15_000_000 < 52 * DAY_SPAN_GAS


def test_a_span_over_the_budget_goes_alone_and_the_next_waits() -> None:
    long, short = _span(1, 48), _span(2, 1)
    assert spans_within([long, short], DAY_SPAN_GAS - 1) == [long]
    assert spans_within([short, long], DAY_SPAN_GAS) == [short]
    assert spans_within([], 15_000_000) == []
