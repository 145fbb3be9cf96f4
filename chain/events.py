"""Logs -> event arguments, decoded with eth_abi directly from an event's ABI (web3's own event
decoding spent more time formatting than the rest of the indexer together). Used by the indexer
(indexer/decode.py) and by `chain.node.Node.decode_logs` (the audit's events)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, TypeVar, cast

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.types import LogReceipt

# A log as the node returns it (eth_getLogs, a receipt's `logs`).
RawLog = LogReceipt


T = TypeVar("T")


def camel_case(name: str) -> str:
    """`import_wh` -> `importWh`: a Python field's name as the contracts spell it."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def event_record(kind: Callable[..., T], args: Mapping[str, Any], **given: Any) -> T:
    """An event's arguments as `kind` (a dataclass): each field the argument of its name in
    camelCase (an address or a bool as it is, any other value an int), those in `given` from there
    instead."""
    out: dict[str, Any] = {}
    for f in fields(cast(Any, kind)):
        if f.name in given:
            out[f.name] = given[f.name]
        else:
            value = args[camel_case(f.name)]
            out[f.name] = value if isinstance(value, str | bool) else int(value)
    return kind(**out)


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


@dataclass(frozen=True)
class EventCodec:
    """How one event's logs decode: its indexed parameters from the topics, the rest from the
    data."""

    topic_params: tuple[tuple[str, str, bool], ...]  # name, type, stored as a hash
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]

    @classmethod
    def of(cls, inputs: Sequence[Mapping[str, Any]], names: Sequence[str]) -> EventCodec:
        """From the event's ABI `inputs` and the name each argument is to be known by."""
        topics = tuple(
            (n, canonical_type(p), is_dynamic(p))
            for n, p in zip(names, inputs, strict=True)
            if p.get("indexed")
        )
        data = [(n, canonical_type(p)) for n, p in zip(names, inputs, strict=True)]
        data = [(n, t) for (n, t), p in zip(data, inputs, strict=True) if not p.get("indexed")]
        return cls(topics, tuple(n for n, _ in data), tuple(t for _, t in data))

    def args(self, entry: RawLog) -> dict[str, Any]:
        """The event's arguments by name (structs as tuples, in field order; a hashed indexed
        argument as its topic's bytes)."""
        topics = entry["topics"][1:]
        if len(topics) != len(self.topic_params):
            raise EventMismatch(f"log {hex0x(entry['transactionHash'])} has {len(topics)} topics")
        out: dict[str, Any] = {}
        for (name, kind, hashed), topic in zip(self.topic_params, topics, strict=True):
            out[name] = bytes(topic) if hashed else abi_decode([kind], bytes(topic))[0]
        values = abi_decode(list(self.data_types), bytes(HexBytes(entry["data"])))
        out.update(zip(self.data_names, values, strict=True))
        return out
