"""The deployment's contracts as typed Python: one small class per contract, whose methods are the
reads (views and events) and writes the services make, in Python values (ints, bools, lists and
dataclasses, never ABI tuples or web3 types). Nothing outside chain/ names a contract method.

Each class holds the contract's handle (`contract`, built with the class, so a contract the
deployment lacks fails there with NodeError) and goes through `Node`: `Node.call` for views,
`Node.transact` for writes, which raise TransactionReverted with the custom error's name. A write
takes its sender (keyword-only) and `Node.transact`'s options (`TxOptions`: `gas`, which skips
the estimate, `nonce`, for a caller that counts its account's nonces itself, and `on_signed`),
and returns what was mined (`Mined`). A
`*_call` method builds a write without sending it, for the benchmarks that send many at once
(`Node.transact_many`) or sign without sending. The settlements are sent with the latest
block's gas limit and no estimate: ganache re-executes a transaction many times to estimate it
(over 30 s for a 1,000-order settlement), and unused gas is not charged.

The node may be a wrapper that changes how the views are read, never what: `chain.node.at_block`
reads them at one past block (the audit), api/view.py caches them per head block (the API).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from typing import Any, Generic, TypedDict, TypeVar, Unpack

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chain.codec import (
    MODE_NAMES,
    ROLE_CODES,
    ROLE_NAMES,
    SIDE_CODES,
    decode_rules,
    encode_rules,
    pack_transfer,
)
from chain.events import camel_case, event_record
from chain.flexibility import FlexRequest
from chain.metering import ImbalanceEntry, pack_reading_word
from chain.node import ContractCall, ContractHandle, Node, NodeError, Receipt, Sender
from chain.sharing import SHARING_KEY_CODES, TalliedChunk, sharing_terms
from chain.signing import (
    FlexOfferIntent,
    OrderIntent,
    Reading,
    ReadingSpan,
    commit_order,
    slot_order,
)
from chain.submission import Submission
from market.intents import Holder
from market.sharing import Key
from market.tariff import SlotRules

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Mined:
    """A mined, successful transaction: its hash (0x-hex), the gas it used and its block."""

    tx_hash: str
    gas_used: int
    block_number: int

    @classmethod
    def of(cls, receipt: Receipt) -> Mined:
        return cls(
            "0x" + bytes(receipt["transactionHash"]).hex(),
            int(receipt["gasUsed"]),
            int(receipt["blockNumber"]),
        )


class TxOptions(TypedDict, total=False):
    """A write's options, those of `Node.transact` (None is the same as left out)."""

    gas: int | None
    nonce: int | None
    on_signed: Callable[[str], None] | None


class _Getter(Generic[T]):
    """An argument-free view of the gateway's contract, read as a method of the gateway:
    `genesis = _Getter(int, "doc")` reads `genesis()` (the contract function is the attribute's
    name in camelCase unless `fn` names it) and converts the answer with `kind`."""

    def __init__(self, kind: Callable[[Any], T], doc: str = "", fn: str = "") -> None:
        self._kind = kind
        self._fn = fn
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self._fn = self._fn or camel_case(name)

    def __get__(self, gateway: _Contract, owner: type | None = None) -> Callable[[], T]:
        def read() -> T:
            return self._kind(gateway.node.call(gateway.contract.functions[self._fn]()))

        read.__doc__ = self.__doc__
        return read


class _Contract:
    """One contract of the deployment manifest, named by the subclass."""

    NAME: str

    def __init__(self, node: Node) -> None:
        self.node = node
        self.contract: ContractHandle = node.contract(self.NAME)

    @property
    def address(self) -> str:
        """The contract's address (e.g. the verifying contract of what is signed for it)."""
        return str(self.contract.address)

    def _send_at_gas_limit(self, fn: ContractCall, sender: Sender) -> Receipt:
        """Send `fn` without a gas estimate, with the latest block's gas limit."""
        return self.node.transact(fn, sender, gas=self.node.block_gas_limit())

    def _send(self, fn: ContractCall, sender: Sender, tx: TxOptions) -> Receipt:
        """Send `fn` with `Node.transact`, passing on only the options given (a node wrapper
        may supply its own default for one left out, e.g. sim/runner.py's gas)."""
        options: dict[str, Any] = {k: v for k, v in tx.items() if v is not None}
        return self.node.transact(fn, sender, **options)

    def _events(
        self, event: str, from_block: int | None = None, **filters: Any
    ) -> list[dict[str, Any]]:
        """The contract's `event` logs (`Node.events`) from `from_block` on (default the
        deployment's: a caller that knows an earlier bound may give it), those whose arguments
        equal `filters`."""
        return self.node.events(
            self.NAME,
            event,
            from_block=self.node.manifest.deployed_at_block if from_block is None else from_block,
            argument_filters=filters,
        )


