"""A throwaway local chain for tests, benchmarks and the sim: ganache (or anvil) on a free port
(never 8545/8546, which developers use), registered with brownie under a unique network id so that
`brownie run scripts/deploy.py` attaches to it and deploys exactly as it would anywhere else.

Brownie attaches to a node that is already listening and leaves it running when it exits; the
network entry is removed from brownie's config again when the chain stops.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped]
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.providers import HTTPProvider
from web3.types import Nonce, TxParams, Wei

from chain.gateway import CommunityGateway, ImbalanceGateway
from chain.node import (
    PLAIN_TRANSFER_GAS,
    ContractCall,
    Manifest,
    Node,
    NodeError,
    RetryPolicy,
    Sender,
)
from gridshare.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
RESERVED_PORTS = frozenset({8545, 8546, 8555})  # 8555: make test's anvil
BLOCK_GAS_LIMIT = 60_000_000
GANACHE_FLAGS = (
    "--chain.chainId",
    "1337",
    "--hardfork",
    "shanghai",
    "--wallet.mnemonic",
    "gridshare",
    "--wallet.totalAccounts",
    "20",
    "--chain.vmErrorsOnRPCResponse",
    "true",
    "--logging.quiet",
)
# The same chain on anvil (Foundry, Rust EVM): same chain id, block gas limit and hardfork;
# anvil's own default accounts (its mnemonic flag wants a BIP-39 phrase). Base fee 0 so that
# the services' fixed gas price is always enough. Used by long benchmarks (bench/thousand.py).
ANVIL_FLAGS = (
    "--chain-id",
    "1337",
    "--hardfork",
    "shanghai",
    "--accounts",
    "20",
    "--base-fee",
    "0",
    "--silent",
)
NODES = ("ganache", "anvil")


def free_port() -> int:
    """A port nothing listens on right now, other than the reserved ones."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


def _tool_env() -> dict[str, str]:
    """The environment with the venv's and npm's binaries on PATH (as the Makefile sets it)."""
    bins = [str(ROOT / "node_modules" / ".bin"), str(Path(sys.executable).parent)]
    return {**os.environ, "PATH": os.pathsep.join([*bins, os.environ.get("PATH", "")])}


def _brownie(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "brownie"), *args],
        cwd=ROOT,
        env=dict(env or _tool_env()),
        capture_output=True,
        text=True,
        check=False,
    )


@contextmanager
def _network_config() -> Iterator[dict[str, Any]]:
    """brownie's network config (the file `brownie networks add` writes), for one change: under
    an exclusive lock on a file beside it, then replaced in one rename. Dev chains started side
    by side (make test's two lanes) neither lose each other's entries nor let a brownie run read
    a half-written file, as `brownie networks add/delete` (which rewrite it in place) could."""
    path = load_settings().brownie_network_config.expanduser()
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        config = yaml.safe_load(path.read_text())
        yield config
        staged = path.with_name(f".{path.name}.{os.getpid()}")
        staged.write_text(yaml.dump(config))
        os.replace(staged, path)


def add_dev_network(network_id: str, node: str, port: int) -> None:
    """Register a local node (`ganache` or `anvil`) on `port` with brownie as `network_id`, the
    entry `brownie networks add Development ...` would write."""
    with _network_config() as config:
        entries = config.setdefault("development", [])
        if any(e.get("id") == network_id for e in entries):
            raise RuntimeError(f"brownie network {network_id!r} already exists")
        entries.append(
            {
                "cmd": "ganache-cli" if node == "ganache" else "anvil",
                "cmd_settings": {"port": port},
                "host": "http://127.0.0.1",
                "id": network_id,
                "name": network_id,
            }
        )


def remove_dev_network(network_id: str) -> None:
    """Remove `network_id` from brownie's development networks (nothing if it is not there)."""
    with _network_config() as config:
        entries = config.get("development") or []
        config["development"] = [e for e in entries if e.get("id") != network_id]


