"""One real ganache for the matcher tests (on a free port, never 8545/8546), deployed with
scripts/deploy.py through brownie, and members who can trade on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.devchain import DevChain
from chain.node import Node
from gridshare.settings import Settings
from tests.fixtures import chain, chain_node, sharing_community  # noqa: F401
from tests.matcher.helpers import EUR, MATCHER, MEMBERS, Market


@pytest.fixture(scope="session")
def settings(chain: DevChain) -> Settings:
    """Settings as the matcher reads them: the node is found through brownie's network entry."""
    probe = Node.from_settings(chain.network_id, Settings(deployments_dir=chain.deployments_dir))
    matcher = str(probe.w3.eth.accounts[MATCHER])
    return Settings(
        deployments_dir=chain.deployments_dir,
        matcher=matcher,
        rpc_retry_initial_seconds=0.05,
        rpc_retry_max_seconds=0.2,
    )


@pytest.fixture(scope="session")
def node(chain: DevChain, settings: Settings) -> Node:
    return Node.from_settings(chain.network_id, settings)


@pytest.fixture(scope="session")
def market(node: Node) -> Market:
    m = Market(node)
    m.add_members(MEMBERS, 1_000 * EUR)
    return m


@pytest.fixture
def matcher_env(chain: DevChain, settings: Settings, tmp_path: Path) -> dict[str, str]:
    """Environment for a `gridshare matcher run` subprocess on the test chain (with an intent
    pool of its own)."""
    assert settings.matcher is not None
    return {
        "GRIDSHARE_INTENT_POOL_URL": f"sqlite:///{tmp_path / 'intents.sqlite'}",
        "GRIDSHARE_DEPLOYMENTS_DIR": str(chain.deployments_dir),
        "GRIDSHARE_MATCHER": settings.matcher,
        "GRIDSHARE_RPC_RETRY_INITIAL_SECONDS": "0.1",
        "GRIDSHARE_RPC_RETRY_MAX_SECONDS": "0.4",
        "GRIDSHARE_CONFIG": str(Path("/nonexistent/gridshare.toml")),
    }
