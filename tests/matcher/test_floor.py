"""matcher/floor.py: the block a slot's events are looked for from (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from matcher.floor import BlockFloor


def test_nothing_seen_searches_from_the_deployment() -> None:
    assert BlockFloor(7, 1800).before(10**9) == 7


def test_the_newest_head_older_than_the_moment() -> None:
    floor = BlockFloor(0, 100)
    for number, ts in ((10, 1_000), (20, 1_100), (30, 1_250)):
        floor.see(number, ts)
    assert floor.before(1_000) == 0  # block 10 was mined at the moment itself: not before it
    assert floor.before(1_001) == 10
    assert floor.before(1_250) == 20
    assert floor.before(5_000) == 30


def test_heads_closer_than_the_spacing_are_not_kept() -> None:
    floor = BlockFloor(0, 100)
    floor.see(10, 1_000)
    floor.see(11, 1_050)  # within 100 s of block 10: skipped
    floor.see(12, 1_100)
    assert floor.before(1_080) == 10
    assert floor.before(1_101) == 12


def test_a_reverted_chain_forgets_the_blocks_above_its_head() -> None:
    floor = BlockFloor(0, 10)
    floor.see(10, 1_000)
    floor.see(20, 2_000)
    floor.see(15, 1_500)  # back to a snapshot below block 20, then a new head at 15
    assert floor.before(10**9) == 15


@given(st.lists(st.tuples(st.integers(1, 5), st.integers(0, 400)), max_size=40), st.data())
def test_every_block_from_the_moment_on_lies_after_the_answer(
    steps: list[tuple[int, int]], data: st.DataObject
) -> None:
    """A chain whose timestamps never decrease, seen at some of its heads: for any moment, the
    answer is a block mined before it (or the deployment block), so no event mined at or after
    the moment is missed by a search from it."""
    times = {3: 100}
    number, ts = 3, 100
    floor = BlockFloor(3, 300)
    for gap, dt in steps:
        for _ in range(gap):
            number += 1
            ts += dt // gap
            times[number] = ts
        floor.see(number, ts)
    moment = data.draw(st.integers(0, ts + 500))
    answer = floor.before(moment)
    assert answer == 3 or times[answer] < moment
    assert all(n > answer for n, t in times.items() if t >= moment and n > 3)


def test_a_moment_older_than_every_head_seen_is_found_by_bisection() -> None:
    """After a restart the floor knows only the head: it bisects the blocks below it with a few
    timestamp reads, and remembers what it found."""
    reads: list[int] = []

    def timestamp_of(number: int) -> int:
        reads.append(number)
        return 1_000 + 10 * (number // 3)  # three blocks in each 10 s

    floor = BlockFloor(5, 1800, timestamp_of)
    floor.see(100_000, timestamp_of(100_000))
    reads.clear()
    assert floor.before(1_000 + 10 * 2_000) == 5_999  # blocks 6,000.. are mined at the moment
    assert len(reads) <= 18  # log2(100,000) and the one that is remembered
    reads.clear()
    assert floor.before(1_000 + 10 * 2_000 + 1) == 5_999  # remembered: no read
    assert reads == []
    assert floor.before(1_000 + 10 * 2) == 5  # before block 6: the deployment block
    assert floor.before(1_000 + 10 * 3) == 8


@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=60),
    st.integers(0, 59),
    st.integers(0, 2_000),
)
def test_the_bisection_never_skips_a_block_at_or_after_the_moment(
    gaps: list[int], seen: int, moment: int
) -> None:
    """Whatever the chain's (never decreasing) timestamps and the head seen, the bisection's
    answer is the deployment block or a block mined before the moment, and no block mined at or
    after the moment precedes it."""
    times = {10: 100}
    for i, gap in enumerate(gaps, start=11):
        times[i] = times[i - 1] + gap
    floor = BlockFloor(10, 1800, times.__getitem__)
    head = min(10 + len(gaps), 10 + seen)
    floor.see(head, times[head])
    answer = floor.before(moment)
    assert answer == 10 or times[answer] < moment
    assert all(n > answer for n, t in times.items() if t >= moment and n > 10)
