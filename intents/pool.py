"""The intent pool: every signed intent the API accepted, durable from its acceptance to its
slot's settlement (docs/decisions.md, "Intent pool").

SQLAlchemy 2: a SQLite file by default (write-ahead log, `synchronous=FULL`, so an accepted
intent survives a kill -9 or a power cut; writers from several processes wait for each other),
PostgreSQL by URL. The API writes (`add`, `withdraw`), the matcher reads a slot's pending intents
at gate closure (`pending`) and records what its settlement did with each (`resolve`).

An intent's life: pending → included (carried in the slot's settlement) | left_out (with a
reason: uncovered, expired, revoked, not_member, role_cannot_sell, price_out_of_bounds,
member_cap, ...) | withdrawn (by its owner while pending). A row is never deleted or overwritten
with another intent: its id is the intent's EIP-712 struct hash (chain.intents.intent_id), stored
as 64 lowercase hex digits so that text order is id order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, cast

from eth_utils.address import to_checksum_address
from sqlalchemy import (
    BigInteger,
    Dialect,
    Engine,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    and_,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from chain.intents import Intent, SignedIntent
from market.records import record_from
from storage.engine import create_tables, open_engine

PENDING: Final = "pending"
INCLUDED: Final = "included"
LEFT_OUT: Final = "left_out"
WITHDRAWN: Final = "withdrawn"
STATUSES: Final = (PENDING, INCLUDED, LEFT_OUT, WITHDRAWN)
_CHUNK = 500  # ids per IN (...) list
_MAX_SLOT = 2**63  # slots are stored as signed 64-bit integers


class _Uint(TypeDecorator[int]):
    """An unsigned integer of up to 256 bits, stored exactly as decimal text (an epoch or a
    deadline may exceed a signed 64-bit column; SQLite's NUMERIC would round it)."""

    impl = String(78)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> str | None:
        return None if value is None else str(int(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


class _Base(DeclarativeBase):
    pass


class IntentRow(_Base):
    """One intent as accepted, with what became of it."""

    __tablename__ = "intent_pool"
    __table_args__ = (
        Index("ix_intent_pool_slot_status", "slot", "status"),
        Index("ix_intent_pool_owner_slot", "owner", "slot"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # struct hash, 64 hex digits
    owner: Mapped[str] = mapped_column(String(42))  # lowercase 0x-hex
    slot: Mapped[int] = mapped_column(BigInteger, index=True)
    side: Mapped[str] = mapped_column(String(4))  # buy | sell
    energy_wh: Mapped[int] = mapped_column(BigInteger)
    limit_price: Mapped[int] = mapped_column(BigInteger)  # n€ per Wh
    epoch: Mapped[int] = mapped_column(_Uint)
    deadline: Mapped[int] = mapped_column(_Uint)
    signature: Mapped[bytes] = mapped_column(LargeBinary(65))  # r, s, v
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[int] = mapped_column(BigInteger)  # unix seconds
    settled_slot: Mapped[int | None] = mapped_column(BigInteger)  # the settlement that decided it
    tx_hash: Mapped[str | None] = mapped_column(String(66))  # of the settlement carrying it

    def signed(self) -> SignedIntent:
        intent = record_from(Intent, self, owner=to_checksum_address(self.owner))
        return SignedIntent(intent, bytes(self.signature))


_TABLE = cast(Table, IntentRow.__table__)
_C = _TABLE.c


@dataclass(frozen=True, slots=True)
class PooledIntent:
    """An intent in the pool and what became of it."""

    intent: Intent
    id: int
    status: str  # pending | included | left_out | withdrawn
    reason: str | None  # why it was left out
    received_at: int
    tx_hash: str | None  # the settlement that carried it (included only)
    signature: bytes
    settled_slot: int | None  # set once resolved (included or left out)

    @property
    def signed(self) -> SignedIntent:
        return SignedIntent(self.intent, self.signature)


def id_hex(intent_id: int) -> str:
    """An intent id as the pool stores it: 64 lowercase hex digits, no prefix."""
    if not 0 <= intent_id < 2**256:
        raise ValueError(f"an intent id is a 256-bit unsigned integer, got {intent_id}")
    return f"{intent_id:064x}"


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for i in ids:
        batch.append(i)
        if len(batch) == _CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


class IntentPool:
    """The pool at `url` (its table is created if missing). Safe to share between threads, and
    between processes on the same database."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = open_engine(url, durable=True)
        create_tables(_Base.metadata, self.engine)
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        # One statement for every intent added, its values bound at execution (building and
        # compiling it per intent was a third of the intake's time).
        self._insert = insert(_TABLE).on_conflict_do_nothing(index_elements=["id"]).returning(_C.id)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with Session(self.engine) as session, session.begin():
            yield session

    # -- the API's side -----------------------------------------------------------------------

    def add(self, signed: SignedIntent, received_at: int) -> bool:
        """Store `signed` (pending); False if an intent with its id is already there, which is
        left as it is."""
        i = signed.intent
        if i.slot >= _MAX_SLOT:
            raise ValueError(f"slot {i.slot} is beyond what the pool stores (2**63)")
        if len(signed.signature) != 65:
            raise ValueError(f"a signature has 65 bytes, got {len(signed.signature)}")
        values = {
            "id": id_hex(i.id),
            "owner": i.owner.lower(),
            "slot": i.slot,
            "side": i.side,
            "energy_wh": i.energy_wh,
            "limit_price": i.limit_price,
            "epoch": i.epoch,
            "deadline": i.deadline,
            "signature": bytes(signed.signature),
            "status": PENDING,
            "reason": None,
            "received_at": received_at,
            "settled_slot": None,
            "tx_hash": None,
        }
        with self.engine.begin() as conn:
            return conn.execute(self._insert, values).first() is not None

    def withdraw(self, intent_id: int, owner: str) -> bool:
        """Withdraw `owner`'s pending intent `intent_id` (the matcher then no longer sees it);
        False if there is no such pending intent of `owner`."""
        stmt = (
            update(_TABLE)
            .where(
                _C.id == id_hex(intent_id),
                _C.owner == owner.lower(),
                _C.status == PENDING,
            )
            .values(status=WITHDRAWN, reason=None)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def get(self, intent_id: int) -> PooledIntent | None:
        with self._session() as s:
            row = s.get(IntentRow, id_hex(intent_id))
            return None if row is None else _pooled(row)

    def of_owner(self, owner: str, from_slot: int, to_slot: int) -> list[PooledIntent]:
        """`owner`'s intents for slots from_slot..to_slot (inclusive), by slot then id."""
        if from_slot >= _MAX_SLOT or to_slot < from_slot:
            return []  # no stored intent lies there (add refuses slots from 2**63)
        stmt = (
            select(IntentRow)
            .where(
                IntentRow.owner == owner.lower(),
                IntentRow.slot >= max(from_slot, 0),
                IntentRow.slot <= min(to_slot, _MAX_SLOT - 1),
            )
            .order_by(IntentRow.slot, IntentRow.id)
        )
        with self._session() as s:
            return [_pooled(row) for row in s.scalars(stmt)]

    def count_pending(self, owner: str, slot: int) -> int:
        """How many pending intents `owner` has for `slot` (its per-slot cap counts these)."""
        if slot >= _MAX_SLOT:
            return 0
        stmt = select(func.count()).where(
            IntentRow.owner == owner.lower(),
            IntentRow.slot == slot,
            IntentRow.status == PENDING,
        )
        with self._session() as s:
            return int(s.execute(stmt).scalar_one())

    # -- the matcher's side -------------------------------------------------------------------

    def pending(self, slot: int) -> list[SignedIntent]:
        """The pending intents of `slot`, in ascending id order."""
        if slot >= _MAX_SLOT:
            return []
        stmt = (
            select(IntentRow)
            .where(IntentRow.slot == slot, IntentRow.status == PENDING)
            .order_by(IntentRow.id)
        )
        with self._session() as s:
            return [row.signed() for row in s.scalars(stmt)]

    def resolve(
        self,
        slot: int,
        included: Collection[int],
        left_out: Mapping[int, str],
        tx_hash: str | None,
    ) -> None:
        """Record what `slot`'s settlement did, in one transaction: `included` intents were carried
        in it (transaction `tx_hash`), `left_out` ones were not (id -> reason). Only intents of
        `slot` change. Included wins over any earlier status (the chain carried it, even if its
        owner withdrew it meanwhile); left out changes only pending or left-out intents (a
        withdrawal or an inclusion stays). Repeating a call changes nothing."""
        both = set(included) & set(left_out)
        if both:
            raise ValueError(f"intents both included and left out: {sorted(both)}")
        with self.engine.begin() as conn:
            for ids in _chunks(id_hex(i) for i in sorted(included)):
                conn.execute(
                    update(_TABLE)
                    .where(_C.slot == slot, _C.id.in_(ids))
                    .values(status=INCLUDED, reason=None, settled_slot=slot, tx_hash=tx_hash)
                )
            by_reason: dict[str, list[int]] = {}
            for intent_id, reason in left_out.items():
                by_reason.setdefault(reason, []).append(intent_id)
            for reason, group in sorted(by_reason.items()):
                for ids in _chunks(id_hex(i) for i in sorted(group)):
                    conn.execute(
                        update(_TABLE)
                        .where(
                            and_(
                                _C.slot == slot,
                                _C.id.in_(ids),
                                _C.status.in_((PENDING, LEFT_OUT)),
                            )
                        )
                        .values(status=LEFT_OUT, reason=reason, settled_slot=slot, tx_hash=None)
                    )


def _pooled(row: IntentRow) -> PooledIntent:
    signed = row.signed()
    return record_from(
        PooledIntent, row, intent=signed.intent, id=int(row.id, 16), signature=signed.signature
    )
