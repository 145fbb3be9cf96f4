"""The index's tests: one real ganache (deployed with scripts/deploy.py, real market activity),
one real anvil with a `sharing` deployment and a slot settled on it, and one real PostgreSQL
server per session; every test indexes into fresh databases of its own, on SQLite and on
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from chain.devchain import DevChain
from chain.node import Node, Sender
from gridshare.settings import Settings
from indexer.devdb import PgServer
from indexer.migrate import make_engine
from matcher.service import Matcher
from tests.fixtures import (  # noqa: F401
    PG_MISSING,
    chain,
    chain_node,
    postgres,
    sharing_community,
)
from tests.matcher.helpers import EUR, MATCHER, MEMBERS, Market
from tests.sharing import FLOWS, SharingCommunity


@pytest.fixture(scope="session")
def settings(chain: DevChain) -> Settings:
    return Settings(
        deployments_dir=chain.deployments_dir,
        rpc_retry_initial_seconds=0.05,
        rpc_retry_max_seconds=0.2,
    )


@pytest.fixture(scope="session")
def node(chain: DevChain, settings: Settings) -> Node:
    return Node.from_settings(chain.network_id, settings)


@pytest.fixture(scope="session")
def market(node: Node) -> Market:
    m = Market(node)
    m.add_members(MEMBERS[:6], 1_000 * EUR)
    trade_slot(m)
    return m


@pytest.fixture(scope="session")
def sharing_slot(sharing_community: SharingCommunity) -> int:
    """A slot of the sharing deployment settled from the members' readings (`FLOWS`), over
    three chunks; the slots before it settled empty."""
    slot, _block = sharing_community.settle_slot(FLOWS)
    return slot


@pytest.fixture(scope="session")
def matcher(node: Node) -> Matcher:
    return Matcher(node, Sender(node.w3.eth.accounts[MATCHER]))


def trade_slot(market: Market, offset: int = 0) -> int:
    """Real market activity: orders (one cancelled), gate closure, settlement by the matcher.
    `offset` varies the orders so that a replayed fork carries different transactions."""
    alice, bob, carol, dave = MEMBERS[:4]
    slot = market.open_slot()
    market.place(alice, slot, "buy", 3000 + offset, 190_000)
    market.place(bob, slot, "buy", 2000, 120_000 + offset)
    market.place(carol, slot, "sell", 2500, 80_000)
    market.place(dave, slot, "sell", 2000 + offset, 150_000)
    cancelled = market.place(dave, slot, "sell", 1000, 160_000)
    book = market.node.contract("OrderBook")
    market.node.transact(book.functions.cancelOrder(cancelled), market.sender(dave))
    market.close_gate(slot)
    Matcher(market.node, Sender(market.accounts[MATCHER])).run_once()
    return slot


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_db(
    db_kind: str, postgres: PgServer | None, tmp_path: Path
) -> Iterator[Callable[[], Engine]]:
    """A factory of fresh empty databases of the parametrized kind."""
    engines: list[Engine] = []
    counter = iter(range(1000))

    def make() -> Engine:
        if db_kind == "sqlite":
            url = f"sqlite:///{tmp_path}/index-{next(counter)}.db"
        else:
            if postgres is None:
                pytest.skip(PG_MISSING)
            url = postgres.new_database()
        engine = make_engine(url)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()
