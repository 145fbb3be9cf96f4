"""The matcher's step for a community deployed in the `sharing` mode (SharingSettlement).

No orders: each slot, once its readings are in (every meter reported, or the reading deadline
passed), is settled per chunk from its committed reading words: the words of each chunk (from
the readings' events, in acceptance order), then, when the slot has several chunks, its tally
(every chunk in order, under the community totals computed here with the pure rule, which the
contract checks once every chunk is counted), then one `settle` per chunk (`settleTallied`,
from the figures the tally counted, when there are several). The contract checks everything;
the expectation the tests compare it with is chain.sharing.expected_rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property

from chain.gateway import CommunityGateway, Mined, ReadingsGateway, SharingGateway
from chain.metering import word_member
from chain.node import Node, Sender, TransactionReverted
from chain.sharing import TalliedChunk, allocate_slot, chunk_members, tallied_chunks
from market.sharing import Key
from matcher.readiness import meters_ready

log = logging.getLogger("gridshare.matcher.sharing")


class SharingStep:
    """Settles every due slot of a sharing deployment, in order."""

    def __init__(
        self, node: Node, sender: Sender, reading_words: Callable[[int], list[int]]
    ) -> None:
        """`reading_words`: a slot's reading words in acceptance order (the matcher's bounded
        query, matcher/floor.py)."""
        self.node = node
        self.sender = sender
        self.reading_words = reading_words
        self.community = CommunityGateway(node)
        self.readings = ReadingsGateway(node)
        self.sharing = SharingGateway(node)
        self._chunk_of: dict[str, int] = {}

    @cached_property
    def key(self) -> Key:
        """The deployment's allocation key (fixed at deployment: read once)."""
        return self.sharing.sharing_key()

    def chunk_of(self, member: str) -> int:
        chunk = self._chunk_of.get(member)
        if chunk is None:
            chunk = self.community.chunk_of(member)
            self._chunk_of[member] = chunk
        return chunk

    def words_by_chunk(self, slot: int) -> dict[int, list[int]]:
        """The slot's reading words per chunk, in acceptance order (the readings' events)."""
        out: dict[int, list[int]] = {}
        for word in self.reading_words(slot):
            out.setdefault(self.chunk_of(word_member(word)), []).append(word)
        return out

    def ready(self, slot: int, now: int) -> bool:
        """Whether `slot` may settle at `now` (the contract's own rule)."""
        delivered = self.community.slot_start(slot + 1)
        return meters_ready(self.sharing, self.readings, self.community, slot, delivered, now)

    @staticmethod
    def _gas(mined: Mined, what: str) -> int:
        log.debug("%s: gas=%d", what, mined.gas_used)
        return mined.gas_used

    def settle_slot(self, slot: int) -> dict[str, list[int]]:
        """Tally (if several chunks) and settle `slot`'s chunks not settled yet; the gas of
        each transaction by function."""
        chunks = self.sharing.chunks_in(slot)
        words = self.words_by_chunk(slot)
        args = {c: (chunk_members(words.get(c, [])), words.get(c, [])) for c in range(chunks)}
        gas: dict[str, list[int]] = {}
        pending = [c for c in range(chunks) if self.sharing.next_slot_of(c) == slot]
        tallied: list[TalliedChunk] = []
        if chunks > 1 and pending:
            terms: dict[str, tuple[int, int]] = {}
            for members, _ in args.values():
                found = self.community.sharing_terms_of(members, slot)
                terms.update(zip(members, found, strict=True))
            allocation = allocate_slot(words, terms, self.key)
            if pending == list(range(chunks)):
                self._tally(slot, allocation.totals(), args, gas)
            tallied = tallied_chunks(allocation, words, terms, chunks)
        for c in pending:
            try:
                if tallied:
                    mined = self.sharing.settle_tallied(slot, c, tallied[c], sender=self.sender)
                else:
                    mined = self.sharing.settle(slot, c, *args[c], sender=self.sender)
            except TransactionReverted as exc:
                if exc.error == "SharingOutOfOrder":  # another submission settled it first
                    continue
                raise
            gas.setdefault("settle", []).append(self._gas(mined, f"settle {slot}/{c}"))
        log.info("slot %d sharing settled: chunks=%d gas=%s", slot, chunks, gas)
        return gas

    def _tally(
        self,
        slot: int,
        totals: int,
        args: dict[int, tuple[list[str], list[int]]],
        gas: dict[str, list[int]],
    ) -> None:
        """Count every chunk of a multi-chunk `slot` into its tally under `totals`, the pure
        rule's, resuming a tally begun under them (a restarted matcher)."""
        state = self.sharing.tally_of(slot)
        if state.complete:
            return
        first = state.next_chunk if state.claimed == totals else 0
        for c in range(first, len(args)):
            try:
                mined = self.sharing.tally(slot, c, totals, *args[c], sender=self.sender)
            except TransactionReverted as exc:
                # Another submission counted it: the contract's state decides.
                if exc.error in ("SharingTallyOutOfOrder", "SharingTallyNotNeeded"):
                    continue
                raise
            gas.setdefault("tally", []).append(self._gas(mined, f"tally {slot}/{c}"))

    def run_once(self) -> list[int]:
        """Settle every due slot in order; returns the slots settled."""
        done: list[int] = []
        now = self.node.block_timestamp()
        while True:
            slot = self.sharing.next_slot()
            if not self.ready(slot, now):
                return done
            self.settle_slot(slot)
            done.append(slot)
