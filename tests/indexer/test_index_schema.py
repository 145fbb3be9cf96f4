"""The schema: committed event list = the contracts' events, migrations = the tables, exact
integers, and a database bound to one deployment."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, MetaData, Table, select, update

from chain.devchain import DevChain
from chain.node import Node
from indexer.migrate import current_revision, head_revision, upgrade
from indexer.schema import checkpoint, event_table, metadata
from indexer.service import Indexer, IndexMismatch
from indexer.spec import SPEC_PATH, merged_event_abis, snake_case
from indexer.types import Uint
from tests.sharing import SharingCommunity

NewDb = Callable[[], Engine]


def test_snake_case() -> None:
    assert [snake_case(n) for n in ("OrderBook", "volumeWh", "EIP712DomainChanged", "from")] == [
        "order_book",
        "volume_wh",
        "eip712_domain_changed",
        "from",
    ]
    assert event_table("order_book", "order_placed") is event_table("OrderBook", "OrderPlaced")
    with pytest.raises(KeyError, match=r"no table for OrderBook\.Nope"):
        event_table("OrderBook", "Nope")


def test_committed_event_list_is_the_deployed_contracts_events(
    chain: DevChain, sharing_community: SharingCommunity
) -> None:
    """The events of a trading and a sharing deployment's contracts together. A contract whose
    events change fails here until events.json is regenerated (and then the migration test
    below fails until a migration is added)."""
    manifests = [
        json.loads(next(Path(c.deployments_dir).glob("*.json")).read_text())["abi"]
        for c in (chain, sharing_community.chain)
    ]
    deployed = merged_event_abis(manifests)
    assert "SharingSettlement" in deployed and "OrderBook" in deployed
    assert json.loads(SPEC_PATH.read_text()) == json.loads(json.dumps(deployed))


def test_migrations_build_exactly_the_schema(new_db: NewDb) -> None:
    engine = new_db()
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []
    upgrade(engine)  # idempotent
    assert current_revision(engine) == head_revision()


def test_uint_is_exact_over_the_full_range(new_db: NewDb) -> None:
    engine = new_db()
    scratch = MetaData()
    table = Table("numbers", scratch, Column("k", Uint, primary_key=True), Column("v", Uint))
    scratch.create_all(engine)
    values = [0, 1, 2**63 - 1, 2**63, 2**64 + 7, 2**256 - 1, -(2**255), -(2**63) - 1]
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"k": i, "v": v} for i, v in enumerate(values)])
    with engine.connect() as connection:
        back = connection.execute(select(table.c.v).order_by(table.c.k)).scalars().all()
        small = connection.execute(select(table.c.k).where(table.c.v == 2**256 - 1)).scalar_one()
    assert back == values and all(type(v) is int for v in back)
    assert small == 5


def test_a_database_indexes_one_deployment(node: Node, new_db: NewDb) -> None:
    engine = new_db()
    Indexer(node, engine, batch_blocks=100, confirmations=0)
    with engine.begin() as connection:
        contracts = dict(connection.execute(select(checkpoint.c.contracts)).scalar_one())
        contracts["OrderBook"] = "0x" + "11" * 20
        connection.execute(update(checkpoint).values(contracts=contracts))
    with pytest.raises(IndexMismatch, match="use another database"):
        Indexer(node, engine, batch_blocks=100, confirmations=0)
