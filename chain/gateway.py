"""The deployment's contracts as typed Python: one small class per contract, whose methods are the
reads (views and events) and writes the services make, in Python values (ints, bools, lists and
dataclasses, never ABI tuples or web3 types). Nothing outside chain/ names a contract method.

Each class holds the contract's handle (`contract`, built with the class, so a contract the
deployment lacks fails there with NodeError) and goes through `Node`: `Node.call` for views,
`Node.transact` for writes, which raise TransactionReverted with the custom error's name. A write
takes its sender and returns what was mined (`Mined`). The settlements are sent with the latest
block's gas limit and no estimate: ganache re-executes a transaction many times to estimate it
(over 30 s for a 1,000-order settlement), and unused gas is not charged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from chain.codec import MODE_NAMES, decode_rules
from chain.flexibility import FlexRequest
from chain.metering import pack_reading_word
from chain.node import ContractCall, ContractHandle, Node, Receipt, Sender
from chain.submission import Submission
from market.intents import Holder
from market.tariff import SlotRules


@dataclass(frozen=True, slots=True)
class Mined:
    """A mined, successful transaction: its hash (0x-hex) and the gas it used."""

    tx_hash: str
    gas_used: int

    @classmethod
    def of(cls, receipt: Receipt) -> Mined:
        return cls("0x" + bytes(receipt["transactionHash"]).hex(), int(receipt["gasUsed"]))


class _Contract:
    """One contract of the deployment manifest, named by the subclass."""

    NAME: str

    def __init__(self, node: Node) -> None:
        self.node = node
        self.contract: ContractHandle = node.contract(self.NAME)

    def _send_at_gas_limit(self, fn: ContractCall, sender: Sender) -> Receipt:
        """Send `fn` without a gas estimate, with the latest block's gas limit."""
        return self.node.transact(fn, sender, gas=self.node.block_gas_limit())


class CommunityGateway(_Contract):
    """Community: the calendar, the meters, the settlement chunks and the tariffs."""

    NAME = "Community"

    def chunk_of(self, member: str) -> int:
        """`member`'s settlement chunk (fixed by its registration)."""
        return int(self.node.call(self.contract.functions.chunkOf(member)))

    def chunk_count(self) -> int:
        return int(self.node.call(self.contract.functions.chunkCount()))

    def meter_count(self) -> int:
        """Registered meters (a slot's readings are complete when this many have reported)."""
        return int(self.node.call(self.contract.functions.meterCount()))

    def gate_closure(self, slot: int) -> int:
        """Unix seconds at which `slot`'s gate closes."""
        return int(self.node.call(self.contract.functions.gateClosure(slot)))

    def slot_start(self, slot: int) -> int:
        """Unix seconds at which delivery of `slot` begins."""
        return int(self.node.call(self.contract.functions.slotStart(slot)))

    def rules_at(self, slot: int) -> SlotRules:
        """The tariff and clearing mode in force for `slot` (`tariffAt`, decoded)."""
        return decode_rules(self.node.call(self.contract.functions.tariffAt(slot)))


class ReadingsGateway(_Contract):
    """MeterReadings: the readings accepted for each slot."""

    NAME = "MeterReadings"

    def reading_count(self, slot: int) -> int:
        """How many readings `slot` has accepted (`slotReadings`' count)."""
        count, _ = self.node.call(self.contract.functions.slotReadings(slot))
        return int(count)

    def reading_words(self, slot: int) -> list[int]:
        """The slot's reading words in acceptance order, from its ReadingAccepted events."""
        logs = self.node.events(
            self.NAME,
            "ReadingAccepted",
            from_block=self.node.manifest.deployed_at_block,
            argument_filters={"slot": slot},
        )
        return [
            pack_reading_word(e["args"]["member"], e["args"]["importWh"], e["args"]["exportWh"])
            for e in logs
        ]


@dataclass(frozen=True, slots=True)
class BookLimits:
    """OrderBook's limits on orders, which a settlement's intents must respect too."""

    min_order_wh: int
    max_per_member_slot: int
    max_per_slot: int