@dataclass(frozen=True, slots=True)
class TariffEntry:
    """One entry of the tariff schedule (`tariffEntry`): the rules in force from `from_slot`
    until the next entry's slot."""

    from_slot: int
    rules: SlotRules


class CommunityGateway(_Contract):
    """Community: the calendar, the meters, the members' roles, the settlement chunks, the
    tariffs and the DSO's accounts."""

    NAME = "Community"

    genesis = _Getter(int, "Unix seconds at which slot 0 begins.")
    slot_seconds = _Getter(int)
    gate_closure_seconds = _Getter(
        int, "Seconds before a slot's delivery at which its gate closes."
    )
    order_horizon_slots = _Getter(int, "How many slots past the current one accept orders.")

    def member_role(self, account: str) -> str | None:
        """`account`'s trading role (chain.codec.ROLE_CODES' names); None if not a member."""
        return ROLE_NAMES.get(int(self.node.call(self.contract.functions.memberRole(account))))

    def has_role(self, role: str, account: str) -> bool:
        """Whether `account` holds the access-control role named `role` (e.g. "DSO_ROLE")."""
        return bool(self.node.call(self.contract.functions.hasRole(keccak(text=role), account)))

    tariff_count = _Getter(int, "Entries in the tariff schedule.")

    def tariff_entry(self, index: int) -> TariffEntry:
        """The schedule's entry `index` (0 <= index < `tariff_count`), decoded."""
        from_slot, values = self.node.call(self.contract.functions.tariffEntry(index))
        return TariffEntry(int(from_slot), decode_rules(values))

    fee_account = _Getter(str, "The DSO's account that collects the platform fees.")
    network_account = _Getter(str, "The DSO's account that collects the network fees.")

    def chunk_of(self, member: str) -> int:
        """`member`'s settlement chunk (fixed by its registration)."""
        return int(self.node.call(self.contract.functions.chunkOf(member)))

    chunk_count = _Getter(int)
    meter_count = _Getter(
        int, "Registered meters (a slot's readings are complete when this many have reported)."
    )

    def gate_closure(self, slot: int) -> int:
        """Unix seconds at which `slot`'s gate closes."""
        return int(self.node.call(self.contract.functions.gateClosure(slot)))

    def slot_start(self, slot: int) -> int:
        """Unix seconds at which delivery of `slot` begins."""
        return int(self.node.call(self.contract.functions.slotStart(slot)))

    def rules_at(self, slot: int) -> SlotRules:
        """The tariff and clearing mode in force for `slot` (`tariffAt`, decoded)."""
        return decode_rules(self.node.call(self.contract.functions.tariffAt(slot)))

    current_slot = _Getter(int, "The slot being delivered at the latest block's time.")
    supply_account = _Getter(str, "The DSO's account that sells retail energy and buys feed-in.")

    def register_member_call(self, member: str, role: str, lock_in_slots: int) -> ContractCall:
        """`register_member`, built and not sent."""
        return self.contract.functions.registerMember(member, ROLE_CODES[role], lock_in_slots)

    def register_member(
        self, member: str, role: str, lock_in_slots: int, *, sender: Sender, **tx: Unpack[TxOptions]
    ) -> Mined:
        """Register `member` with `role` (its name, chain.codec.ROLE_CODES), locked in for
        `lock_in_slots` (a DSO action)."""
        fn = self.register_member_call(member, role, lock_in_slots)
        return Mined.of(self._send(fn, sender, tx))

    def register_meter_call(self, meter_id: bytes, member: str, signer: str) -> ContractCall:
        """`register_meter`, built and not sent."""
        return self.contract.functions.registerMeter(meter_id, member, signer)

    def register_meter(
        self, meter_id: bytes, member: str, signer: str, *, sender: Sender, **tx: Unpack[TxOptions]
    ) -> Mined:
        """Register the meter `meter_id` (32 bytes) of `member`, whose readings `signer` signs
        (a DSO action)."""
        fn = self.register_meter_call(meter_id, member, signer)
        return Mined.of(self._send(fn, sender, tx))

    def schedule_sharing_terms(
        self,
        member: str,
        from_slot: int,
        participation_pct: int,
        share_ppm: int,
        *,
        sender: Sender,
        **tx: Unpack[TxOptions],
    ) -> Mined:
        """`member`'s participation (%) and static share (ppm) in energy sharing from
        `from_slot` on (a DSO action; the tariff's notice applies)."""
        fn = self.contract.functions.scheduleSharingTerms(
            member, from_slot, participation_pct, share_ppm
        )
        return Mined.of(self._send(fn, sender, tx))

    def schedule_sharing_hours(
        self,
        member: str,
        from_slot: int,
        participation_pct: int,
        shares_ppm: Sequence[int],
        *,
        sender: Sender,
        **tx: Unpack[TxOptions],
    ) -> Mined:
        """As `schedule_sharing_terms` with a static share (ppm) for each of the 24 hours of the
        day (hours counted from genesis; Calendar.hourOfDay)."""
        fn = self.contract.functions.scheduleSharingHours(
            member, from_slot, participation_pct, list(shares_ppm)
        )
        return Mined.of(self._send(fn, sender, tx))

    def sharing_terms_of(self, members: Sequence[str], slot: int) -> list[tuple[int, int]]:
        """Each member's participation (%) and static share (ppm) in force in `slot` (the
        share of the slot's hour for an hourly schedule), as the sharing settlement reads them."""
        words = self.node.call(self.contract.functions.sharingTermsOf(list(members), slot))
        return [sharing_terms(int(w)) for w in words]

    def schedule_tariff(
        self, from_slot: int, rules: SlotRules, *, sender: Sender, **tx: Unpack[TxOptions]
    ) -> Mined:
        """Put `rules` (tariff and clearing mode) in force from `from_slot` on (a DSO action;
        the contract refuses a slot within the order horizon)."""
        fn = self.contract.functions.scheduleTariff(from_slot, encode_rules(rules))
        return Mined.of(self._send(fn, sender, tx))

    def grant_role(
        self, role: str, account: str, *, sender: Sender, **tx: Unpack[TxOptions]
    ) -> Mined:
        """Grant the access-control role named `role` (e.g. "DSO_ROLE") to `account`."""
        fn = self.contract.functions.grantRole(keccak(text=role), account)
        return Mined.of(self._send(fn, sender, tx))


