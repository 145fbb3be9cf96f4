"""Where in the chain to start looking for a slot's events.

The matcher reads each slot's SlotSettled and ReadingAccepted events back by a log query. From the
deployment block, that query scans the whole chain, so a slot's settlement would cost more every
day a community runs. But both events can only be mined after a moment the calendar knows (the
slot's gate closure; the end of its delivery: the contracts refuse them before), and any block
mined before that moment precedes them. `BlockFloor` remembers the heads the matcher has seen,
one per `spacing` seconds at most (a year of 30-minute slots is 17,520 entries), and answers with
the newest one older than the moment: a search that spans about a slot's blocks, not the chain's.
After a restart it knows no head yet and answers with the deployment block (correct, slower).
"""

from __future__ import annotations

import bisect


class BlockFloor:
    """Blocks seen with their timestamps, for bounding log queries (see the module)."""

    def __init__(self, deployed_at_block: int, spacing: int) -> None:
        self.deployed_at_block = deployed_at_block
        self.spacing = spacing
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
        return self._numbers[i - 1] if i else self.deployed_at_block
