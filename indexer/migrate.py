"""Databases of the index: engines from URLs, and alembic migrations to the current schema.

`upgrade(engine)` brings a database to the newest migration (run by `gridshare index run` at
start). A developer who changed `indexer/events.json` writes the next migration with
`python -m indexer.migrate revision "what changed"`: alembic compares the tables of
`indexer/schema.py` with a scratch SQLite database migrated to the current head.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from storage.engine import open_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files use write-ahead logging so readers (the API) never
    block the indexer's writes, and wait for a busy lock instead of failing. The index can be
    rebuilt from the chain, so it is not opened `durable`."""
    return open_engine(url, durable=False)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` (default: the newest), in one transaction."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def revision(message: str) -> None:
    """Autogenerate the next migration against a scratch database at the current head."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/scratch.db")
        upgrade(engine)
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.revision(config, message=message, autogenerate=True)


def main(argv: Sequence[str]) -> None:
    if len(argv) != 2 or argv[0] != "revision":
        sys.exit('usage: python -m indexer.migrate revision "message"')
    revision(argv[1])


if __name__ == "__main__":
    main(sys.argv[1:])