class EnergyTokenGateway(_Contract):
    """EnergyToken: the members' prepaid euros (n€), minted by the DSO's top-ups."""

    NAME = "EnergyToken"

    def balance_of(self, account: str) -> int:
        return int(self.node.call(self.contract.functions.balanceOf(account)))

    def debt_of(self, account: str) -> int:
        """What `account` owes (n€): charges its balance could not cover."""
        return int(self.node.call(self.contract.functions.debtOf(account)))

    total_supply = _Getter(int)
    total_minted = _Getter(int)
    total_redeemed = _Getter(int)
    total_debt = _Getter(int)

    def top_up_recorded(self, payment_ref: bytes) -> bool:
        """Whether the payment `payment_ref` (32 bytes) has been minted."""
        return bool(self.node.call(self.contract.functions.topUpRecorded(payment_ref)))

    def top_up_call(self, member: str, amount: int, payment_ref: bytes) -> ContractCall:
        """`top_up`, built and not sent."""
        return self.contract.functions.topUp(member, amount, payment_ref)

    def top_up(
        self,
        member: str,
        amount: int,
        payment_ref: bytes,
        *,
        sender: Sender,
        **tx: Unpack[TxOptions],
    ) -> Mined:
        """Mint `amount` to `member` against the payment `payment_ref` (32 bytes, once each; a
        DSO action)."""
        fn = self.top_up_call(member, amount, payment_ref)
        return Mined.of(self._send(fn, sender, tx))

    def transfer(self, to: str, amount: int, *, sender: Sender, **tx: Unpack[TxOptions]) -> Mined:
        """Move `amount` from `sender` to `to`."""
        fn = self.contract.functions.transfer(to, amount)
        return Mined.of(self._send(fn, sender, tx))

    def transfer_batch(
        self, transfers: Sequence[tuple[str, int]], *, sender: Sender, **tx: Unpack[TxOptions]
    ) -> Mined:
        """Move each (recipient, amount) of `transfers` from `sender`, in one transaction."""
        words = [pack_transfer(to, amount) for to, amount in transfers]
        fn = self.contract.functions.transferBatch(words)
        return Mined.of(self._send(fn, sender, tx))

    def approve(
        self, spender: str, amount: int, *, sender: Sender, **tx: Unpack[TxOptions]
    ) -> Mined:
        """Let `spender` pull up to `amount` from `sender` (a standing mandate; 0 revokes it)."""
        fn = self.contract.functions.approve(spender, amount)
        return Mined.of(self._send(fn, sender, tx))

    def transfer_from_batch(
        self, debits: Sequence[tuple[str, int]], *, sender: Sender, **tx: Unpack[TxOptions]
    ) -> Mined:
        """Pull each (payer, amount) of `debits` to `sender`, each against the mandate the payer
        gave `sender`, in one transaction."""
        words = [pack_transfer(payer, amount) for payer, amount in debits]
        fn = self.contract.functions.transferFromBatch(words)
        return Mined.of(self._send(fn, sender, tx))


@dataclass(frozen=True, slots=True)
class SlotReadings:
    """`MeterReadings.slotReadings`: how many readings a slot accepted and the hash chained
    over their words (`chain.metering.readings_hash`)."""

    count: int
    readings_hash: bytes


@dataclass(frozen=True, slots=True)
class LastReading:
    """`MeterReadings.lastReading`: a meter's replay word (its latest slot and sequence);
    `any` is False until its first reading."""

    any: bool
    slot: int
    sequence: int


