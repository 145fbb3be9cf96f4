"""EIP-712 typed data for what members sign (orders, cancellations, flexibility offers) and what
meters sign (readings), and signing them.

The type strings must match OrderBook.sol's ORDER_INTENT_TYPEHASH and CANCEL_INTENT_TYPEHASH,
Flexibility.sol's OFFER_INTENT_TYPEHASH and MeterReadings.sol's READING_TYPEHASH and
READING_SPAN_TYPEHASH. No I/O: the
domain (chain id, contract address) is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from chain.codec import SIDE_CODES

DOMAIN_NAME = "gridshare OrderBook"
READINGS_DOMAIN_NAME = "gridshare MeterReadings"
FLEXIBILITY_DOMAIN_NAME = "gridshare Flexibility"
DOMAIN_VERSION = "1"
_MASK64 = (1 << 64) - 1


def struct_fields(members: str) -> list[dict[str, str]]:
    """An EIP-712 struct's fields (name and type, in order) from their Solidity spelling in the
    contract's typehash string, e.g. "address owner,uint64 slot"."""
    return [{"name": n, "type": t} for t, n in (m.split(" ") for m in members.split(","))]


DOMAIN_TYPE = struct_fields("string name,string version,uint256 chainId,address verifyingContract")
ORDER_INTENT_TYPE = struct_fields(
    "address owner,uint64 fromSlot,uint64 toSlot,uint8 side,uint256 energyWh,"
    "uint256 limitPrice,uint256 nonce,uint256 deadline"
)
READING_TYPE = struct_fields(
    "bytes32 meterId,uint64 slot,uint64 importWh,uint64 exportWh,uint64 sequence"
)
READING_SPAN_TYPE = struct_fields(
    "bytes32 meterId,uint64 firstSlot,uint64 firstSequence,uint256[] readings"
)
CANCEL_INTENT_TYPE = struct_fields("address owner,uint256 orderId,uint256 nonce,uint256 deadline")
FLEX_OFFER_INTENT_TYPE = struct_fields(
    "address member,uint256 requestId,uint256 quantityWh,uint256 price,uint256 nonce,"
    "uint256 deadline"
)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order (a standing order when to_slot > from_slot) a member lets a relayer place."""

    owner: str
    from_slot: int
    to_slot: int
    side: str  # "buy" | "sell"
    energy_wh: int
    limit_price: int
    nonce: int
    deadline: int

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple of IOrderBook.OrderIntent."""
        return (
            self.owner,
            self.from_slot,
            self.to_slot,
            SIDE_CODES[self.side],
            self.energy_wh,
            self.limit_price,
            self.nonce,
            self.deadline,
        )


@dataclass(frozen=True, slots=True)
class FlexOfferIntent:
    """A flexibility offer a member lets a relayer make (IFlexibility.OfferIntent)."""

    member: str
    request_id: int
    quantity_wh: int
    price: int  # n€ per Wh
    nonce: int
    deadline: int

    def as_tuple(self) -> tuple[str, int, int, int, int, int]:
        """The ABI tuple of IFlexibility.OfferIntent."""
        return (
            self.member,
            self.request_id,
            self.quantity_wh,
            self.price,
            self.nonce,
            self.deadline,
        )


@dataclass(frozen=True, slots=True)
class Reading:
    """One meter's energy in one slot, as the meter signs it (IMeterReadings.Reading)."""

    meter_id: bytes
    slot: int
    import_wh: int
    export_wh: int
    sequence: int

    def as_tuple(self) -> tuple[bytes, int, int, int, int]:
        """The ABI tuple of IMeterReadings.Reading."""
        return (self.meter_id, self.slot, self.import_wh, self.export_wh, self.sequence)


@dataclass(frozen=True, slots=True)
class ReadingSpan:
    """One meter's readings of consecutive slots, signed once (IMeterReadings.ReadingSpan):
    `energy[k]` = (import Wh, export Wh) of slot `first_slot + k`, sequence
    `first_sequence + k`."""

    meter_id: bytes
    first_slot: int
    first_sequence: int
    energy: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, readings: list[Reading]) -> ReadingSpan:
        """The span of one meter's readings of consecutive slots with consecutive sequences."""
        first = readings[0]
        for k, r in enumerate(readings):
            if (r.meter_id, r.slot, r.sequence) != (
                first.meter_id,
                first.slot + k,
                first.sequence + k,
            ):
                raise ValueError(f"reading {k} does not continue the span (meter, slot, sequence)")
        energy = tuple((r.import_wh, r.export_wh) for r in readings)
        return cls(first.meter_id, first.slot, first.sequence, energy)

    @classmethod
    def from_words(
        cls, meter_id: bytes, first_slot: int, first_sequence: int, words: Sequence[int]
    ) -> ReadingSpan:
        """The span of packed `words` (`words`, as ReadingSpanAccepted carries them)."""
        energy = tuple((w >> 64, w & _MASK64) for w in words)
        return cls(meter_id, first_slot, first_sequence, energy)

    @classmethod
    def of_event(cls, args: Mapping[str, Any]) -> ReadingSpan:
        """The readings a MeterReadings event announced, from its arguments as any decoder gives
        them (`meterId` as bytes or 0x-hex): a ReadingSpanAccepted's span, or a
        ReadingAccepted's single reading as a span of one slot."""
        raw = args["meterId"]
        meter_id = bytes.fromhex(raw[2:]) if isinstance(raw, str) else bytes(raw)
        if "readings" in args:
            words = [int(w) for w in args["readings"]]
            return cls.from_words(
                meter_id, int(args["firstSlot"]), int(args["firstSequence"]), words
            )
        energy = ((int(args["importWh"]), int(args["exportWh"])),)
        return cls(meter_id, int(args["slot"]), int(args["sequence"]), energy)

    @property
    def words(self) -> list[int]:
        """The packed readings, `importWh << 64 | exportWh` each."""
        return [(imp << 64) | exp for imp, exp in self.energy]

    def reading(self, k: int) -> Reading:
        """Reading `k` of the span, as it would be signed alone."""
        imp, exp = self.energy[k]
        return Reading(self.meter_id, self.first_slot + k, imp, exp, self.first_sequence + k)

    def readings(self) -> list[Reading]:
        """The span's readings one by one, each as it would be signed alone."""
        return [self.reading(k) for k in range(len(self.energy))]

    def as_tuple(self) -> tuple[bytes, int, int, list[int]]:
        """The ABI tuple of IMeterReadings.ReadingSpan."""
        return (self.meter_id, self.first_slot, self.first_sequence, self.words)