@dataclass
class DevChain:
    """A running ganache with the gridshare contracts deployed on it."""

    port: int
    process: subprocess.Popen[bytes]
    network_id: str
    deployments_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def deploy(self, env: Mapping[str, str] | None = None) -> None:
        """Run scripts/deploy.py against this chain; `env` adds GRIDSHARE_* settings."""
        full_env = {
            **_tool_env(),
            "GRIDSHARE_DEPLOYMENTS_DIR": str(self.deployments_dir),
            **(env or {}),
        }
        done = _brownie("run", "scripts/deploy.py", "--network", self.network_id, env=full_env)
        if done.returncode != 0:
            raise RuntimeError(f"deploy failed:\n{done.stdout}\n{done.stderr}")

    def stop(self) -> None:
        remove_dev_network(self.network_id)
        stop_process(self.process, timeout=10)


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Terminate `process`; kill it if it has not exited within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_ganache(
    port: int,
    node: str = "ganache",
    block_gas_limit: int = BLOCK_GAS_LIMIT,
    block_seconds: int | None = None,
    extra: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Start ganache (or anvil: `node="anvil"`) on `port` and wait until it answers.
    `block_seconds` (anvil only): mine a block every so many seconds with what is pending,
    instead of one block per arriving transaction; `extra`: more flags for the node."""
    if port in RESERVED_PORTS:
        raise ValueError(f"port {port} is reserved for developers' own nodes")
    if node not in NODES:
        raise ValueError(f"unknown development node {node!r}, expected one of {NODES}")
    binary = str(ROOT / "node_modules" / ".bin" / node)
    args = (
        [binary, "--server.port", str(port), "--miner.blockGasLimit", str(block_gas_limit)]
        if node == "ganache"
        else [binary, "--port", str(port), "--gas-limit", str(block_gas_limit)]
    )
    args += GANACHE_FLAGS if node == "ganache" else ANVIL_FLAGS
    if block_seconds is not None:
        if node != "anvil":
            raise ValueError("interval mining (block_seconds) is set up for anvil only")
        args += ["--block-time", str(block_seconds)]
    args += extra
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    w3 = Web3(HTTPProvider(f"http://127.0.0.1:{port}", exception_retry_configuration=None))
    deadline = time.monotonic() + 60
    while True:
        try:
            w3.eth.get_block("latest")
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"{node} did not start on port {port}") from None
            time.sleep(0.2)


@contextmanager
def dev_chain(
    deployments_dir: Path,
    env: Mapping[str, str] | None = None,
    node: str = "ganache",
    block_gas_limit: int = BLOCK_GAS_LIMIT,
    block_seconds: int | None = None,
    extra: Sequence[str] = (),
    deploy: bool = True,
) -> Iterator[DevChain]:
    """Ganache (or anvil) on a free port with the contracts deployed (unless `deploy` is False:
    the caller deploys, e.g. `gridshare simulate` on its network id); stopped and unregistered
    on exit. `extra`: more flags for the node."""
    port = free_port()
    process = start_ganache(port, node, block_gas_limit, block_seconds, extra)
    chain = DevChain(port, process, f"gridshare-dev-{port}", deployments_dir)
    try:
        add_dev_network(chain.network_id, node, port)
        if deploy:
            chain.deploy(env)
        yield chain
    finally:
        chain.stop()


def bare_node(port: int, chain_id: int = 1337) -> Node:
    """A connection to a development node on `port` with nothing deployed (for node-level
    measurements and checks)."""
    return Node(
        f"http://127.0.0.1:{port}",
        Manifest(f"bare-{port}", chain_id, 0, {}, {}),
        RetryPolicy(0.1, 1.0, 5),
        gas_price_wei=0,
        rpc_timeout_seconds=60,
        tx_timeout_seconds=60,
    )


def storage_words(node: Node) -> dict[str, int]:
    """Anvil only: the storage words each account holds (`anvil_dumpState`), by address, those
    written back to zero included (anvil keeps them, and they cost its blocks as much)."""
    dump = bytes.fromhex(str(node.make_request("anvil_dumpState", []))[2:])
    state = json.loads(gzip.decompress(dump) if dump[:2] == b"\x1f\x8b" else dump)
    return {
        to_checksum_address(address): len(account.get("storage", {}))
        for address, account in state["accounts"].items()
    }


def advance_to(node: Node, timestamp: int) -> None:
    """Move the chain's time to `timestamp` (if it is ahead) and mine a block there.

    anvil is told the next block's timestamp: after many quick blocks its head runs ahead of its
    clock, and a block mined after `evm_increaseTime` could land before the moment asked for.
    Ganache, which lacks that method, has its clock moved by the gap."""
    gap = timestamp - node.block_timestamp()
    if gap > 0:
        try:
            node.make_request("evm_setNextBlockTimestamp", [timestamp])
        except NodeError:
            node.make_request("evm_increaseTime", [gap])
    # A transaction rather than evm_mine, which ganache 7.9.2 sometimes fails ("Cannot read
    # properties of undefined (reading 'forEach')") while another client's tx is being mined.
    # Its gas is given (a plain transfer's): ganache's eth_estimateGas has hung past the 30 s
    # request timeout while a matcher process's settlement was being mined beside it.
    dso = node.w3.eth.accounts[0]
    tx_hash = node.w3.eth.send_transaction(
        {
            "from": dso,
            "to": dso,
            "value": Wei(0),
            "gas": PLAIN_TRANSFER_GAS,
            "gasPrice": Wei(node.gas_price_wei),
        }
    )
    mined = node.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    if node.block_timestamp(mined["blockNumber"]) < timestamp:
        raise NodeError(f"the chain's time did not reach {timestamp}")


def close_gate(node: Node, slot: int) -> None:
    """Move the chain's time just past `slot`'s gate closure and mine a block there."""
    advance_to(node, CommunityGateway(node).gate_closure(slot) + 1)


def advance_past_reading_deadline(node: Node, slot: int) -> None:
    """Move time just past `slot`'s reading deadline: its delivery is over, and once its
    readings are in (or missing for good) its imbalance may be settled."""
    deadline = ImbalanceGateway(node).reading_deadline_seconds()
    advance_to(node, CommunityGateway(node).slot_start(slot + 1) + deadline + 1)


def dev_accounts(node: Node) -> list[str]:
    """The development chain's unlocked accounts, in order (scripts/deploy.py gives 0 to the
    DSO, 1 to the oracle, 2 to the matcher, 3 the fee account, 4 the network account, 8 the
    supply account; the rest are free)."""
    return [str(a) for a in node.rpc("eth_accounts", lambda: node.w3.eth.accounts)]


def dev_sender(node: Node, index: int) -> Sender:
    """Unlocked account `index` as a sender (the node signs for it)."""
    return Sender(dev_accounts(node)[index])


def nonce_of(node: Node, address: str, *, pending: bool = False) -> int:
    """`address`'s transaction count: mined, or with `pending` also those waiting."""
    account = to_checksum_address(address)
    block: Literal["pending", "latest"] = "pending" if pending else "latest"
    return int(
        node.rpc(
            "eth_getTransactionCount", lambda: node.w3.eth.get_transaction_count(account, block)
        )
    )


def wait_for_nonce(node: Node, address: str, nonce: int, timeout: float = 600) -> None:
    """Wait until `address`'s transactions below `nonce` are mined (set-up sent unordered)."""
    deadline = time.monotonic() + timeout
    while nonce_of(node, address) < nonce:
        if time.monotonic() > deadline:
            raise NodeError(f"transactions of {address} below nonce {nonce} were not mined")
        time.sleep(0.2)


def send_unlocked(
    node: Node, sender: str, fn: ContractCall, *, nonce: int | None = None, gas: int
) -> None:
    """Send `fn` from an unlocked account with an explicit gas (and nonce, if given) and do not
    wait: one request per set-up transaction (the node mines each as it arrives)."""
    params: TxParams = {"from": to_checksum_address(sender), "gas": gas}
    params["gasPrice"] = Wei(node.gas_price_wei)
    if nonce is not None:
        params["nonce"] = Nonce(nonce)
    tx = fn.build_transaction(params)
    node.rpc("eth_sendTransaction", lambda: node.w3.eth.send_transaction(tx))
