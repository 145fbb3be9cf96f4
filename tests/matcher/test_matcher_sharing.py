"""The matcher on a community deployed in the `sharing` mode (scripts/deploy.py with
GRIDSHARE_MARKET_MODE=sharing, two members a chunk): SharingStep settles the due slots, empty ones
and one with readings over two chunks (tally passes first), and the contract's events are the
pure rule's figures (chain.sharing.expected_rows, market.sharing.allocate)."""

from __future__ import annotations

from chain.gateway import ReadingsGateway
from chain.metering import word_member
from chain.sharing import expected_rows
from market.sharing import Key, SharingTariff
from tests.sharing import FLOWS, SharingCommunity


def test_the_matcher_settles_sharing_slots_by_the_rule(
    sharing_community: SharingCommunity,
) -> None:
    community = sharing_community
    node = community.node
    fns = node.contract("Community").functions
    assert int(node.call(fns.chunkCount())) == 3
    slot, block = community.settle_slot(FLOWS)

    words: dict[int, list[int]] = {}
    for word in ReadingsGateway(node).reading_words(slot, block):
        chunk = int(node.call(fns.chunkOf(word_member(word))))
        words.setdefault(chunk, []).append(word)
    t = [int(v) for v in node.call(fns.tariffAt(slot))]
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
