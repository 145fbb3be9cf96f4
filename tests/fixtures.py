"""Fixtures shared by the test directories that run against real services: each directory that
imports `chain` (and `chain_node`, which it needs) gets its own private chain for its session
(state never leaks between directories), `sharing_community` a private anvil with a community
deployed in the `sharing` mode and its members registered, and `postgres` one throwaway
PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain.devchain import DevChain, dev_chain
from indexer.devdb import PgServer, pg_server
from tests.sharing import FLOWS, SharingCommunity, sharing_chain

PG_MISSING = (
    "PostgreSQL is not installed and could not be: run `make setup` as root "
    "(apt-get install -y postgresql) to test against it"
)


@pytest.fixture(scope="session")
def chain_node() -> str:
    """The node a directory's `chain` runs on: anvil (fast), unless the directory's conftest
    overrides this fixture with "ganache" (the demos' node, kept covered that way)."""
    return "anvil"


@pytest.fixture(scope="session")
def chain(tmp_path_factory: pytest.TempPathFactory, chain_node: str) -> Iterator[DevChain]:
    """`chain_node` on a free port with the contracts deployed by scripts/deploy.py."""
    with dev_chain(tmp_path_factory.mktemp("deployments"), node=chain_node) as running:
        yield running


@pytest.fixture(scope="session")
def sharing_community(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharingCommunity]:
    """Anvil on a free port with a `sharing` deployment (two members a chunk) and one member
    per entry of `tests.sharing.FLOWS` registered, each with a meter, and funded."""
    with sharing_chain(tmp_path_factory.mktemp("sharing-deployments")) as running:
        yield SharingCommunity.with_members(running, len(FLOWS))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer | None]:
    """A throwaway PostgreSQL server (None where it is not installed; tests then skip with
    PG_MISSING)."""
    try:
        with pg_server() as server:
            yield server
    except RuntimeError as exc:
        if "not installed" not in str(exc):
            raise
        yield None
