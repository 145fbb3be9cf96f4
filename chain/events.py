"""Logs -> event arguments, decoded with eth_abi directly from an event's ABI (web3's own event
decoding spent more time formatting than the rest of the indexer together). Used by the indexer
(indexer/decode.py) and by `chain.node.Node.decode_logs` (the audit's events)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, TypeVar

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import InsufficientDataBytes, NonEmptyPaddingBytes
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.types import LogReceipt

from market.records import record_of

# A log as the node returns it (eth_getLogs, a receipt's `logs`).
RawLog = LogReceipt


T = TypeVar("T")


@cache
def camel_case(name: str) -> str:
    """`import_wh` -> `importWh`: a Python field's name as the contracts spell it."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _plain(value: Any) -> Any:
    """An event argument as a record holds it: an address or a bool as it is, else an int."""
    return value if isinstance(value, str | bool) else int(value)


def event_record(kind: Callable[..., T], args: Mapping[str, Any], **given: Any) -> T:
    """An event's arguments as `kind` (a dataclass): each field the argument of its name in
    camelCase (an address or a bool as it is, any other value an int), those in `given` from there
    instead."""
    return record_of(kind, lambda name: _plain(args[camel_case(name)]), **given)


class EventMismatch(Exception):
    """A log that does not fit the event it was decoded as."""


def canonical_type(param: Mapping[str, Any]) -> str:
    """The ABI type of a parameter as eth_abi decodes it and as selectors and topics spell it
    (structs spelled out as tuples)."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def event_topic(event_abi: Mapping[str, Any]) -> bytes:
    """An event's first topic (the hash of its signature, structs spelled out as tuples)."""
    return bytes(event_abi_to_log_topic(dict(event_abi)))  # type: ignore[arg-type]


def is_dynamic(param: Mapping[str, Any]) -> bool:
    """Whether an indexed parameter of this type is stored in its topic as a hash."""
    kind = str(param["type"])
    return kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("tuple")


def hex0x(value: Any) -> str:
    """Bytes, or a hex string, as 0x-prefixed lower-case hex."""
    return "0x" + bytes(HexBytes(value)).hex()


@lru_cache(maxsize=4096)
def checksum(address: str) -> str:
    return str(to_checksum_address(address))


WordDecoder = Callable[[bytes], Any]


def _uint(bits: int) -> WordDecoder:
    def decode(word: bytes) -> int:
        value = int.from_bytes(word, "big")
        if value >> bits:
            raise NonEmptyPaddingBytes(f"uint{bits} word {word.hex()} has bits set above its size")
        return value

    return decode


def _int(bits: int) -> WordDecoder:
    bound = 1 << (bits - 1)

    def decode(word: bytes) -> int:
        value = int.from_bytes(word, "big", signed=True)
        if not -bound <= value < bound:
            raise NonEmptyPaddingBytes(f"int{bits} word {word.hex()} is not sign-extended")
        return value

    return decode


def _fixed_bytes(size: int) -> WordDecoder:
    def decode(word: bytes) -> bytes:
        if any(word[size:]):
            raise NonEmptyPaddingBytes(f"bytes{size} word {word.hex()} has padding set")
        return word[:size]

    return decode


def _address(word: bytes) -> str:
    if any(word[:12]):
        raise NonEmptyPaddingBytes(f"address word {word.hex()} has padding set")
    return "0x" + word[12:].hex()


def _bool(word: bytes) -> bool:
    value = int.from_bytes(word, "big")
    if value > 1:
        raise NonEmptyPaddingBytes(f"bool word {word.hex()} is neither 0 nor 1")
    return value == 1


def word_decoder(kind: str) -> WordDecoder | None:
    """A decoder of one ABI word of the elementary static type `kind` that answers as eth_abi
    does (the same value and type; the same errors for bad padding), or None where eth_abi is
    needed (dynamic types, arrays, structs). An event's words are decoded this way because the
    audit and the indexer decode every log of a community's history, and eth_abi's generic
    decoder spent about 30 µs on a typical event where slicing its words takes a few."""
    if kind == "address":
        return _address
    if kind == "bool":
        return _bool
    for prefix, make, limit in (
        ("uint", _uint, 256),
        ("int", _int, 256),
        ("bytes", _fixed_bytes, 32),
    ):
        size = kind[len(prefix) :]
        if kind.startswith(prefix) and (size.isdigit() or (size == "" and prefix != "bytes")):
            n = int(size) if size else limit
            if prefix == "bytes":
                return make(n) if 1 <= n <= limit else None
            return make(n) if n % 8 == 0 and 8 <= n <= limit else None
    return None


def _word_decoders(types: Sequence[str]) -> tuple[WordDecoder, ...] | None:
    """One word decoder per type, or None if any type needs eth_abi."""
    decoders = [word_decoder(t) for t in types]
    return None if any(d is None for d in decoders) else tuple(d for d in decoders if d)


@dataclass(frozen=True, slots=True)
class PackedField:
    """One figure of a packed event argument: `bits` bits from bit `shift` of the word, two's
    complement where `abi_type` is signed. `abi_type` is the figure's own type, as the index's
    column and every reader of the event's arguments hold it."""

    name: str  # as the contracts spell it: "importWh"
    abi_type: str
    shift: int
    bits: int

    def of(self, word: int) -> int:
        value = (word >> self.shift) & ((1 << self.bits) - 1)
        if self.abi_type.startswith("int") and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value


