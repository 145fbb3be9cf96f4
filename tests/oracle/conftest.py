"""One real ganache for the oracle's chain tests (free port), meters with keystores on disk, and
their members registered on-chain; the environments of a meter signer and of the relay."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from chain.codec import ROLE_CODES
from chain.devchain import DevChain
from chain.node import Node, Sender
from gridshare.settings import Settings
from indexer.devdb import PgServer
from oracle.meter.keys import write_keystore
from oracle.samples import meter_id
from tests.fixtures import PG_MISSING, chain, chain_node, postgres  # noqa: F401

PASSWORD = "correct horse battery staple"
DSO, ORACLE = 0, 1
METERS = ("E0001", "E0002", "E0003", "E0004")


@pytest.fixture(scope="session")
def node(chain: DevChain) -> Node:
    return Node.from_settings(chain.network_id, Settings(deployments_dir=chain.deployments_dir))


@dataclass(frozen=True)
class Meters:
    keystore_dir: Path
    names: tuple[str, ...]


@pytest.fixture(scope="session")
def meters(node: Node, tmp_path_factory: pytest.TempPathFactory) -> Meters:
    """METERS, each with a keystore and registered on-chain to its own member (accounts 10+),
    plus 'E0099' with a keystore but never registered."""
    return register_meters(node, tmp_path_factory.mktemp("meter-keys"))


def register_meters(node: Node, directory: Path) -> Meters:
    """Keystores in `directory` for METERS and 'E0099'; METERS registered on `node`'s
    deployment, each to its own member (accounts 10+)."""
    community = node.contract("Community").functions
    dso = Sender(node.w3.eth.accounts[DSO])
    for k, name in enumerate((*METERS, "E0099")):
        key = Account.create(f"meter {name}")
        write_keystore(directory, name, "0x" + bytes(key.key).hex(), PASSWORD, iterations=2)
        if name == "E0099":
            continue
        member = node.w3.eth.accounts[10 + k]
        node.transact(community.registerMember(member, ROLE_CODES["prosumer"], 0), dso)
        node.transact(community.registerMeter(meter_id(name), member, key.address), dso)
    return Meters(directory, METERS)


def _env(chain: DevChain, db: Path) -> dict[str, str]:
    """What every oracle subprocess is given: the chain, the outbox and fast retries; nothing
    of the developer's own GRIDSHARE_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDSHARE_")}
    return {
        **env,
        "GRIDSHARE_CONFIG": "/nonexistent/gridshare.toml",
        "GRIDSHARE_DEPLOYMENTS_DIR": str(chain.deployments_dir),
        "GRIDSHARE_ORACLE_DB_URL": f"sqlite:///{db}",
        "GRIDSHARE_ORACLE_POLL_SECONDS": "0.2",
        "GRIDSHARE_RPC_RETRY_INITIAL_SECONDS": "0.1",
        "GRIDSHARE_RPC_RETRY_MAX_SECONDS": "0.5",
    }


def relay_env(chain: DevChain, node: Node, db: Path) -> dict[str, str]:
    """The environment of a `gridshare oracle` (relay) subprocess: the oracle account, and no
    meter key material at all."""
    return {**_env(chain, db), "GRIDSHARE_ORACLE": str(node.w3.eth.accounts[ORACLE])}


def meter_env(
    chain: DevChain, meters: Meters, db: Path, span_slots: int | None = 1
) -> dict[str, str]:
    """The environment of a `gridshare meter` (signer) subprocess: the meter keystores and their
    password, and no account to send from; readings signed per span of `span_slots` slots (1:
    each alone; None: the setting's default)."""
    env = {
        **_env(chain, db),
        "GRIDSHARE_METER_KEY_PASSWORD": PASSWORD,
        "GRIDSHARE_METER_KEYSTORE_DIR": str(meters.keystore_dir),
    }
    if span_slots is not None:
        env["GRIDSHARE_METER_SPAN_SLOTS"] = str(span_slots)
    return env


@pytest.fixture(params=["sqlite", "postgresql"])
def outbox_url(request: pytest.FixtureRequest, postgres: PgServer | None, tmp_path: Path) -> str:
    """An empty outbox database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'outbox.db'}"
    if postgres is None:
        pytest.skip(PG_MISSING)
    return postgres.new_database()
