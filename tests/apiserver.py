"""The API under test, shared by tests/api and tests/dashboard: a real local chain (devchain,
never 8545/8546; anvil, see tests/fixtures.py:chain_node) with the contracts deployed, the API
served by uvicorn on a free port in a thread, and clients over real HTTP. Each test directory's
conftest imports these fixtures, so each directory gets its own chain and server for its
session."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from eth_utils.crypto import keccak

from api.client import Wallet
from api.main import create_app
from chain.devchain import DevChain, free_port
from chain.node import Node, Sender
from gridshare.settings import Settings
from tests.fixtures import chain, chain_node

__all__ = [
    "chain",
    "chain_node",
]  # re-exported: the directories that use this harness import it from here

DSO_ACCOUNT, MATCHER_ACCOUNT, RELAYER_ACCOUNT = 0, 2, 5


@pytest.fixture(scope="session")
def port() -> int:
    return free_port()


def api_settings(chain: DevChain, port: int, folder: Path) -> Settings:
    """The API's settings for `chain`: its relayer, operator and matcher accounts, fast head
    polling, and its index and intent pool in `folder`."""
    probe = Node.from_settings(chain.network_id, Settings(deployments_dir=chain.deployments_dir))
    accounts = [str(a) for a in probe.w3.eth.accounts]
    db = folder / "index.db"
    return Settings.model_validate(
        {
            "deployments_dir": chain.deployments_dir,
            "matcher": accounts[MATCHER_ACCOUNT],
            "rpc_retry_initial_seconds": 0.05,
            "rpc_retry_max_seconds": 0.2,
            "api_port": port,
            "api_relayer": accounts[RELAYER_ACCOUNT],
            "api_operator": accounts[DSO_ACCOUNT],
            "api_session_secret": "test-secret",
            "index_db_url": f"sqlite:///{db}",
            "intent_pool_url": f"sqlite:///{db.with_name('intents.db')}",
            "api_head_poll_seconds": 0.1,
        }
    )


@pytest.fixture(scope="session")
def settings(chain: DevChain, port: int, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return api_settings(chain, port, tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def node(chain: DevChain, settings: Settings) -> Node:
    return Node.from_settings(chain.network_id, settings)


@contextmanager
def serve(settings: Settings, network: str) -> Iterator[str]:
    """The API of the deployment on `network`, served by uvicorn on `settings.api_port` in a
    thread; yields its base URL."""
    app = create_app(settings, Node.from_settings(network, settings))
    config = uvicorn.Config(app, host="127.0.0.1", port=settings.api_port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{settings.api_port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def base_url(settings: Settings, node: Node) -> Iterator[str]:
    with serve(settings, node.manifest.network) as url:
        yield url


@pytest.fixture(scope="session")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


def grant(node: Node, role: str, address: str) -> None:
    """The community's admin (the deployer) grants an on-chain role."""
    admin = Sender(str(node.w3.eth.accounts[DSO_ACCOUNT]))
    community = node.contract("Community").functions
    node.transact(community.grantRole(keccak(text=role), address), admin)


@pytest.fixture(scope="session")
def dso(client: httpx.Client, node: Node) -> Wallet:
    """A DSO operator: a fresh key holding DSO_ROLE on-chain, signed in."""
    w = Wallet(client)
    grant(node, "DSO_ROLE", w.address)
    w.sign_in()
    return w


def new_member(
    client: httpx.Client, dso: Wallet, role: str = "prosumer", top_up: int = 0
) -> Wallet:
    """A fresh key registered by the DSO through the API, topped up, signed in. It holds no
    ether: everything it does goes through the API's relayer."""
    w = Wallet(client)
    r = dso.post("/dso/members", {"address": w.address, "role": role, "lock_in_slots": 0})
    assert r.status_code == 201, r.text
    w.sign_in()
    if top_up:
        req = w.post("/wallet/top-ups", {"amount": top_up})
        assert req.status_code == 201, req.text
        done = dso.post(f"/dso/top-ups/{req.json()['reference']}/confirm")
        assert done.status_code == 200, done.text
    return w


@pytest.fixture(scope="session")
def members(client: httpx.Client, dso: Wallet) -> list[Wallet]:
    return [new_member(client, dso, top_up=100 * 10**9) for _ in range(3)]


@pytest.fixture(scope="session")
def schema_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("schema") / "openapi.json"
