"""Which events the index holds and how each becomes a table, derived from contract ABIs.

The index's schema must not move with whatever manifest a database happens to be pointed at, so
the event ABIs it is built from are committed in `indexer/events.json` and the tables are
migrated by alembic. When a contract's events change: regenerate the file from a fresh
deployment of each market mode (`python -m indexer.spec deployments/<trading>.json
deployments/<sharing>.json`: the union of their contracts' events), then add a migration
(`python -m indexer.migrate revision "what changed"`). `tests/indexer` fails until both are done.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.events import PACKED_ARGS, PackedField, event_topic, is_dynamic

SPEC_PATH = Path(__file__).with_name("events.json")
BASE_COLUMNS = ("tx_hash", "log_index", "block_number", "block_hash", "block_time")
MAX_IDENTIFIER = 63  # PostgreSQL's limit


def snake_case(name: str) -> str:
    """`OrderBook` -> `order_book`, `volumeWh` -> `volume_wh`, `EIP712DomainChanged` ->
    `eip712_domain_changed`; already snake_case names are unchanged."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return spaced.lower()


@dataclass(frozen=True)
class ArgColumn:
    """One column of an event table: `path` leads from the event's arguments to the value (a
    struct argument is flattened into one column per field, `<arg>_<field>`)."""

    name: str
    abi_type: str  # "address", "uint64", "bytes32", "bool", "uint256[]", ...
    path: tuple[str, ...]
    indexed: bool


@dataclass(frozen=True)
class EventSpec:
    contract: str  # as in the manifest: "OrderBook"
    event: str  # as in the ABI: "OrderPlaced"
    abi: Mapping[str, Any]
    columns: tuple[ArgColumn, ...]

    @property
    def table_name(self) -> str:
        return f"ev_{snake_case(self.contract)}_{snake_case(self.event)}"

    @property
    def topic(self) -> bytes:
        return event_topic(self.abi)


def _columns(
    params: Sequence[Mapping[str, Any]],
    prefix: str,
    path: tuple[str, ...],
    indexed: bool,
    packed: Mapping[str, tuple[PackedField, ...]],
) -> list[ArgColumn]:
    out: list[ArgColumn] = []
    for position, param in enumerate(params):
        raw = str(param.get("name") or f"arg{position}")
        name = f"{prefix}{snake_case(raw)}"
        kind = str(param["type"])
        is_indexed = indexed or bool(param.get("indexed"))
        if raw in packed and not path:  # several figures in one word: a column each
            out += [
                ArgColumn(snake_case(f.name), f.abi_type, (f.name,), False) for f in packed[raw]
            ]
        elif param.get("indexed") and is_dynamic(param):  # the log holds only its keccak hash
            out.append(ArgColumn(name, "bytes32", (*path, raw), True))
        elif kind == "tuple":  # a struct: one column per field
            out += _columns(param["components"], f"{name}_", (*path, raw), is_indexed, packed)
        else:
            out.append(ArgColumn(name, kind, (*path, raw), is_indexed))
    return out


def event_spec(contract: str, abi: Mapping[str, Any]) -> EventSpec:
    packed = PACKED_ARGS.get(str(abi["name"]), {})
    columns = tuple(_columns(abi.get("inputs", []), "", (), False, packed))
    spec = EventSpec(contract, str(abi["name"]), abi, columns)
    names = [c.name for c in columns]
    clash = sorted({n for n in names if n in BASE_COLUMNS or names.count(n) > 1})
    if clash:
        raise ValueError(f"{contract}.{spec.event}: argument columns {clash} clash")
    if len(spec.table_name) > MAX_IDENTIFIER - 10:  # room for index names
        raise ValueError(f"table name {spec.table_name} is too long for PostgreSQL")
    return spec


def event_abis(abis: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The non-anonymous event entries of each contract's ABI, by contract and event name."""
    out: dict[str, list[dict[str, Any]]] = {}
    for contract in sorted(abis):
        events = [
            dict(item)
            for item in abis[contract]
            if item.get("type") == "event" and not item.get("anonymous")
        ]
        names = [e["name"] for e in events]
        if len(set(names)) != len(names):
            raise ValueError(f"{contract} has overloaded events: {sorted(names)}")
        out[contract] = sorted(events, key=lambda e: str(e["name"]))
    return out


def load_specs(path: Path = SPEC_PATH) -> list[EventSpec]:
    """The committed event list: one spec per (contract, event), in a stable order."""
    data: dict[str, list[dict[str, Any]]] = json.loads(path.read_text())
    return [event_spec(contract, abi) for contract in sorted(data) for abi in data[contract]]


def merged_event_abis(
    manifests: Sequence[Mapping[str, Sequence[Mapping[str, Any]]]],
) -> dict[str, list[dict[str, Any]]]:
    """The event entries of every contract of several deployments (a trading and a sharing
    one); a contract in more than one must have the same events in each."""
    out: dict[str, list[dict[str, Any]]] = {}
    for abis in manifests:
        for contract, items in event_abis(abis).items():
            if contract in out and out[contract] != items:
                raise ValueError(f"{contract} has different events in two manifests")
            out[contract] = items
    return dict(sorted(out.items()))


def main(argv: Sequence[str]) -> None:
    """`python -m indexer.spec deployments/<id>.json [...]`: rewrite events.json from the
    manifests of a trading and a sharing deployment (the index covers both modes)."""
    if not argv:
        sys.exit("usage: python -m indexer.spec deployments/<id>.json [deployments/<id>.json ...]")
    events = merged_event_abis([json.loads(Path(a).read_text())["abi"] for a in argv])
    for contract, items in events.items():
        for abi in items:
            event_spec(contract, abi)  # refuse names that cannot become tables
    SPEC_PATH.write_text(json.dumps(events, indent=1, sort_keys=True) + "\n")
    print(f"wrote {SPEC_PATH}: {sum(len(v) for v in events.values())} events")


if __name__ == "__main__":
    main(sys.argv[1:])
