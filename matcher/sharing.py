"""The matcher's step for a community deployed in the `sharing` mode (SharingSettlement).

No orders: each slot, once its readings are in (every meter reported, or the reading deadline
passed), is settled per chunk from its committed reading words: the words of each chunk (from
the ReadingAccepted events, in acceptance order), then, when the slot has several chunks, the
tally passes (every chunk in order, `passes()` times), then one `settle` per chunk. The contract
checks everything; the expectation the tests compare it with is chain.sharing.expected_rows.
"""

from __future__ import annotations

import logging
from typing import Any

from chain.metering import pack_reading_word, word_member
from chain.node import Node, Sender, TransactionReverted
from chain.sharing import chunk_members

log = logging.getLogger("gridshare.matcher.sharing")


class SharingStep:
    """Settles every due slot of a sharing deployment, in order."""

    def __init__(self, node: Node, sender: Sender) -> None:
        self.node = node
        self.sender = sender
        self.community = node.contract("Community")
        self.readings = node.contract("MeterReadings")
        self.sharing = node.contract("SharingSettlement")
        self._chunk_of: dict[str, int] = {}

    def chunk_of(self, member: str) -> int:
        chunk = self._chunk_of.get(member)
        if chunk is None:
            chunk = int(self.node.call(self.community.functions.chunkOf(member)))
            self._chunk_of[member] = chunk
        return chunk

    def words_by_chunk(self, slot: int) -> dict[int, list[int]]:
        """The slot's reading words per chunk, in acceptance order (ReadingAccepted events)."""
        logs = self.node.events(
            "MeterReadings",
            "ReadingAccepted",
            from_block=self.node.manifest.deployed_at_block,
            argument_filters={"slot": slot},
        )
        out: dict[int, list[int]] = {}
        for e in logs:
            a = e["args"]
            word = pack_reading_word(a["member"], a["importWh"], a["exportWh"])
            out.setdefault(self.chunk_of(word_member(word)), []).append(word)
        return out

    def ready(self, slot: int, now: int) -> bool:
        """Whether `slot` may settle at `now` (the contract's own rule)."""
        fns = self.community.functions
        delivered = int(self.node.call(fns.slotStart(slot + 1)))
        if now < delivered:
            return False
        count, _ = self.node.call(self.readings.functions.slotReadings(slot))
        meters = int(self.node.call(fns.meterCount()))
        deadline = int(self.node.call(self.sharing.functions.readingDeadlineSeconds()))
        return int(count) >= meters or now >= delivered + deadline

    def _send(self, call: Any, what: str) -> int:
        receipt = self.node.transact(call, self.sender, gas=self.node.block_gas_limit())
        log.debug("%s: gas=%d", what, receipt["gasUsed"])
        return int(receipt["gasUsed"])

    def settle_slot(self, slot: int) -> dict[str, list[int]]:
        """Tally (if several chunks) and settle `slot`'s chunks not settled yet; the gas of
        each transaction by function."""
        fns = self.sharing.functions
        chunks = int(self.node.call(fns.chunksIn(slot)))
        words = self.words_by_chunk(slot)
        args = {c: (chunk_members(words.get(c, [])), words.get(c, [])) for c in range(chunks)}
        gas: dict[str, list[int]] = {}
        pending = [c for c in range(chunks) if int(self.node.call(fns.nextSlotOf(c))) == slot]
        if chunks > 1 and pending == list(range(chunks)):
            for p in range(int(self.node.call(fns.passes()))):
                for c in range(chunks):
                    try:
                        g = self._send(fns.tally(slot, c, *args[c]), f"tally {slot}/{c}/{p}")
                    except TransactionReverted as exc:
                        # Another submission ran this pass: the contract's state decides.
                        if exc.error in ("SharingTallyOutOfOrder", "SharingTallyNotNeeded"):
                            continue
                        raise
                    gas.setdefault("tally", []).append(g)
        for c in pending:
            try:
                g = self._send(fns.settle(slot, c, *args[c]), f"settle {slot}/{c}")
            except TransactionReverted as exc:
                if exc.error == "SharingOutOfOrder":  # another submission settled it first
                    continue
                raise
            gas.setdefault("settle", []).append(g)
        log.info("slot %d sharing settled: chunks=%d gas=%s", slot, chunks, gas)
        return gas

    def run_once(self) -> list[int]:
        """Settle every due slot in order; returns the slots settled."""
        done: list[int] = []
        now = self.node.block_timestamp()
        while True:
            slot = int(self.node.call(self.sharing.functions.nextSlot()))
            if not self.ready(slot, now):
                return done
            self.settle_slot(slot)
            done.append(slot)