class OrderBookGateway(_Contract):
    """OrderBook: the direct orders of each slot."""

    NAME = "OrderBook"

    def slot_book(self, slot: int) -> list[int]:
        """The slot's direct order words, in id order."""
        return [int(w) for w in self.node.call(self.contract.functions.slotBook(slot))]

    def slot_order_ids(self, slot: int) -> list[int]:
        """The ids of the slot's direct orders, aligned with `slot_book`."""
        return [int(i) for i in self.node.call(self.contract.functions.slotOrderIds(slot))]

    def limits(self) -> BookLimits:
        fns = self.contract.functions
        return BookLimits(
            min_order_wh=int(self.node.call(fns.minOrderWh())),
            max_per_member_slot=int(self.node.call(fns.maxOrdersPerMemberSlot())),
            max_per_slot=int(self.node.call(fns.maxOrdersPerSlot())),
        )


@dataclass(frozen=True, slots=True)
class SlotClearing:
    """`Settlement.clearingOf`: whether a slot is settled, and how it cleared (mode name,
    price, volume; the defaults while it is not settled)."""

    settled: bool
    mode: str
    price: int
    volume_wh: int


@dataclass(frozen=True, slots=True)
class SlotSettledEvent:
    """The arguments of a slot's SlotSettled event the matcher needs: the fills of its book
    (direct orders, then intents) and the intents it carried (order words and ids)."""

    fills: list[int]
    intent_words: list[int]
    intent_ids: list[int]


class SettlementGateway(_Contract):
    """Settlement: the trades of each slot, settled strictly in order."""

    NAME = "Settlement"

    def first_slot(self) -> int:
        return int(self.node.call(self.contract.functions.firstSlot()))

    def next_slot(self) -> int:
        """The next slot to settle."""
        return int(self.node.call(self.contract.functions.nextSlot()))

    def clearing_of(self, slot: int) -> SlotClearing:
        settled, mode, price, volume = self.node.call(self.contract.functions.clearingOf(slot))
        return SlotClearing(bool(settled), MODE_NAMES[int(mode)], int(price), int(volume))

    def holders(self, members: Sequence[str]) -> list[Holder]:
        """Each member's role, nonce epoch and spendable balance, aligned with `members`."""
        checksummed = [to_checksum_address(m) for m in members]
        roles, epochs, spendable = self.node.call(self.contract.functions.holders(checksummed))
        return [
            Holder(int(r), int(e), int(b)) for r, e, b in zip(roles, epochs, spendable, strict=True)
        ]

    def settled_event(self, slot: int) -> SlotSettledEvent:
        """The settled `slot`'s SlotSettled event (ValueError unless there is exactly one)."""
        (event,) = self.node.events(
            self.NAME,
            "SlotSettled",
            from_block=self.node.manifest.deployed_at_block,
            argument_filters={"slot": slot},
        )
        args = event["args"]
        return SlotSettledEvent(
            [int(f) for f in args["fills"]],
            [int(w) for w in args["intentWords"]],
            [int(i) for i in args["intentIds"]],
        )

    def settle_slot(self, slot: int, submission: Submission, *, sender: Sender) -> Mined:
        """Settle `slot` with `submission` (at the gas limit: see the module)."""
        fn = self.contract.functions.settleSlot(slot, *submission.args())
        return Mined.of(self._send_at_gas_limit(fn, sender))


class ImbalanceGateway(_Contract):
    """ImbalanceSettlement: each (slot, chunk) settled against the meters, in order per chunk."""

    NAME = "ImbalanceSettlement"

    def next_slot(self) -> int:
        """The first slot not yet settled for every chunk."""
        return int(self.node.call(self.contract.functions.nextSlot()))

    def next_slot_of(self, chunk: int) -> int:
        return int(self.node.call(self.contract.functions.nextSlotOf(chunk)))

    def reading_deadline_seconds(self) -> int:
        """Seconds after delivery after which a slot settles with the readings it has."""
        return int(self.node.call(self.contract.functions.readingDeadlineSeconds()))

    def settle_imbalance(
        self,
        slot: int,
        chunk: int,
        members: Sequence[str],
        reading_words: Sequence[int],
        trade_words: Sequence[int],
        *,
        sender: Sender,
    ) -> Mined:
        """Settle the chunk's members of `slot` against their readings (at the gas limit)."""
        fn = self.contract.functions.settleImbalance(
            slot, chunk, list(members), list(reading_words), list(trade_words)
        )
        return Mined.of(self._send_at_gas_limit(fn, sender))


