"""Column types of the event index that need more than SQLAlchemy's defaults.

`Uint` holds any Solidity integer (uint8..uint256, int8..int256) exactly, as a Python int:
NUMERIC(78, 0) on PostgreSQL (78 digits fit 2^256). SQLite has no exact type that wide (a
NUMERIC column turns a 20-digit value into a float), so there the column has no type affinity
(declared `NUMERIC78_BLOB`): values that fit 64 bits are stored as SQLite integers, wider ones as
their decimal text. Both read back as the exact int; on SQLite wider values sort after all
64-bit ones.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class _SqliteExactNumber(UserDefinedType[Any]):
    """A declared type with no SQLite affinity: values are stored as given (see module doc)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "NUMERIC78_BLOB"


class Uint(TypeDecorator[int]):
    """An exact integer of up to 78 decimal digits, exposed as a Python int."""

    impl = Numeric(78, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SqliteExactNumber())
        return dialect.type_descriptor(Numeric(78, 0, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = int(value)
        if dialect.name == "sqlite":
            return number if INT64_MIN <= number <= INT64_MAX else str(number)
        return Decimal(number)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)
