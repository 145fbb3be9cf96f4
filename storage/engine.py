"""SQL engines from URLs, for every database gridshare writes itself: the intent pool
(intents/), the oracle's outbox (oracle/) and the event index (indexer/).

A ground-floor module (SQLAlchemy only, no gridshare import), so each store opens its database
the same way:
- PostgreSQL URLs without a driver use psycopg 3 (SQLAlchemy's default is psycopg2);
- SQLite files run with a write-ahead log (readers never block a writer) and wait up to 30 s for
  another process's write lock instead of failing;
- tables are created by whichever process comes first (`create_tables`);
- a durable store (`durable=True`: the pool and the outbox, which hold what exists nowhere else)
  also commits with `synchronous=FULL`, so a commit survives a kill -9 and a power cut. The index
  can be rebuilt from the chain and keeps SQLite's default.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

BUSY_TIMEOUT_MS = 30_000


def database_url(url: str) -> str:
    """`url` with psycopg 3 as the driver of a PostgreSQL URL that names none."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def open_engine(url: str, *, durable: bool) -> Engine:
    """An engine for `url` (see the module docstring for what `durable` adds on SQLite)."""
    engine = create_engine(database_url(url))
    if engine.dialect.name == "sqlite":
        pragmas = ["journal_mode=WAL", f"busy_timeout={BUSY_TIMEOUT_MS}"]
        if durable:
            pragmas.append("synchronous=FULL")

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

    return engine


def create_tables(metadata: MetaData, engine: Engine) -> None:
    """Create `metadata`'s missing tables. Processes that start together on a new database (a
    meter's signer and the relay on one outbox, the API and the matcher on one pool) may both
    find a table missing and create it: the loser of such a race checks again. Each lost race
    means another process created one of the tables, so there are at most as many as tables."""
    for _ in range(len(metadata.tables)):
        try:
            metadata.create_all(engine)
            return
        except DatabaseError:
            continue
    metadata.create_all(engine)