@dataclass(frozen=True, slots=True)
class AcceptedReading:
    """A member's metered energy in a slot, as MeterReadings accepted it."""

    slot: int
    member: str
    import_wh: int
    export_wh: int


@dataclass(frozen=True, slots=True)
class _Announced:
    """Readings as one event announced them: a span's (ReadingSpanAccepted), or a single
    reading's (ReadingAccepted) as a span of one slot, with the event's place in the chain."""

    block: int
    log_index: int
    tx_hash: str
    member: str
    span: ReadingSpan

    @classmethod
    def of(cls, e: dict[str, Any]) -> _Announced:
        span = ReadingSpan.of_event(e["args"])
        return cls(
            e["blockNumber"], e["logIndex"], str(e["transactionHash"]), e["args"]["member"], span
        )


class ReadingsGateway(_Contract):
    """MeterReadings: the readings accepted for each slot, and the oracle's submissions.

    A slot's readings are read many times (the matcher asks for each slot once it is due, and a
    day's span event covers 48 slots), so the span events read for one slot are kept for the
    next: from the earliest block still asked for, up to the last block read, as long as that
    block is still on the chain (a reorganisation past it drops them all)."""

    NAME = "MeterReadings"

    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self._spans: list[_Announced] = []
        self._spans_from = -1  # the first block the kept span events cover (-1: none kept)
        self._spans_to = -1  # the last block read
        self._spans_to_hash = b""

    def slot_readings(self, slot: int) -> SlotReadings:
        count, committed = self.node.call(self.contract.functions.slotReadings(slot))
        return SlotReadings(int(count), bytes(committed))

    def reading_count(self, slot: int) -> int:
        """How many readings `slot` has accepted (`slotReadings`' count)."""
        return self.slot_readings(slot).count

    def last_reading(self, meter_id: bytes) -> LastReading:
        any_, slot, sequence = self.node.call(self.contract.functions.lastReading(meter_id))
        return LastReading(bool(any_), int(slot), int(sequence))

    open_from_slot = _Getter(int, "The first slot that accepts readings.")

    def submit_readings(
        self,
        readings: Sequence[Reading],
        signatures: Sequence[bytes],
        *,
        sender: Sender,
        **tx: Unpack[TxOptions],
    ) -> Mined:
        """Submit meter-signed readings (all or none: a refusal names the reading's index).
        `on_signed` is told the hash before the transaction is broadcast (`Node.transact`)."""
        fn = self.contract.functions.submitReadings(
            [r.as_tuple() for r in readings], list(signatures)
        )
        return Mined.of(self._send(fn, sender, tx))

    def submit_reading_spans(
        self,
        spans: Sequence[ReadingSpan],
        signatures: Sequence[bytes],
        *,
        sender: Sender,
        **tx: Unpack[TxOptions],
    ) -> Mined:
        """Submit meter-signed spans (all or none: a refusal names the span's index)."""
        fn = self.contract.functions.submitReadingSpans(
            [s.as_tuple() for s in spans], list(signatures)
        )
        return Mined.of(self._send(fn, sender, tx))

    def accepted_readings(self) -> list[AcceptedReading]:
        """Every reading accepted since the deployment, in chain order."""
        return self._accepted(None, None)

    def reading_words(self, slot: int, from_block: int | None = None) -> list[int]:
        """The slot's reading words in acceptance order (looked for from `from_block`, default
        the deployment's: a caller that knows a block mined before the slot's delivery ended may
        bound the search)."""
        return [
            pack_reading_word(r.member, r.import_wh, r.export_wh)
            for r in self._accepted(slot, from_block)
        ]

    def _accepted(self, slot: int | None, from_block: int | None) -> list[AcceptedReading]:
        """The readings accepted (of `slot`, or all), in acceptance order: each transaction's
        announced readings (its ReadingAccepted events, or its spans' ReadingSpanAccepted)
        in `commit_order`, a single reading being a span of one slot."""
        start = self.node.manifest.deployed_at_block if from_block is None else from_block
        if slot is None:
            singles = self._events("ReadingAccepted", start)
            spans = [_Announced.of(e) for e in self._events("ReadingSpanAccepted", start)]
        else:
            spans, head = self._span_events(start)
            singles = self.node.events(
                self.NAME,
                "ReadingAccepted",
                from_block=start,
                to_block=head,
                argument_filters={"slot": slot},
            )
        merged = heapq.merge(
            (_Announced.of(e) for e in singles), spans, key=lambda a: (a.block, a.log_index)
        )
        out: list[AcceptedReading] = []
        for _tx, group in groupby(merged, key=lambda a: a.tx_hash):
            batch = list(group)
            order = commit_order if slot is None else partial(slot_order, slot=slot)
            out.extend(
                AcceptedReading(r.slot, batch[i].member, r.import_wh, r.export_wh)
                for i, r in order([a.span for a in batch])
            )
        return out

    def _span_events(self, from_block: int) -> tuple[list[_Announced], int]:
        """The span events from `from_block` up to the latest block (and its number): those
        kept, if they cover it and their last block is still on the chain, and those of the
        blocks after."""
        head = self.node.block(self.node.block_number())
        if head is None:
            raise NodeError("the node has no latest block")
        kept = self._spans_from >= 0 and self._spans_from <= from_block
        if kept:
            last = self.node.block(self._spans_to)
            kept = last is not None and bytes(last["hash"]) == self._spans_to_hash
        start = self._spans_to + 1 if kept else from_block
        if not kept:
            self._spans = []
        if start <= head["number"]:
            self._spans += [
                _Announced.of(e)
                for e in self.node.events(
                    self.NAME, "ReadingSpanAccepted", from_block=start, to_block=head["number"]
                )
            ]
        self._spans = [a for a in self._spans if a.block >= from_block]
        self._spans_from, self._spans_to = from_block, head["number"]
        self._spans_to_hash = bytes(head["hash"])
        return self._spans, head["number"]


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """A direct order as placed (its OrderPlaced event), and the transaction that placed it."""

    order_id: int
    owner: str
    slot: int
    index: int
    side: str
    energy_wh: int
    limit_price: int
    escrow: int
    block_number: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class PlacedOrders:
    """A relayed order's transaction and the ids of the orders it placed (one per slot)."""

    mined: Mined
    order_ids: list[int]


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

    def slot_order_count(self, slot: int) -> int:
        return int(self.node.call(self.contract.functions.slotOrderCount(slot)))

    def member_order_count(self, slot: int, member: str) -> int:
        """`member`'s direct orders in `slot`."""
        return int(self.node.call(self.contract.functions.memberOrderCount(slot, member)))

    def slot_settled(self, slot: int) -> bool:
        return bool(self.node.call(self.contract.functions.slotSettled(slot)))

    escrow_held = _Getter(int, "n€ held for the open buy orders.")

    def placed_by(self, owner: str) -> list[PlacedOrder]:
        """Every direct order of `owner` since the deployment, in chain order (OrderPlaced)."""
        logs = self._events("OrderPlaced", owner=owner)
        return [
            PlacedOrder(
                order_id=int(e["args"]["id"]),
                owner=str(e["args"]["owner"]),
                slot=int(e["args"]["slot"]),
                index=int(e["args"]["index"]),
                side="sell" if int(e["args"]["side"]) else "buy",
                energy_wh=int(e["args"]["energyWh"]),
                limit_price=int(e["args"]["limitPrice"]),
                escrow=int(e["args"]["escrow"]),
                block_number=int(e["blockNumber"]),
                tx_hash=str(e["transactionHash"]),
            )
            for e in logs
        ]

    def cancelled_by(self, owner: str) -> set[int]:
        """The ids of `owner`'s cancelled direct orders (OrderCancelled)."""
        return {int(e["args"]["id"]) for e in self._events("OrderCancelled", owner=owner)}

    def place_order_call(
        self, slot: int, side: str, energy_wh: int, limit_price: int
    ) -> ContractCall:
        """`place_order`, built and not sent."""
        return self.contract.functions.placeOrder(slot, SIDE_CODES[side], energy_wh, limit_price)

    def place_order(
        self,
        slot: int,
        side: str,
        energy_wh: int,
        limit_price: int,
        *,
        sender: Sender,
        **tx: Unpack[TxOptions],
    ) -> Mined:
        """A direct order of `sender` (`side`: "buy" or "sell")."""
        fn = self.place_order_call(slot, side, energy_wh, limit_price)
        return Mined.of(self._send(fn, sender, tx))

    def place_order_with_sig_call(self, intent: OrderIntent, signature: bytes) -> ContractCall:
        """A relayed order its owner signed (`placeOrderWithSig`), built and not sent."""
        return self.contract.functions.placeOrderWithSig(intent.as_tuple(), signature)

    def cancel_order_call(self, order_id: int) -> ContractCall:
        """Its owner's cancellation of a direct order (`cancelOrder`), built and not sent."""
        return self.contract.functions.cancelOrder(order_id)

    def place_order_with_sig(
        self, intent: OrderIntent, signature: bytes, *, sender: Sender
    ) -> PlacedOrders:
        """Relay an order its owner signed (EIP-712 OrderIntent) from `sender`, which pays the
        gas (estimated: a refusal raises before anything is sent)."""
        receipt = self.node.transact(self.place_order_with_sig_call(intent, signature), sender)
        placed = self.node.emitted(receipt, self.NAME, "OrderPlaced")
        return PlacedOrders(Mined.of(receipt), [int(a["id"]) for a in placed])

    def cancel_order_with_sig(
        self,
        owner: str,
        order_id: int,
        intent_nonce: int,
        deadline: int,
        signature: bytes,
        *,
        sender: Sender,
    ) -> Mined:
        """Relay `owner`'s signed cancellation (EIP-712 CancelIntent, its `intent_nonce` and
        `deadline`) of its order `order_id` from `sender`; the escrow goes back to `owner`."""
        fn = self.contract.functions.cancelOrderWithSig(
            owner, order_id, intent_nonce, deadline, signature
        )
        return Mined.of(self.node.transact(fn, sender))

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

    first_slot = _Getter(int)
    next_slot = _Getter(int, "The next slot to settle.")
    min_order_wh = _Getter(int, "The smallest order (Wh) a settlement takes, direct or intent.")

    def intent_epoch(self, member: str) -> int:
        """The nonce epoch `member`'s intents must be signed under."""
        return int(self.node.call(self.contract.functions.intentEpoch(member)))

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

    def settled_events(self, slot: int, from_block: int | None = None) -> list[SlotSettledEvent]:
        """`slot`'s SlotSettled events (none before it is settled, then one), looked for from
        `from_block` (default the deployment's; any block mined before the slot's gate closed
        bounds the search)."""
        logs = self._events("SlotSettled", from_block, slot=slot)
        return [
            SlotSettledEvent(
                [int(f) for f in e["args"]["fills"]],
                [int(w) for w in e["args"]["intentWords"]],
                [int(i) for i in e["args"]["intentIds"]],
            )
            for e in logs
        ]

    def settled_event(self, slot: int, from_block: int | None = None) -> SlotSettledEvent:
        """The settled `slot`'s SlotSettled event (ValueError unless there is exactly one)."""
        (event,) = self.settled_events(slot, from_block)
        return event

    def settle_slot_call(self, slot: int, submission: Submission) -> ContractCall:
        """`settle_slot`, built and not sent."""
        return self.contract.functions.settleSlot(slot, *submission.args())

    def settle_slot(self, slot: int, submission: Submission, *, sender: Sender) -> Mined:
        """Settle `slot` with `submission` (at the gas limit: see the module)."""
        return Mined.of(self._send_at_gas_limit(self.settle_slot_call(slot, submission), sender))


