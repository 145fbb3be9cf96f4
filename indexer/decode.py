"""Logs -> rows of the event tables, decoded with the manifest's ABIs (chain.events: eth_abi
directly, as web3's own event decoding spent more time formatting than the rest of the indexer
together)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table

from chain.events import PACKED_ARGS, EventCodec, EventMismatch, RawLog, checksum, hex0x
from indexer.schema import SPECS, event_table
from indexer.spec import ArgColumn, EventSpec


class UnknownEvent(Exception):
    """A log, or an ABI event, the index's schema has no table for."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return hex0x(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _value(column: ArgColumn, raw: Any) -> Any:
    """A decoded argument -> its column's Python value."""
    kind = column.abi_type
    if kind.endswith("]"):
        return _jsonable(raw)
    if kind == "address":
        return checksum(raw)
    if kind.startswith("bytes"):
        return hex0x(raw)
    if kind == "bool":
        return bool(raw)
    if kind.startswith(("uint", "int")):
        return int(raw)
    return raw


@dataclass(frozen=True)
class _Codec:
    spec: EventSpec
    table: Table
    event: EventCodec
    positions: Mapping[str, tuple[Mapping[str, Any], ...]]

    @classmethod
    def of(cls, spec: EventSpec) -> _Codec:
        inputs = [dict(p) for p in spec.abi.get("inputs", [])]
        names = [str(p.get("name") or f"arg{i}") for i, p in enumerate(inputs)]
        positions = dict(zip(names, ((p,) for p in inputs), strict=True))
        for fields in PACKED_ARGS.get(spec.event, {}).values():  # a packed argument's figures
            positions.update((f.name, ({"name": f.name, "type": f.abi_type},)) for f in fields)
        return cls(
            spec,
            event_table(spec.contract, spec.event),
            EventCodec.of(inputs, names, spec.event),
            positions,
        )

    def args(self, entry: RawLog) -> dict[str, Any]:
        """The event's arguments by ABI name (structs as tuples, in field order)."""
        try:
            return self.event.args(entry)
        except EventMismatch as exc:
            raise UnknownEvent(str(exc)) from exc

    def column_value(self, column: ArgColumn, args: Mapping[str, Any]) -> Any:
        value = args[column.path[0]]
        param = self.positions[column.path[0]][0]
        for field in column.path[1:]:  # into a struct, by field position
            components = list(param["components"])
            position = next(
                i for i, c in enumerate(components) if (c.get("name") or f"arg{i}") == field
            )
            value, param = value[position], components[position]
        return _value(column, value)


class Decoder:
    """Logs of a deployment's contracts -> rows of their event tables."""

    def __init__(self, contracts: Mapping[str, str], abis: Mapping[str, list[dict[str, Any]]]):
        by_key = {(s.contract, s.event): s for s in SPECS}
        self._codecs: dict[tuple[str, bytes], _Codec] = {}
        for contract, address in contracts.items():
            for item in abis[contract]:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                spec = by_key.get((contract, str(item["name"])))
                if spec is None or dict(spec.abi) != dict(item):
                    raise UnknownEvent(
                        f"{contract}.{item['name']} is not in the index's schema "
                        "(indexer/events.json): regenerate it and add a migration"
                    )
                self._codecs[(checksum(address), spec.topic)] = _Codec.of(spec)

    def row(self, entry: RawLog, block_time: int) -> tuple[Table, dict[str, Any]]:
        address = checksum(entry["address"])
        topic = bytes(entry["topics"][0]) if entry["topics"] else b""
        codec = self._codecs.get((address, topic))
        if codec is None:
            raise UnknownEvent(
                f"log {hex0x(entry['transactionHash'])}#{entry['logIndex']} of {address} "
                "matches no event in the manifest's ABIs"
            )
        args = codec.args(entry)
        row: dict[str, Any] = {
            "tx_hash": hex0x(entry["transactionHash"]),
            "log_index": int(entry["logIndex"]),
            "block_number": int(entry["blockNumber"]),
            "block_hash": hex0x(entry["blockHash"]),
            "block_time": block_time,
        }
        for column in codec.spec.columns:
            row[column.name] = codec.column_value(column, args)
        return codec.table, row
