"""The matcher on a community deployed in the `sharing` mode (scripts/deploy.py with
GRIDSHARE_MARKET_MODE=sharing, two members a chunk): SharingStep settles the due slots, empty ones
and one with readings over three chunks (its tally first), and the contract's events are the
pure rule's figures (chain.sharing.expected_rows, market.sharing.allocate)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chain.gateway import ReadingsGateway, SharingGateway
from chain.metering import word_member
from chain.sharing import allocate_slot, chunk_members, expected_rows
from chain.signing import ReadingSpan, reading_span_typed_data, sign_typed_data
from market.sharing import Key, SharingTariff
from matcher.service import Matcher
from tests.sharing import FLOWS, SharingCommunity, meter_id


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
    # The tally: each chunk once, in order, under the rule's community totals.
    tallied = node.events("SharingSettlement", "SharingTallied", from_block=block)
    assert [e["args"]["chunk"] for e in tallied] == [0, 1, 2]
    allocation = allocate_slot(words, {}, Key.DYNAMIC).allocation
    assert {
        (e["args"]["productionWh"], e["args"]["demandWh"], e["args"]["allocatedWh"])
        for e in tallied
    } == {
        (
            allocation.community_production_wh,
            allocation.community_demand_wh,
            allocation.allocated_wh,
        )
    }


def _tally_chunk_0(off_by: int) -> Callable[[Matcher, int], None]:
    """A hook for SharingCommunity.settle_slot: chunk 0 counted into the slot's tally before the
    matcher runs, under the rule's totals with E off by `off_by` Wh (a submission that crashed
    after its first chunk, or one that named wrong totals)."""

    def count(matcher: Matcher, slot: int) -> None:
        step = matcher.sharing_step
        assert step is not None
        words = step.words_by_chunk(slot)
        members = {c: chunk_members(w) for c, w in words.items()}
        terms = {
            m: t
            for ms in members.values()
            for m, t in zip(ms, step.community.sharing_terms_of(ms, slot), strict=True)
        }
        totals = allocate_slot(words, terms, Key.DYNAMIC).totals() + off_by
        step.sharing.tally(slot, 0, totals, members[0], words[0], sender=step.sender)

    return count


@pytest.mark.parametrize(
    ("off_by", "chunks"),
    [(0, [0, 1, 2]), (1, [0, 0, 1, 2])],
    ids=["resumed-under-its-totals", "started-again-under-wrong-totals"],
)
def test_the_matcher_finishes_a_tally_another_submission_began(
    sharing_community: SharingCommunity, off_by: int, chunks: list[int]
) -> None:
    """A tally begun under the rule's totals is resumed (chunk 0 not counted twice); one begun
    under wrong totals is started again from chunk 0 under the rule's."""
    node = sharing_community.node
    slot, block = sharing_community.settle_slot(FLOWS, _tally_chunk_0(off_by))
    tallied = node.events("SharingSettlement", "SharingTallied", from_block=block)
    assert [e["args"]["chunk"] for e in tallied] == chunks
    named = {e["args"]["productionWh"] for e in tallied}
    assert len(named) == 1 + (off_by != 0)  # a wrong E first, if any, then the rule's
    tally = SharingGateway(node).tally_of(slot)
    assert tally.complete and tally.claimed & ((1 << 64) - 1) == min(named)


def _signed_spans(
    community: SharingCommunity, first: int, flows: list[list[tuple[int, int]]]
) -> tuple[list[ReadingSpan], list[bytes]]:
    """`flows[k][i]`: member i's (import, export) Wh in slot `first + k`, signed by each meter
    as one span, except member 1's: its first slot alone, then the rest (two spans of one meter
    in the batch, so that slot `first + 1` takes member 1's reading before the others')."""
    node = community.node
    verifying = ReadingsGateway(node).address
    spans: list[ReadingSpan] = []
    signatures: list[bytes] = []
    for i, key in enumerate(community.keys):
        energy = tuple(slot_flows[i] for slot_flows in flows)
        seq = community.sequence + 1
        parts = [(0, energy[:1]), (1, energy[1:])] if i == 1 else [(0, energy)]
        for offset, part in parts:
            span = ReadingSpan(meter_id(i), first + offset, seq + offset, part)
            typed = reading_span_typed_data(span, node.manifest.chain_id, verifying)
            spans.append(span)
            signatures.append(sign_typed_data(typed, key.key))
    return spans, signatures


def test_spans_settle_from_words_read_once_and_read_again_after_a_reorganisation(
    sharing_community: SharingCommunity,
) -> None:
    """A batch of spans over three slots: the gateway gives each slot's words in the contract's
    commit order (the settlement, which checks them against the commitments, goes through), and
    the span events it keeps are dropped when the chain reorganises under them (a different
    batch mined at the same height after a revert)."""
    community = sharing_community
    node = community.node
    fns = node.contract("Community").functions
    sharing = node.contract("SharingSettlement").functions
    deadline = int(node.call(sharing.readingDeadlineSeconds()))
    first = int(node.call(fns.currentSlot())) + 1
    node.make_request("evm_mine", [int(node.call(fns.slotStart(first))) + deadline + 1])
    community.matcher.run_once()  # the empty slots before `first`
    assert int(node.call(sharing.nextSlot())) == first
    node.make_request(
        "evm_mine", [max(node.block_timestamp(), int(node.call(fns.slotStart(first + 3)))) + 1]
    )
    gateway, oracle = ReadingsGateway(node), community.account(1)
    block = node.block_number() + 1
    snapshot = node.make_request("evm_snapshot", [])
    orphaned = [[(f[0] + 1, f[1]) for f in FLOWS]] * 3
    gateway.submit_reading_spans(*_signed_spans(community, first, orphaned), sender=oracle)
    height = node.block_number()
    assert word_member(gateway.reading_words(first + 1, block)[0]) == community.keys[1].address
    assert node.make_request("evm_revert", [snapshot]) is True
    flows = [[(imp + 10 * k, exp + 5 * k) for imp, exp in FLOWS] for k in range(3)]
    spans, signatures = _signed_spans(community, first, flows)
    gateway.submit_reading_spans(spans, signatures, sender=oracle)
    assert node.block_number() == height  # the same height, another block
    community.sequence += 3
    for k in range(3):
        words = gateway.reading_words(first + k, block)
        members = [word_member(w) for w in words]
        energies = [((w >> 160) & (2**48 - 1), w >> 208) for w in words]
        assert dict(zip(members, energies, strict=True)) == {
            key.address: flows[k][i] for i, key in enumerate(community.keys)
        }
        # Member 1's second span starts at first + 1: it comes first there and in first + 2.
        assert (members[0] == community.keys[1].address) == (k > 0)
    community.matcher.run_once()
    assert int(node.call(sharing.nextSlot())) == first + 3  # the contract took the words