class SettlementRouterGateway(_Contract):
    """SettlementRouter: a slot's trade settlement and a batch of settlements against the meters
    in one transaction (ISettlementRouter)."""

    NAME = "SettlementRouter"

    def settle_slot_and_imbalances(
        self,
        slot: int,
        submission: Submission,
        entries: Sequence[ImbalanceEntry],
        *,
        sender: Sender,
    ) -> Mined:
        """Settle `slot` with `submission`, then each (slot, chunk) of `entries` against the
        meters, all or nothing (at the gas limit)."""
        fn = self.contract.functions.settleSlotAndImbalances(
            slot, *submission.args(), _entry_args(entries)
        )
        return Mined.of(self._send_at_gas_limit(fn, sender))


def _entry_args(entries: Sequence[ImbalanceEntry]) -> list[tuple[Any, ...]]:
    """`IImbalanceSettlement.ImbalanceEntry[]` as the ABI encoder takes it."""
    return [
        (e.slot, e.chunk, list(e.members), list(e.reading_words), list(e.trade_words))
        for e in entries
    ]


class _PeriodLedger(_Contract):
    """The reads both meter settlements share (IPeriodLedger and the digest chain): which slots
    are settled against the meters, the billing periods and their platform fees."""

    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self._immutables: dict[str, int] = {}

    first_slot = _Getter(int, "The first slot settled against the meters.")
    next_slot = _Getter(int, "The first slot not yet settled for every chunk.")

    def next_slot_of(self, chunk: int) -> int:
        return int(self.node.call(self.contract.functions.nextSlotOf(chunk)))

    def reading_deadline_seconds(self) -> int:
        """Seconds after delivery after which a slot settles with the readings it has (an
        immutable of the contract: read once)."""
        return self._immutable("readingDeadlineSeconds")

    def period_slots(self) -> int:
        """Slots per billing period (an immutable of the contract: read once)."""
        return self._immutable("periodSlots")

    def _immutable(self, name: str) -> int:
        """A uint immutable of the contract, read on first use (the matcher asks for these
        on every readiness check)."""
        if name not in self._immutables:
            self._immutables[name] = int(self.node.call(self.contract.functions[name]()))
        return self._immutables[name]

    def digest_at(self, slot: int, chunk: int) -> bytes:
        """The audit digest chained up to (`slot`, `chunk`) (32 bytes; zero if not settled)."""
        return bytes(self.node.call(self.contract.functions.digestAt(slot, chunk)))

    def platform_fees_of(self, period: int) -> int:
        """The platform fees (n€) collected in billing period `period`."""
        return int(self.node.call(self.contract.functions.platformFeesOf(period)))