@dataclass(frozen=True, slots=True)
class FlexSettlement:
    """A settled flexibility request: the transaction, and its FlexSettled event's payments and
    penalties (0 if it emitted none)."""

    mined: Mined
    paid: int
    penalties: int


class FlexibilityGateway(_Contract):
    """Flexibility: the DSO's requests, the members' offers, acceptance and settlement."""

    NAME = "Flexibility"

    def request_count(self) -> int:
        return int(self.node.call(self.contract.functions.requestCount()))

    def request_of(self, request_id: int) -> FlexRequest:
        return FlexRequest.from_call(
            request_id, self.node.call(self.contract.functions.requestOf(request_id))
        )

    def offers_of(self, request_id: int) -> list[int]:
        """The request's offer words (`chain.flexibility.decode_offers` reads them)."""
        return [int(w) for w in self.node.call(self.contract.functions.offersOf(request_id))]

    def lookback_days(self) -> int:
        return int(self.node.call(self.contract.functions.lookbackDays()))

    def accept_offers(self, request_id: int, accepted: Sequence[int], *, sender: Sender) -> Mined:
        """Accept Wh of each offer, aligned with `offers_of` (gas estimated)."""
        fn = self.contract.functions.acceptOffers(request_id, list(accepted))
        return Mined.of(self.node.transact(fn, sender))

    def settle_request(
        self,
        request_id: int,
        accepted: Sequence[int],
        offer_indexes: Sequence[int],
        words: Sequence[int],
        counts: Sequence[int],
        *,
        sender: Sender,
    ) -> FlexSettlement:
        """Settle the request from its segments' reading words (at the gas limit)."""
        fn = self.contract.functions.settleRequest(
            request_id, list(accepted), list(offer_indexes), list(words), list(counts)
        )
        receipt = self._send_at_gas_limit(fn, sender)
        settled = [
            e
            for e in self.node.decode_logs(receipt["logs"])
            if e.contract == self.NAME and e.name == "FlexSettled"
        ]
        paid = int(settled[0].args["paid"]) if settled else 0
        penalties = int(settled[0].args["penalties"]) if settled else 0
        return FlexSettlement(Mined.of(receipt), paid, penalties)


class SharingGateway(_Contract):
    """SharingSettlement: each (slot, chunk) shared and settled from the readings, in order."""

    NAME = "SharingSettlement"

    def next_slot(self) -> int:
        """The first slot not yet settled for every chunk."""
        return int(self.node.call(self.contract.functions.nextSlot()))

    def next_slot_of(self, chunk: int) -> int:
        return int(self.node.call(self.contract.functions.nextSlotOf(chunk)))

    def chunks_in(self, slot: int) -> int:
        """How many chunks `slot` settles in."""
        return int(self.node.call(self.contract.functions.chunksIn(slot)))

    def passes(self) -> int:
        """How many tally passes over every chunk a slot of several chunks needs."""
        return int(self.node.call(self.contract.functions.passes()))

    def reading_deadline_seconds(self) -> int:
        """Seconds after delivery after which a slot settles with the readings it has."""
        return int(self.node.call(self.contract.functions.readingDeadlineSeconds()))

    def tally(
        self,
        slot: int,
        chunk: int,
        members: Sequence[str],
        reading_words: Sequence[int],
        *,
        sender: Sender,
    ) -> Mined:
        """One chunk's turn of a tally pass (at the gas limit)."""
        fn = self.contract.functions.tally(slot, chunk, list(members), list(reading_words))
        return Mined.of(self._send_at_gas_limit(fn, sender))

    def settle(
        self,
        slot: int,
        chunk: int,
        members: Sequence[str],
        reading_words: Sequence[int],
        *,
        sender: Sender,
    ) -> Mined:
        """Settle the chunk's members of `slot` (at the gas limit)."""
        fn = self.contract.functions.settle(slot, chunk, list(members), list(reading_words))
        return Mined.of(self._send_at_gas_limit(fn, sender))
