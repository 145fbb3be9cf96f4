"""The event index's tables (SQLAlchemy Core). Migrated by alembic (indexer/migrations).

* `ev_<contract>_<event>` (snake_case, e.g. `ev_order_book_order_placed`), one per event of each
  contract in `indexer/events.json`: `tx_hash`, `log_index` (together the primary key),
  `block_number`, `block_hash`, `block_time` (unix seconds), then one column per event argument
  in snake_case: address -> String(42) checksummed, bytesN -> String 0x-hex (bytes32: 66),
  any int -> `Uint` (NUMERIC(78,0), a Python int), bool -> Boolean, string -> Text, arrays ->
  JSON lists, struct arguments flattened to `<arg>_<field>` columns. Indexed arguments and
  `block_number` carry an index; `COMPOSITE_INDEXES` adds multi-column ones (a member's rows
  by slot).
* `blocks`: number, hash, parent_hash, timestamp of every block the index holds rows of and of
  every batch's last block; the reorg check compares these hashes with the chain's.
* `checkpoint`: one row: which deployment the database indexes, and the last block indexed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from indexer.spec import ArgColumn, EventSpec, load_specs, snake_case
from indexer.types import Uint

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

blocks = Table(
    "blocks",
    metadata,
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(66), nullable=False),
    Column("parent_hash", String(66), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

checkpoint = Table(
    "checkpoint",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("network", String(200), nullable=False),
    Column("chain_id", BigInteger, nullable=False),
    Column("contracts", JSON, nullable=False),  # {"OrderBook": "0x...", ...}
    Column("first_block", BigInteger, nullable=False),  # the deployment's first block
    Column("block_number", BigInteger, nullable=False),  # last block indexed (first_block - 1)
    Column("block_hash", String(66), nullable=True),  # its hash (None before the first batch)
)


def column_type(abi_type: str) -> TypeEngine[Any]:
    """The SQL type of an event argument of Solidity type `abi_type`."""
    if abi_type.endswith("]"):
        return JSON()
    if abi_type == "address":
        return String(42)
    if abi_type == "bool":
        return Boolean()
    if abi_type == "string":
        return Text()
    if abi_type.startswith(("uint", "int")):
        return Uint()
    if abi_type.startswith("bytes") and abi_type != "bytes":
        return String(2 + 2 * int(abi_type[len("bytes") :]))
    if abi_type == "bytes":
        return Text()
    raise ValueError(f"no column type for ABI type {abi_type}")


COMPOSITE_INDEXES: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("SharingSettlement", "SharingSettled"): (("member", "slot"),),
}
"""Multi-column indexes of event tables, by (contract, event): named `ix_<table>_<columns>`."""


def _event_table(spec: EventSpec) -> Table:
    arg_columns = [_arg_column(c) for c in spec.columns]
    indexes = [
        Index(f"ix_{spec.table_name}_{'_'.join(names)}", *names)
        for names in COMPOSITE_INDEXES.get((spec.contract, spec.event), ())
    ]
    return Table(
        spec.table_name,
        metadata,
        Column("tx_hash", String(66), primary_key=True),
        Column("log_index", Integer, primary_key=True, autoincrement=False),
        Column("block_number", BigInteger, nullable=False, index=True),
        Column("block_hash", String(66), nullable=False),
        Column("block_time", BigInteger, nullable=False),
        *arg_columns,
        *indexes,
    )


def _arg_column(column: ArgColumn) -> Column[Any]:
    return Column(column.name, column_type(column.abi_type), nullable=False, index=column.indexed)


SPECS: tuple[EventSpec, ...] = tuple(load_specs())
_TABLES: dict[tuple[str, str], Table] = {
    (snake_case(s.contract), snake_case(s.event)): _event_table(s) for s in SPECS
}


def event_table(contract: str, event: str) -> Table:
    """The table of `contract`'s `event`; names as in the ABI ("OrderBook", "OrderPlaced") or
    in snake_case ("order_book", "order_placed")."""
    try:
        return _TABLES[(snake_case(contract), snake_case(event))]
    except KeyError:
        raise KeyError(f"the index has no table for {contract}.{event}") from None


def event_tables() -> list[Table]:
    return list(_TABLES.values())
