"""A community deployed in the `sharing` mode on a real dev chain, for every test directory that
needs one (the matcher's, the index's, the allocation export's): its members registered with a
meter each, and a slot settled by the matcher from meter-signed readings."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.devchain import DevChain, dev_chain
from chain.node import Node, Sender
from chain.signing import Reading, reading_typed_data, sign_typed_data
from gridshare.settings import Settings
from matcher.service import Matcher

EUR = 10**9
SHARING_ENV = {"GRIDSHARE_MARKET_MODE": "sharing", "GRIDSHARE_CHUNK_MEMBERS": "2"}
"""Two members a chunk, so a handful of members spans several chunks (a tally first)."""
FLOWS = [(0, 900), (700, 0), (0, 120), (333, 0), (500, 0)]
"""(import, export) Wh of each member: E = 1,020 < D = 1,533, leftovers on both sides."""


@contextmanager
def sharing_chain(directory: Path) -> Iterator[DevChain]:
    """Anvil on a free port with a community deployed in the `sharing` mode."""
    with dev_chain(directory, SHARING_ENV, node="anvil") as chain:
        yield chain


def meter_id(i: int) -> bytes:
    return f"sharing-meter-{i}".encode().ljust(32, b"\0")


@dataclass
class SharingCommunity:
    """A sharing deployment and the members registered on it (accounts 0, 1, 2 of the node are
    the DSO, the oracle and the matcher, as scripts/deploy.py sets them on a dev chain)."""

    chain: DevChain
    node: Node
    keys: list[LocalAccount]
    sequence: int = field(default=0)  # the meters' last reading sequence

    @classmethod
    def with_members(cls, chain: DevChain, count: int) -> SharingCommunity:
        """Register `count` members (each with one meter, its own key as the meter's signer)
        and fund them and the supply account."""
        node = Node.from_settings(chain.network_id, Settings(deployments_dir=chain.deployments_dir))
        keys = [Account.from_key("0x" + f"{i + 1:02x}" * 32) for i in range(count)]
        registered = cls(chain, node, keys)
        dso = registered.account(0)
        community = node.contract("Community").functions
        token = node.contract("EnergyToken").functions
        for i, key in enumerate(keys):
            node.transact(community.registerMember(key.address, 2, 0), dso)
            node.transact(community.registerMeter(meter_id(i), key.address, key.address), dso)
            node.transact(
                token.topUp(key.address, 100 * EUR, f"share-{i}".encode().ljust(32, b"\0")), dso
            )
        supply = node.call(community.supplyAccount())
        node.transact(token.topUp(supply, 1000 * EUR, b"share-supply".ljust(32, b"\0")), dso)
        return registered

    def account(self, index: int) -> Sender:
        """The node's account `index` (0 DSO, 1 oracle, 2 matcher) as a sender."""
        return Sender(str(list(self.node.w3.eth.accounts)[index]))

    @property
    def matcher(self) -> Matcher:
        return Matcher(self.node, self.account(2))

    def room_in_the_day(self, slots: int) -> None:
        """Unless `slots` more slots fit in the current day (days counted in slots from genesis,
        as the dashboard groups them), move the chain to the next day's first slot: slots settled
        next then fall in one day whatever the time of day the test runs at."""
        community = self.node.contract("Community").functions
        per_day = 86_400 // int(self.node.call(community.slotSeconds()))
        current = int(self.node.call(community.currentSlot()))
        if current % per_day + slots >= per_day:
            first = current + per_day - current % per_day
            self.node.make_request("evm_mine", [int(self.node.call(community.slotStart(first)))])

    def settle_slot(
        self,
        flows: Sequence[tuple[int, int]],
        before_settle: Callable[[Matcher, int], None] | None = None,
    ) -> tuple[int, int]:
        """Settle the slots up to the next one empty, then the next one with each member's
        (import, export) Wh read by its meter (`before_settle(matcher, slot)` runs between its
        readings and its settlement); returns that slot and the first block of its readings."""
        node, matcher = self.node, self.matcher
        community = node.contract("Community").functions
        readings = node.contract("MeterReadings")
        sharing = node.contract("SharingSettlement").functions
        deadline = int(node.call(sharing.readingDeadlineSeconds()))
        slot = int(node.call(community.currentSlot())) + 1
        node.make_request("evm_mine", [int(node.call(community.slotStart(slot))) + deadline + 1])
        assert matcher.run_once() == []
        assert int(node.call(sharing.nextSlot())) == slot  # the empty slots before it settled
        assert node.block_timestamp() > int(node.call(community.slotStart(slot + 1)))
        self.sequence += 1
        batch, signatures = [], []
        for i, (key, (imp, exp)) in enumerate(zip(self.keys, flows, strict=True)):
            r = Reading(meter_id(i), slot, imp, exp, self.sequence)
            batch.append(r.as_tuple())
            signatures.append(
                sign_typed_data(
                    reading_typed_data(r, node.manifest.chain_id, readings.address), key.key
                )
            )
        block = node.w3.eth.block_number + 1
        node.transact(readings.functions.submitReadings(batch, signatures), self.account(1))
        if before_settle is not None:
            before_settle(matcher, slot)
        matcher.run_once()
        assert int(node.call(sharing.nextSlot())) == slot + 1
        return slot, block