class ImbalanceGateway(_PeriodLedger):
    """ImbalanceSettlement: each (slot, chunk) settled against the meters, in order per chunk."""

    NAME = "ImbalanceSettlement"

    def settle_imbalances_call(self, entries: Sequence[ImbalanceEntry]) -> ContractCall:
        """`settle_imbalances`, built and not sent."""
        return self.contract.functions.settleImbalances(_entry_args(entries))

    def settle_imbalances(self, entries: Sequence[ImbalanceEntry], *, sender: Sender) -> Mined:
        """Settle each (slot, chunk) of `entries` in turn, in one transaction (at the gas
        limit); the contract checks each as `settleImbalance` would alone."""
        return Mined.of(self._send_at_gas_limit(self.settle_imbalances_call(entries), sender))


@dataclass(frozen=True, slots=True)
class FlexSettlement:
    """A settled flexibility request: the transaction, and its FlexSettled event's payments and
    penalties (0 if it emitted none)."""

    mined: Mined
    paid: int
    penalties: int


@dataclass(frozen=True, slots=True)
class FlexOffered:
    """A relayed offer's transaction and the offer's index in its request."""

    mined: Mined
    index: int


@dataclass(frozen=True, slots=True)
class FlexDelivered:
    """One accepted offer's outcome (its FlexDelivered event). `baseline_wh` and `metered_wh`
    are meaningful only if `measured`; `collected` is the part of `penalty` actually taken."""

    request_id: int
    index: int
    member: str
    accepted_wh: int
    measured: bool
    baseline_wh: int
    metered_wh: int
    delivered_wh: int
    payment: int
    penalty: int
    collected: int


