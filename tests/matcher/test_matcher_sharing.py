"""The matcher on a community deployed in the `sharing` mode (scripts/deploy.py with
GRIDSHARE_MARKET_MODE=sharing, two members a chunk): SharingStep settles the due slots, empty ones
and one with readings over two chunks (tally passes first), and the contract's events are the
pure rule's figures (chain.sharing.expected_rows, market.sharing.allocate)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from chain.devchain import dev_chain
from chain.metering import pack_reading_word
from chain.node import Node, Sender
from chain.sharing import expected_rows
from chain.signing import Reading, reading_typed_data, sign_typed_data
from gridshare.settings import Settings
from market.sharing import Key, SharingTariff
from matcher.service import Matcher

EUR = 10**9
FLOWS = [(0, 900), (700, 0), (0, 120), (333, 0), (500, 0)]
"""(import, export) Wh of each member: E = 1,020 < D = 1,533, leftovers on both sides."""


@pytest.fixture(scope="module")
def sharing_node() -> Iterator[Node]:
    env = {"GRIDSHARE_MARKET_MODE": "sharing", "GRIDSHARE_CHUNK_MEMBERS": "2"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        dev_chain(Path(tmp), env, node="anvil") as chain,
    ):
        yield Node.from_settings(chain.network_id, Settings(deployments_dir=Path(tmp)))


def test_the_matcher_settles_sharing_slots_by_the_rule(sharing_node: Node) -> None:
    node = sharing_node
    dso, oracle, matcher_account = (str(a) for a in node.w3.eth.accounts[:3])
    community = node.contract("Community").functions
    token = node.contract("EnergyToken").functions
    readings = node.contract("MeterReadings")
    sharing = node.contract("SharingSettlement").functions
    keys = [Account.from_key("0x" + f"{i + 1:02x}" * 32) for i in range(len(FLOWS))]
    for i, key in enumerate(keys):
        node.transact(community.registerMember(key.address, 2, 0), Sender(dso))
        meter = f"sharing-meter-{i}".encode().ljust(32, b"\0")
        node.transact(community.registerMeter(meter, key.address, key.address), Sender(dso))
        node.transact(
            token.topUp(key.address, 100 * EUR, f"share-{i}".encode().ljust(32, b"\0")),
            Sender(dso),
        )
    supply = node.call(community.supplyAccount())
    node.transact(token.topUp(supply, 1000 * EUR, b"share-supply".ljust(32, b"\0")), Sender(dso))
    assert int(node.call(community.chunkCount())) == 3

    matcher = Matcher(node, Sender(matcher_account))
    deadline = int(node.call(sharing.readingDeadlineSeconds()))
    slot = int(node.call(community.currentSlot())) + 1
    node.make_request("evm_mine", [int(node.call(community.slotStart(slot))) + deadline + 1])
    assert matcher.run_once() == []
    assert int(node.call(sharing.nextSlot())) == slot  # the empty slots before it settled

    assert node.block_timestamp() > int(node.call(community.slotStart(slot + 1)))  # delivered
    batch, signatures = [], []
    for i, (key, (imp, exp)) in enumerate(zip(keys, FLOWS, strict=True)):
        r = Reading(f"sharing-meter-{i}".encode().ljust(32, b"\0"), slot, imp, exp, 1)
        batch.append(r.as_tuple())
        signatures.append(
            sign_typed_data(
                reading_typed_data(r, node.manifest.chain_id, readings.address), key.key
            )
        )
    block = node.w3.eth.block_number + 1
    node.transact(readings.functions.submitReadings(batch, signatures), Sender(oracle))
    matcher.run_once()
    assert int(node.call(sharing.nextSlot())) == slot + 1

    words: dict[int, list[int]] = {}
    for e in node.events("MeterReadings", "ReadingAccepted", from_block=block):
        a = e["args"]
        chunk = int(node.call(community.chunkOf(a["member"])))
        words.setdefault(chunk, []).append(
            pack_reading_word(a["member"], a["importWh"], a["exportWh"])
        )
    t = [int(v) for v in node.call(community.tariffAt(slot))]
    tariff = SharingTariff(t[9], t[0], t[2], t[1], t[3], t[4], t[5])
    expected = expected_rows(words, {}, Key.DYNAMIC, tariff)
    events = node.events("SharingSettlement", "SharingSettled", from_block=block)
    assert len(events) == len(FLOWS)
    for e in events:
        a, x = e["args"], expected[e["args"]["member"]]
        assert (
            a["allotmentWh"],
            a["allocatedWh"],
            a["creditedWh"],
            a["charged"],
            a["paid"],
            a["bauCost"],
        ) == (x.allotment_wh, x.allocated_wh, x.credited_wh, x.charged, x.paid, x.bau_cost)
    assert len(node.events("SharingSettlement", "SharingTallied", from_block=block)) == 6