def commit_order(spans: Sequence[ReadingSpan]) -> list[tuple[int, Reading]]:
    """A batch of spans' readings in the order MeterReadings commits them (and so the order of
    each slot's commitment): reading k of every span, in span order, before reading k + 1 of
    any; each with the index of its span."""
    readings = [s.readings() for s in spans]
    longest = max((len(r) for r in readings), default=0)
    return [(i, r[k]) for k in range(longest) for i, r in enumerate(readings) if k < len(r)]


def slot_order(spans: Sequence[ReadingSpan], slot: int) -> list[tuple[int, Reading]]:
    """`commit_order`'s readings of `slot` alone, without expanding the spans' other slots."""
    found = sorted(
        (slot - s.first_slot, i)
        for i, s in enumerate(spans)
        if 0 <= slot - s.first_slot < len(s.energy)
    )
    return [(i, spans[i].reading(k)) for k, i in found]


def domain(chain_id: int, contract: str, name: str = DOMAIN_NAME) -> dict[str, Any]:
    """The EIP-712 domain of a gridshare contract (`name`, version "1", chain, address)."""
    return {
        "name": name,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": contract,
    }


def typed_data(
    primary_type: str, fields: list[dict[str, str]], values: Sequence[Any], domain: dict[str, Any]
) -> dict[str, Any]:
    """The full EIP-712 message (as a wallet's eth_signTypedData_v4 takes it): `values` are the
    struct's ABI tuple, in the order of `fields` (so what is signed is what the contract gets)."""
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE, primary_type: fields},
        "primaryType": primary_type,
        "domain": domain,
        "message": {f["name"]: v for f, v in zip(fields, values, strict=True)},
    }


def order_typed_data(intent: OrderIntent, chain_id: int, order_book: str) -> dict[str, Any]:
    """The EIP-712 message a member signs to have a relayer place its order."""
    return typed_data(
        "OrderIntent", ORDER_INTENT_TYPE, intent.as_tuple(), domain(chain_id, order_book)
    )


def cancel_typed_data(
    owner: str, order_id: int, nonce: int, deadline: int, chain_id: int, order_book: str
) -> dict[str, Any]:
    """The EIP-712 message authorising a relayer to cancel order `order_id`."""
    return typed_data(
        "CancelIntent",
        CANCEL_INTENT_TYPE,
        (owner, order_id, nonce, deadline),
        domain(chain_id, order_book),
    )


def flex_offer_typed_data(
    intent: FlexOfferIntent, chain_id: int, flexibility: str
) -> dict[str, Any]:
    """The EIP-712 message a member signs to have a relayer make its flexibility offer."""
    return typed_data(
        "OfferIntent",
        FLEX_OFFER_INTENT_TYPE,
        intent.as_tuple(),
        domain(chain_id, flexibility, FLEXIBILITY_DOMAIN_NAME),
    )


def reading_typed_data(reading: Reading, chain_id: int, meter_readings: str) -> dict[str, Any]:
    """The EIP-712 message a meter signs for one reading."""
    return typed_data(
        "Reading",
        READING_TYPE,
        reading.as_tuple(),
        domain(chain_id, meter_readings, READINGS_DOMAIN_NAME),
    )


def reading_span_typed_data(
    span: ReadingSpan, chain_id: int, meter_readings: str
) -> dict[str, Any]:
    """The EIP-712 message a meter signs once for a span of readings."""
    return typed_data(
        "ReadingSpan",
        READING_SPAN_TYPE,
        span.as_tuple(),
        domain(chain_id, meter_readings, READINGS_DOMAIN_NAME),
    )


def sign_typed_data(typed_data: dict[str, Any], private_key: bytes | str) -> bytes:
    """Sign an EIP-712 message with a private key (a member's wallet does this in production)."""
    signable = encode_typed_data(full_message=typed_data)
    signed = Account.sign_message(signable, private_key=private_key)
    return bytes(signed.signature)