@dataclass(frozen=True, slots=True)
class FlexSettled:
    """A settled request's totals (its FlexSettled event)."""

    request_id: int
    paid: int
    penalties: int


class FlexibilityGateway(_Contract):
    """Flexibility: the DSO's requests, the members' offers, acceptance and settlement."""

    NAME = "Flexibility"

    request_count = _Getter(int)

    def request_of(self, request_id: int) -> FlexRequest:
        return FlexRequest.from_call(
            request_id, self.node.call(self.contract.functions.requestOf(request_id))
        )

    def offers_of(self, request_id: int) -> list[int]:
        """The request's offer words (`chain.flexibility.decode_offers` reads them)."""
        return [int(w) for w in self.node.call(self.contract.functions.offersOf(request_id))]

    lookback_days = _Getter(int)
    baseline_days = _Getter(int)

    def _event_args(self, event: str) -> list[dict[str, Any]]:
        """The arguments of every `event` since the deployment."""
        return [e["args"] for e in self._events(event)]

    def accepted(self) -> dict[int, list[int]]:
        """Per accepted request, the Wh accepted of each offer (its FlexAccepted event)."""
        return {
            int(a["requestId"]): [int(wh) for wh in a["accepted"]]
            for a in self._event_args("FlexAccepted")
        }

    def deliveries(self) -> list[FlexDelivered]:
        """Every accepted offer's outcome, in chain order."""
        return [event_record(FlexDelivered, a) for a in self._event_args("FlexDelivered")]

    def settlements(self) -> list[FlexSettled]:
        """Every settled request's totals, in chain order."""
        return [event_record(FlexSettled, a) for a in self._event_args("FlexSettled")]

    def publish_request(
        self,
        slot: int,
        direction: int,
        quantity_wh: int,
        max_price: int,
        gate_closure: int,
        *,
        sender: Sender,
        **tx: Unpack[TxOptions],
    ) -> Mined:
        """The DSO asks for `quantity_wh` of flexibility in `slot` (`direction`:
        chain.flexibility.Direction) at up to `max_price` n€/Wh; offers close at
        `gate_closure` (Unix seconds). Its id is `request_count()` before it."""
        fn = self.contract.functions.publishRequest(
            slot, direction, quantity_wh, max_price, gate_closure
        )
        return Mined.of(self._send(fn, sender, tx))

    def offer(
        self,
        request_id: int,
        quantity_wh: int,
        price: int,
        *,
        sender: Sender,
        **tx: Unpack[TxOptions],
    ) -> Mined:
        """`sender`'s offer of `quantity_wh` at `price` n€/Wh to the request."""
        fn = self.contract.functions.offer(request_id, quantity_wh, price)
        return Mined.of(self._send(fn, sender, tx))

    def offer_with_sig(
        self, intent: FlexOfferIntent, signature: bytes, *, sender: Sender
    ) -> FlexOffered:
        """Relay an offer its member signed (EIP-712 OfferIntent) from `sender`, which pays the
        gas (estimated: a refusal raises before anything is sent)."""
        fn = self.contract.functions.offerWithSig(intent.as_tuple(), signature)
        receipt = self.node.transact(fn, sender)
        offered = self.node.emitted(receipt, self.NAME, "FlexOffered")[0]
        return FlexOffered(Mined.of(receipt), int(offered["index"]))

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