def _fields(*spec: tuple[str, str, int]) -> tuple[PackedField, ...]:
    """Figures packed one after another from bit 0: (name, type, bits) each."""
    out: list[PackedField] = []
    shift = 0
    for name, kind, bits in spec:
        out.append(PackedField(name, kind, shift, bits))
        shift += bits
    return tuple(out)


# The event arguments that pack several figures into one word, by event name and argument (a log
# costs 8 gas a byte: a member-slot's ImbalanceSettled is four data words instead of eight, its
# SharingSettled four instead of eleven). The one home of the layouts the contracts' NatSpec
# gives: the decoders below and the index's columns (indexer.spec) unpack by it, so every reader
# sees the figures by name, as if each had its word.
PACKED_ARGS: Mapping[str, Mapping[str, tuple[PackedField, ...]]] = {
    "ImbalanceSettled": {
        "position": _fields(
            ("importWh", "uint256", 64),
            ("exportWh", "uint256", 64),
            ("tradedNetSoldWh", "int256", 128),
        ),
        "creditAndEnergyCharge": _fields(
            ("credit", "uint256", 128), ("energyCharge", "uint256", 128)
        ),
        "networkChargeAndCollected": _fields(
            ("networkCharge", "uint256", 128), ("collected", "uint256", 128)
        ),
    },
    "SharingSettled": {
        "meteredWh": _fields(
            ("importWh", "uint256", 64),
            ("exportWh", "uint256", 64),
            ("participatingConsumptionWh", "uint256", 64),
            ("participatingProductionWh", "uint256", 64),
        ),
        "sharedWh": _fields(
            ("allotmentWh", "uint256", 64),
            ("allocatedWh", "uint256", 64),
            ("creditedWh", "uint256", 64),
        ),
        "chargedAndPaid": _fields(("charged", "uint256", 128), ("paid", "uint256", 128)),
        "collectedAndBauCost": _fields(("collected", "uint256", 128), ("bauCost", "int256", 128)),
    },
    "SharingTallied": {
        "totals": _fields(
            ("productionWh", "uint256", 64),
            ("demandWh", "uint256", 64),
            ("allocatedWh", "uint256", 64),
        ),
    },
}


def unpacked(event: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """`event`'s arguments with each packed one replaced, in place, by its figures."""
    packed = PACKED_ARGS.get(event)
    if not packed:
        return dict(args)
    out: dict[str, Any] = {}
    for name, value in args.items():
        if name in packed:
            out.update((f.name, f.of(int(value))) for f in packed[name])
        else:
            out[name] = value
    return out


@dataclass(frozen=True)
class EventCodec:
    """How one event's logs decode: its indexed parameters from the topics, the rest from the
    data (word by word where every type is elementary and static, else by eth_abi)."""

    topic_params: tuple[tuple[str, str, bool], ...]  # name, type, stored as a hash
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]
    topic_decoders: tuple[WordDecoder | None, ...] = field(default=(), compare=False)
    data_decoders: tuple[WordDecoder, ...] | None = field(default=None, compare=False)
    event: str = ""  # its name, for the packed arguments it unpacks (PACKED_ARGS)

    @classmethod
    def of(
        cls, inputs: Sequence[Mapping[str, Any]], names: Sequence[str], event: str = ""
    ) -> EventCodec:
        """From the event's ABI `inputs`, the name each argument is to be known by and the
        event's name."""
        topics = tuple(
            (n, canonical_type(p), is_dynamic(p))
            for n, p in zip(names, inputs, strict=True)
            if p.get("indexed")
        )
        data = [(n, canonical_type(p)) for n, p in zip(names, inputs, strict=True)]
        data = [(n, t) for (n, t), p in zip(data, inputs, strict=True) if not p.get("indexed")]
        data_types = tuple(t for _, t in data)
        return cls(
            topics,
            tuple(n for n, _ in data),
            data_types,
            tuple(None if hashed else word_decoder(kind) for _, kind, hashed in topics),
            _word_decoders(data_types),
            event,
        )

    def args(self, entry: RawLog) -> dict[str, Any]:
        """The event's arguments by name (structs as tuples, in field order; a hashed indexed
        argument as its topic's bytes; a packed one as its figures)."""
        out = self._decoded(entry)
        return unpacked(self.event, out) if self.event in PACKED_ARGS else out

    def _decoded(self, entry: RawLog) -> dict[str, Any]:
        topics = entry["topics"][1:]
        if len(topics) != len(self.topic_params):
            raise EventMismatch(f"log {hex0x(entry['transactionHash'])} has {len(topics)} topics")
        out: dict[str, Any] = {}
        decoders = self.topic_decoders or (None,) * len(topics)
        for (name, kind, hashed), topic, decode in zip(
            self.topic_params, topics, decoders, strict=True
        ):
            if hashed:
                out[name] = bytes(topic)
            elif decode is not None:
                out[name] = decode(bytes(topic))
            else:
                out[name] = abi_decode([kind], bytes(topic))[0]
        data = bytes(HexBytes(entry["data"]))
        if self.data_decoders is None:
            values = abi_decode(list(self.data_types), data)
            out.update(zip(self.data_names, values, strict=True))
            return out
        if len(data) < 32 * len(self.data_decoders):
            raise InsufficientDataBytes(
                f"log {hex0x(entry['transactionHash'])}: {len(data)} data bytes for "
                f"{len(self.data_decoders)} words"
            )
        for i, (name, decode) in enumerate(zip(self.data_names, self.data_decoders, strict=True)):
            out[name] = decode(data[32 * i : 32 * i + 32])
        return out
