"""The API's own table: top-up requests (off-chain payment intents, not on the chain).

It lives in the index's database (`index_db_url`) under its own name. A request's status is not
stored: it is `confirmed` once the chain has recorded its payment reference
(`EnergyToken.topUpRecorded`), so the chain stays the only truth about money.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from eth_utils.crypto import keccak
from sqlalchemy import BigInteger, Column, MetaData, String, Table, and_, insert, or_, select
from sqlalchemy.engine import Engine

metadata = MetaData()

top_up_request = Table(
    "api_top_up_request",
    metadata,
    Column("reference", String(32), primary_key=True),
    Column("payment_ref", String(66), nullable=False, unique=True),
    Column("member", String(42), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("requested_at", BigInteger, nullable=False),
)

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: typed by people into bank forms


def payment_ref(reference: str) -> str:
    """The on-chain payment reference of a bank reference: keccak256 of its text."""
    return "0x" + keccak(text=reference).hex()


@dataclass(frozen=True)
class TopUpRequest:
    reference: str
    payment_ref: str
    member: str
    amount: int
    requested_at: int


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def new_request(engine: Engine, member: str, amount: int) -> TopUpRequest:
    reference = "GS-" + "".join(secrets.choice(_ALPHABET) for _ in range(12))
    req = TopUpRequest(reference, payment_ref(reference), member, amount, int(time.time()))
    with engine.begin() as conn:
        conn.execute(insert(top_up_request).values(**req.__dict__))
    return req


def _rows(engine: Engine, *where: object) -> list[TopUpRequest]:
    query = select(top_up_request).where(*where).order_by(top_up_request.c.requested_at)  # type: ignore[arg-type]
    with engine.connect() as conn:
        return [TopUpRequest(**row._mapping) for row in conn.execute(query)]


def requests_of(engine: Engine, member: str) -> list[TopUpRequest]:
    return _rows(engine, top_up_request.c.member == member)


def page(
    engine: Engine, member: str | None, limit: int, before: TopUpRequest | None
) -> list[TopUpRequest]:
    """At most `limit` requests (of `member`; None: everyone's), newest first (by time, then
    reference), those after `before` in that order if given: a page whose cursor is the last
    request of the previous one."""
    t = top_up_request
    where = [] if member is None else [t.c.member == member]
    if before is not None:
        at = before.requested_at
        where.append(
            or_(
                t.c.requested_at < at,
                and_(t.c.requested_at == at, t.c.reference < before.reference),
            )
        )
    query = (
        select(t).where(*where).order_by(t.c.requested_at.desc(), t.c.reference.desc()).limit(limit)
    )
    with engine.connect() as conn:
        return [TopUpRequest(**row._mapping) for row in conn.execute(query)]


def get_request(engine: Engine, reference: str) -> TopUpRequest | None:
    found = _rows(engine, top_up_request.c.reference == reference)
    return found[0] if found else None
