"""A `sharing` community's life on a real anvil, for the audit's end-to-end test and its recorded
input (tests/audit/data/sharing.json).

Five members (two a chunk, so three chunks and a tally) share by the dynamic key through
`SLOTS` slots: a shortage (E < D, leftovers on both sides), a surplus (E > D), a change of
participation in force (60 % for the first consumer), a withdrawn change (a second change made
before the first took effect), and a slot whose big consumer cannot pay in full (the rest becomes
debt to the DSO's accounts). The DSO then closes the first billing period (profit sharing from
the sharing settlement's export and fees). The chain's time is moved, never waited for.

`python -m tests.audit.sharing_scenario OUT.json` runs it on a fresh chain and records every
event and the state at the last block.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

from chain.devchain import DevChain, dev_chain
from chain.node import Node
from tests.audit.scenario import record
from tests.sharing import FLOWS, SharingCommunity

PERIOD_SLOTS = 4
CLOSE_CHUNK = 2
"""Members a chunk (GRIDSHARE_CHUNK_MEMBERS): also ProfitSharing.closePeriod's members a call."""
SURPLUS = [(0, 3000), (700, 0), (10, 250), (333, 0), (500, 7)]
BIG_CONSUMER = [(0, 900), (400_000, 0), (0, 120), (333, 0), (500, 0)]
"""400 kWh for member 1 in one slot: about 120 € at retail and grid fee, more than its 100 €."""


def chain_env() -> dict[str, str]:
    """A sharing deployment (dynamic key): slot 0 starts now, 15-minute slots, a two-slot
    notice for terms, four-slot periods, a slot settles once every meter has reported (or a
    slot after its delivery), two members a chunk."""
    return {
        "GRIDSHARE_CONFIG": "/nonexistent/gridshare.toml",
        "GRIDSHARE_MARKET_MODE": "sharing",
        "GRIDSHARE_SHARING_KEY": "dynamic",
        "GRIDSHARE_GENESIS": str(int(time.time()) - 30),
        "GRIDSHARE_SLOT_SECONDS": "900",
        "GRIDSHARE_GATE_CLOSURE_SECONDS": "300",
        "GRIDSHARE_ORDER_HORIZON_SLOTS": "2",
        "GRIDSHARE_PERIOD_SLOTS": str(PERIOD_SLOTS),
        "GRIDSHARE_READING_DEADLINE_SECONDS": "900",
        "GRIDSHARE_CHUNK_MEMBERS": str(CLOSE_CHUNK),
    }


@contextmanager
def sharing_scenario_chain(deployments_dir: Path) -> Iterator[DevChain]:
    with dev_chain(deployments_dir, chain_env(), node="anvil") as running:
        yield running


def run_sharing_scenario(chain: DevChain) -> tuple[Node, list[int]]:
    """The scenario (see the module's docstring); returns the node and the slots with readings."""
    community = SharingCommunity.with_members(chain, len(FLOWS))
    node, dso = community.node, community.account(0)
    terms = node.contract("Community").functions
    now = int(node.call(terms.currentSlot()))
    consumer, third = community.keys[1].address, community.keys[3].address
    node.transact(terms.scheduleSharingTerms(consumer, now + 3, 60, 0), dso)
    node.transact(terms.scheduleSharingTerms(third, now + 4, 50, 0), dso)
    node.transact(terms.scheduleSharingTerms(third, now + 6, 80, 0), dso)  # withdraws 50 %
    slots = [community.settle_slot(flows)[0] for flows in (FLOWS, SURPLUS, FLOWS, BIG_CONSUMER)]
    period = slots[0] // PERIOD_SLOTS
    last = (period + 1) * PERIOD_SLOTS - 1
    while int(node.call(node.contract("SharingSettlement").functions.nextSlot())) <= last:
        community.settle_slot([(0, 0)] * len(FLOWS))
    members = sorted((k.address for k in community.keys), key=lambda a: int(a, 16))
    profit = node.contract("ProfitSharing").functions
    for start in range(0, len(members), CLOSE_CHUNK):
        node.transact(profit.closePeriod(period, members[start : start + CLOSE_CHUNK]), dso)
    return node, slots


def main(out: str) -> None:
    with TemporaryDirectory() as tmp, sharing_scenario_chain(Path(tmp)) as chain:
        record(run_sharing_scenario(chain)[0], out)


if __name__ == "__main__":
    main(sys.argv[1])
