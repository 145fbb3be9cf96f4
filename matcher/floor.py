"""Where in the chain to start looking for a slot's events.

The matcher reads each slot's SlotSettled and reading events back by log queries. From the
deployment block, that query scans the whole chain, so a slot's settlement would cost more every
day a community runs. But both events can only be mined after a moment the calendar knows (the
slot's gate closure; the end of its delivery: the contracts refuse them before), and any block
mined before that moment precedes them. `BlockFloor` remembers the heads the matcher has seen,
one per `spacing` seconds at most (a year of 30-minute slots is 17,520 entries), and answers with
the newest one older than the moment: a search that spans about a slot's blocks, not the chain's.
After a restart it knows no head older than the moments it is asked about (a backlog of slots
left while it was down): given the node's block timestamps it then bisects the blocks between
the deployment and the oldest head it knows, a few header reads instead of a search over the
whole chain (which public endpoints refuse beyond some thousands of blocks); without them it
answers with the deployment block (correct, slower).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable


class BlockFloor:
    """Blocks seen with their timestamps, for bounding log queries (see the module)."""

    def __init__(
        self,
        deployed_at_block: int,
        spacing: int,
        timestamp_of: Callable[[int], int] | None = None,
    ) -> None:
        """`timestamp_of(n)`: block n's timestamp (the node's), for a moment older than every
        head seen; timestamps never decrease along the chain."""
        self.deployed_at_block = deployed_at_block
        self.spacing = spacing
        self.timestamp_of = timestamp_of
        self._numbers: list[int] = []
        self._times: list[int] = []

    def see(self, number: int, timestamp: int) -> None:
        """Remember the head, block `number` mined at `timestamp`. A head below blocks seen
        before (a development chain reverted to a snapshot) forgets those blocks: they are no
        longer on the chain."""
        cut = bisect.bisect_right(self._numbers, number)
        del self._numbers[cut:], self._times[cut:]
        if self._numbers and (
            number == self._numbers[-1] or timestamp < self._times[-1] + self.spacing
        ):
            return
        self._numbers.append(number)
        self._times.append(timestamp)

    def before(self, moment: int) -> int:
        """A block mined before `moment`: every block from `moment` on comes after it."""
        i = bisect.bisect_left(self._times, moment)
        if i:
            return self._numbers[i - 1]
        if self.timestamp_of is None or not self._numbers:
            return self.deployed_at_block
        return self._bisect(moment, self._numbers[0])

    def _bisect(self, moment: int, above: int) -> int:
        """The newest block below `above` (mined at or after `moment`) mined before `moment`,
        or the deployment block if none is; remembered like a head seen."""
        assert self.timestamp_of is not None
        low, high = self.deployed_at_block, above  # invariant: the answer is in [low, high)
        low_time: int | None = None  # low's timestamp, once low is a block read on the way
        while high - low > 1:
            mid = (low + high) // 2
            mid_time = self.timestamp_of(mid)
            if mid_time < moment:
                low, low_time = mid, mid_time
            else:
                high = mid
        if low_time is not None:
            cut = bisect.bisect_left(self._numbers, low)
            self._numbers.insert(cut, low)
            self._times.insert(cut, low_time)
        return low
