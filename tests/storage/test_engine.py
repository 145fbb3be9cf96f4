"""storage.engine: the one way gridshare opens its SQL stores (pool, outbox, index)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from indexer.migrate import make_engine
from intents.pool import IntentPool
from oracle.outbox import open_outbox
from storage.engine import database_url


def test_postgres_urls_use_psycopg_3() -> None:
    assert database_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_every_sqlite_store_is_opened_the_same_way(tmp_path: Path) -> None:
    """The pool and the outbox are durable (WAL, synchronous=FULL); every store waits for
    another writer's lock; the rebuildable index keeps SQLite's default synchronous."""
    pool = IntentPool(f"sqlite:///{tmp_path / 'pool.db'}")
    durable = {"pool": pool.engine, "outbox": open_outbox(f"sqlite:///{tmp_path / 'outbox.db'}")}
    index = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    try:
        for name, engine in [*durable.items(), ("index", index)]:
            with engine.connect() as conn:
                pragma = conn.exec_driver_sql
                assert pragma("PRAGMA journal_mode").scalar() == "wal", name
                assert pragma("PRAGMA busy_timeout").scalar() == 30_000, name
                if name in durable:
                    assert pragma("PRAGMA synchronous").scalar() == 2, name  # FULL
    finally:
        pool.close()
        for engine in (*durable.values(), index):
            engine.dispose()


def test_processes_starting_together_on_a_new_outbox_all_open_it(tmp_path: Path) -> None:
    """A relay and meter signers started at once on a new SQLite outbox each create the tables
    they find missing; the losers of that race must not fail (seen: 'table already exists')."""
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    probe = f"from oracle.outbox import open_outbox; open_outbox({url!r})"
    procs = [
        subprocess.Popen([sys.executable, "-c", probe], stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
