"""The matcher's batching of settlements against meters (`ImbalanceBatch`): pure logic, no
chain. A day's (slot, chunk)s go into as few transactions as the gas budget allows, by an
estimate in which a member met again in the batch costs less than one met for the first time."""

from __future__ import annotations

from chain.metering import ImbalanceEntry
from matcher.service import ImbalanceBatch


def entry(slot: int, members: range) -> ImbalanceEntry:
    addresses = tuple(f"0x{m:040x}" for m in members)
    return ImbalanceEntry(slot, 0, addresses, (), ())


def test_the_first_entry_is_taken_whatever_its_estimate() -> None:
    batch = ImbalanceBatch(budget=1)
    assert batch.add(entry(0, range(256)))
    assert not batch.add(entry(1, range(1)))
    assert [e.slot for e in batch.entries] == [0]


def test_members_met_again_are_estimated_warm() -> None:
    b = ImbalanceBatch
    same, fresh = ImbalanceBatch(10**9), ImbalanceBatch(10**9)
    for slot in range(3):
        same.add(entry(slot, range(100)))
        fresh.add(entry(slot, range(100 * slot, 100 * slot + 100)))
    assert same.estimate == 3 * b.ENTRY_GAS + 100 * b.COLD_MEMBER_GAS + 200 * b.WARM_MEMBER_GAS
    assert fresh.estimate == 3 * b.ENTRY_GAS + 300 * b.COLD_MEMBER_GAS
    assert same.estimate < fresh.estimate


def test_a_day_of_101_members_fills_batches_up_to_the_budget() -> None:
    budget = 15_000_000
    batches: list[list[int]] = []
    day = [entry(slot, range(101)) for slot in range(48)]
    while day:
        batch = ImbalanceBatch(budget)
        while day and batch.add(day[0]):
            day.pop(0)
        assert batch.estimate <= budget
        batches.append([e.slot for e in batch.entries])
    assert [s for b in batches for s in b] == list(range(48))  # every slot once, in order
    # 3.38M for the first slot, 2.07M for each later one: 6 slots a transaction.
    assert [len(b) for b in batches] == [6] * 8
