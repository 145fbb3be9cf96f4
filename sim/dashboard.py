"""`gridshare dashboard` (`make dashboard`): a community a newcomer can open and sign into.

A private ganache on a free port (never 8545/8546), the community run on it for a day exactly as
`gridshare simulate` runs it, then the event indexer and the API (with the dashboard) as child
processes, the API's dev sign-in helper on (api/dev.py: it signs for the demo's households and
the DSO, on this local chain only). It prints the dashboard's address and the accounts to sign in
as, and stops everything it started on Ctrl-C (or SIGTERM): the API, the indexer, the chain and
its brownie network entry; its working folder (manifest, index, keys) goes with it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx
from eth_utils.address import to_checksum_address
from rich.console import Console

from chain.devchain import ROOT, DevChain, dev_chain, stop_process
from chain.node import Node
from gridshare.settings import Settings
from sim.community import Community
from sim.runner import Member

GRIDSHARE = [sys.executable, "-c", "from gridshare.cli import app; app()"]
RELAYER_ACCOUNT = 5  # a node account no role uses (scripts/deploy.py: 0 DSO, 1-4 and 8 roles)
START_SECONDS = 60  # the API must answer within this long after it was started


class DashboardError(RuntimeError):
    """A child process failed to start or died."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def sign_in_accounts(
    members: Sequence[Member], dso_key: str, dso_address: str
) -> dict[str, object]:
    """The accounts file of the API's dev sign-in helper: each household (and the battery) with
    its wallet key, then the DSO with its node account's key."""
    rows = [{"name": m.name, "role": m.role, "address": m.address, "key": m.key} for m in members]
    rows.append({"name": "DSO", "role": "dso", "address": dso_address, "key": dso_key})
    return {"accounts": rows}


def _node_key(keys_file: Path, address: str) -> str:
    """The private key of a node account, from ganache's --wallet.accountKeysPath file."""
    keys = json.loads(keys_file.read_text())["private_keys"]
    return str(keys[address.lower()])


@contextmanager
def _signals_stop() -> Iterator[None]:
    """SIGTERM stops the dashboard as Ctrl-C (SIGINT) does. SIGINT's handler is set here too:
    a process started in the background by a shell without job control inherits SIGINT
    ignored, and Python then installs no handler of its own (Ctrl-C, or a test's SIGINT, did
    nothing)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _start(name: str, args: list[str], env: dict[str, str], work: Path) -> Child:
    log = work / f"{name}.log"
    with log.open("wb") as out:
        # Its own process group: the terminal's Ctrl-C reaches this process only, which then
        # stops the children in order (API first, then the indexer, then the chain).
        process = subprocess.Popen(
            [*GRIDSHARE, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Child(name, process, log)


def _check_alive(children: list[Child]) -> None:
    """DashboardError naming the first child that exited, with the tail of its log."""
    for child in children:
        if child.process.poll() is not None:
            raise DashboardError(
                f"the {child.name} exited ({child.process.returncode}):\n{child.tail()}"
            )


def _wait_for_api(url: str, children: list[Child]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        _check_alive(children)
        try:
            if httpx.get(f"{url}/dev/accounts", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise DashboardError(f"the API did not answer at {url} within {START_SECONDS} s")
        time.sleep(0.3)


def _services(
    chain: DevChain,
    work: Path,
    accounts_file: Path,
    port: int,
    node_accounts: list[str],
    children: list[Child],
) -> str:
    """Start the API and the indexer on the chain's deployment (added to `children` as each
    starts, so that they are stopped whatever happens next); the API's URL."""
    env = {
        **os.environ,
        "GRIDSHARE_DEPLOYMENTS_DIR": str(chain.deployments_dir),
        "GRIDSHARE_INDEX_DB_URL": f"sqlite:///{work / 'index.db'}",
        "GRIDSHARE_INTENT_POOL_URL": f"sqlite:///{work / 'intents.db'}",
        "GRIDSHARE_API_HOST": "127.0.0.1",
        "GRIDSHARE_API_PORT": str(port),
        "GRIDSHARE_API_OPERATOR": node_accounts[0],
        "GRIDSHARE_API_RELAYER": node_accounts[RELAYER_ACCOUNT],
        "GRIDSHARE_API_DEV_ACCOUNTS": str(accounts_file),
        # The chain mines no block after the demo day: an index kept 3 blocks behind the head
        # (the default, for reorgs a private ganache never has) would miss the day's last
        # blocks, its period close among them, and the statements would lack it for good.
        "GRIDSHARE_INDEX_CONFIRMATIONS": "0",
    }
    network = ["--network", chain.network_id]
    children.append(_start("API", ["api", *network], env, work))
    children.append(_start("indexer", ["index", "run", *network], env, work))
    url = f"http://127.0.0.1:{port}"
    _wait_for_api(url, children)
    return url


def _instructions(url: str, accounts: dict[str, object], name: str) -> list[str]:
    rows = accounts["accounts"]
    assert isinstance(rows, list)
    width = max(len(str(r["name"])) for r in rows)
    lines = [
        f"{name} is running on a private chain: open {url}/",
        f"  API and its docs: {url}/docs",
        "  Sign in: press 'Sign in on this dev chain' (top right) and pick one of:",
    ]
    for r in rows:
        lines.append(
            f"    {str(r['name']).ljust(width)}  {str(r['role']).ljust(10)} {r['address']}"
        )
    lines.append("  (a dev-only helper signs for these accounts; a real chain never offers it)")
    lines.append("  Ctrl-C stops the API, the indexer and the chain.")
    return lines


def run_dashboard(
    spec: Community, port: int, console: Console, run: Callable[[DevChain], Sequence[Member]]
) -> None:
    """Run `spec` on a private chain with `run(chain)` (sim/cli.py: deploy, run and report as
    `gridshare simulate` or `simulate-sharing --chain` do; it returns the members to sign in
    as), then serve it until Ctrl-C."""
    with tempfile.TemporaryDirectory(prefix="gridshare-dashboard-") as folder, _signals_stop():
        work = Path(folder)
        keys_file = work / "node-keys.json"
        try:
            with dev_chain(
                work / "deployments",
                extra=["--wallet.accountKeysPath", str(keys_file)],
                deploy=False,
            ) as chain:
                _serve(spec, chain, work, keys_file, port, console, run)
        except KeyboardInterrupt:
            console.print("stopped: the API, the indexer and the chain are gone", markup=False)


def _serve(
    spec: Community,
    chain: DevChain,
    work: Path,
    keys_file: Path,
    port: int,
    console: Console,
    run: Callable[[DevChain], Sequence[Member]],
) -> None:
    members = run(chain)
    local = Settings(deployments_dir=chain.deployments_dir, rpc_url=chain.url)
    node = Node.from_settings(chain.network_id, local)
    node_accounts = [str(to_checksum_address(a)) for a in node.make_request("eth_accounts", [])]
    accounts = sign_in_accounts(members, _node_key(keys_file, node_accounts[0]), node_accounts[0])
    accounts_file = work / "dev-accounts.json"
    accounts_file.write_text(json.dumps(accounts))
    children: list[Child] = []
    try:
        url = _services(chain, work, accounts_file, port, node_accounts, children)
        for line in _instructions(url, accounts, spec.name):
            console.print(line, markup=False, highlight=False)
        while True:
            _check_alive(children)
            time.sleep(0.5)
    finally:
        for child in children:
            stop_process(child.process, timeout=10)
