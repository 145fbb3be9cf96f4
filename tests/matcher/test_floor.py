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