class SharingGateway(_PeriodLedger):
    """SharingSettlement: each (slot, chunk) shared and settled from the readings, in order."""

    NAME = "SharingSettlement"

    def sharing_key(self) -> Key:
        """How the community's production is allotted to its members (fixed at deployment)."""
        code = int(self.node.call(self.contract.functions.key()))
        return next(k for k, c in SHARING_KEY_CODES.items() if c == code)

    def chunks_in(self, slot: int) -> int:
        """How many chunks `slot` settles in."""
        return int(self.node.call(self.contract.functions.chunksIn(slot)))

    def tally_of(self, slot: int) -> Tally:
        """Where the tally of a multi-chunk `slot` stands."""
        claimed, next_chunk, complete = self.node.call(self.contract.functions.tallyOf(slot))
        return Tally(int(claimed), int(next_chunk), bool(complete))

    def tally(
        self,
        slot: int,
        chunk: int,
        totals: int,
        members: Sequence[str],
        reading_words: Sequence[int],
        *,
        sender: Sender,
    ) -> Mined:
        """Count `chunk` into `slot`'s tally under the named community totals (chain.sharing.
        pack_totals), sent at the gas limit."""
        fn = self.contract.functions.tally(slot, chunk, totals, list(members), list(reading_words))
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
        """Settle `chunk`'s members in `slot` from its members and reading words, sent at the
        gas limit."""
        fn = self.contract.functions.settle(slot, chunk, list(members), list(reading_words))
        return Mined.of(self._send_at_gas_limit(fn, sender))

    def settle_tallied(
        self, slot: int, chunk: int, tallied: TalliedChunk, *, sender: Sender
    ) -> Mined:
        """Settle `chunk`'s members in a multi-chunk `slot` from what its tally counted
        (chain.sharing.tallied_chunks), sent at the gas limit."""
        fn = self.contract.functions.settleTallied(
            slot,
            chunk,
            tallied.before,
            tallied.readings_hash,
            tallied.members,
            tallied.flows,
            tallied.rule,
        )
        return Mined.of(self._send_at_gas_limit(fn, sender))


@dataclass(frozen=True, slots=True)
class Tally:
    """A multi-chunk slot's tally (SharingSettlement.tallyOf): the totals chunk 0 named
    (E | D << 64 | A << 128), the next chunk to count, and whether it is complete."""

    claimed: int
    next_chunk: int
    complete: bool


def period_ledger(node: Node) -> ImbalanceGateway | SharingGateway:
    """The deployment's meter settlement, which keeps the billing periods (IPeriodLedger):
    SharingSettlement in the `sharing` mode, else ImbalanceSettlement."""
    if "SharingSettlement" in node.manifest.contracts:
        return SharingGateway(node)
    return ImbalanceGateway(node)


@dataclass(frozen=True, slots=True)
class PeriodBilled:
    """A member's part of a closed period (its PeriodBilled event): its profit share, and the
    service fee and battery lease charged."""

    member: str
    share: int
    service_fee: int
    lease: int


@dataclass(frozen=True, slots=True)
class PeriodClosed:
    """A period's close (its PeriodClosed event): the platform fees it collected and the pool
    shared out of them."""

    platform_fees: int
    pool: int


@dataclass(frozen=True, slots=True)
class PeriodClose:
    """One `closePeriod` transaction: the members it billed, and the period's close if this
    was its last chunk."""

    mined: Mined
    billed: list[PeriodBilled]
    closed: PeriodClosed | None


class ProfitSharingGateway(_Contract):
    """ProfitSharing: each billing period closed (profit shares, service fees and battery
    leases), in chunks."""

    NAME = "ProfitSharing"

    share_bps = _Getter(int, "The members' share of the period's platform fees, in basis points.")
    max_chunk = _Getter(int, "The most members one `close_period` call takes.")

    def lease_of(self, member: str) -> int:
        """The battery lease `member` is charged at each period's close (n€; 0: none)."""
        return int(self.node.call(self.contract.functions.leaseOf(member)))

    def set_lease(
        self, member: str, per_period: int, *, sender: Sender, **tx: Unpack[TxOptions]
    ) -> Mined:
        """Charge `member` `per_period` n€ at every period close from now on (0 ends the
        lease; a DSO action)."""
        return Mined.of(
            self._send(self.contract.functions.setLease(member, per_period), sender, tx)
        )

    def close_period(
        self, period: int, members: Sequence[str], *, sender: Sender, **tx: Unpack[TxOptions]
    ) -> PeriodClose:
        """Bill `members` (ascending addresses, at most `max_chunk`) for `period`; the call
        with the last of them closes it (a DSO action)."""
        fn = self.contract.functions.closePeriod(period, list(members))
        receipt = self._send(fn, sender, tx)
        billed = [
            event_record(PeriodBilled, a)
            for a in self.node.emitted(receipt, self.NAME, "PeriodBilled")
        ]
        closed = [
            event_record(PeriodClosed, a)
            for a in self.node.emitted(receipt, self.NAME, "PeriodClosed")
        ]
        return PeriodClose(Mined.of(receipt), billed, closed[0] if closed else None)
