"""Deploy a community's contracts on a network and run it there.

`network` is a brownie network id whose node is already running (the deployment is made by
`brownie run scripts/deploy.py`, exactly as anywhere else), or `dev`: a private ganache on a free
port (chain/devchain.py, never 8545/8546) that is removed afterwards.

A run of whole days (from the day's first slot, no scenario hooks) has its meters sign a day of
readings at once (a span, `sim.runner`); its deployment's reading deadline is then a day, so
that a slot's imbalance waits for its span (`span_env`).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from eth_utils.address import to_checksum_address

from chain.devchain import ROOT, dev_chain
from chain.node import Node
from gridshare.settings import Settings
from sim.community import Community
from sim.profiles import HouseholdProfile, community_profiles
from sim.runner import Progress, Roles, RunHooks, Runner, RunResult, genesis_for

DEV_NETWORK = "dev"


def deploy(network: str, env: dict[str, str]) -> None:
    """`brownie run scripts/deploy.py` on `network` (its node running) with `env` added."""
    bins = [str(ROOT / "node_modules" / ".bin"), str(Path(sys.executable).parent)]
    full = {**os.environ, "PATH": os.pathsep.join([*bins, os.environ.get("PATH", "")]), **env}
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "brownie"),
            "run",
            "scripts/deploy.py",
            "--network",
            network,
        ],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"deploying on {network} failed:\n{done.stdout}\n{done.stderr}")


def _run(
    node: Node,
    community: Community,
    days: int,
    progress: Progress | None,
    work: Path,
    settings: Settings,
    hooks: RunHooks | None,
    profiles: dict[str, HouseholdProfile] | None,
    start: int,
    span_slots: int,
    runner_class: type[Runner],
    max_slots: int | None,
) -> RunResult:
    accounts = [to_checksum_address(a) for a in node.make_request("eth_accounts", [])]
    profiles = profiles if profiles is not None else community_profiles(community, days)
    # One outbox per deployment: its readings belong to this deployment's meters and slots.
    community_address = node.manifest.contracts["Community"]
    outbox_url = f"sqlite:///{work / f'oracle-outbox-{community_address}.sqlite'}"
    runner = runner_class(
        node,
        community,
        profiles,
        Roles.dev(accounts),
        outbox_url,
        settings.audit_batch_blocks,
        hooks,
        f"sqlite:///{work / f'intent-pool-{community_address}.sqlite'}",
        span_slots,
        settings.imbalance_carry_slots,
    )
    result = runner.run(days, progress, start, max_slots)
    # The temporary deployments folder goes with `simulate`'s caller: keep the manifest's text.
    result.deployment = (work / f"{node.manifest.network}.json").read_text()
    return result


def keep_deployment(
    deployment: str | None, network: str, deployments_dir: Path, report_dir: Path
) -> str | None:
    """Keep a run's deployment manifest: `deployment.json` in the report folder and, unless
    `network` is the private `dev` chain (gone after the run), `<deployments_dir>/<network>.json`
    too, where `gridshare index run` and the API look for it. Returns the line to print (None:
    no chain run, nothing to keep)."""
    if deployment is None:
        return None
    report_dir.mkdir(parents=True, exist_ok=True)
    copy = report_dir / "deployment.json"
    copy.write_text(deployment)
    if network == DEV_NETWORK:
        network_id = json.loads(deployment)["network"]
        return (
            f"  deployment: {copy} ({network_id} was a private chain, removed at the end: "
            "nothing left to index)"
        )
    deployments_dir.mkdir(parents=True, exist_ok=True)
    kept = deployments_dir / f"{network}.json"
    kept.write_text(deployment)
    command = f"gridshare index run --network {network}"
    if deployments_dir != Path("deployments"):
        command = f"GRIDSHARE_DEPLOYMENTS_DIR={shlex.quote(str(deployments_dir))} {command}"
    return f"  deployment: {kept} (copy: {copy}); index it: {command}"


def span_slots_for(community: Community, hooks: RunHooks | None, start: int) -> int:
    """Slots per signed reading span: a day for a run of whole days, else one (a scenario's
    hooks, e.g. flexibility, read a slot's readings during the day)."""
    return community.slots_per_day if hooks is None and start == 0 else 1


def span_env(community: Community, span_slots: int) -> dict[str, str]:
    """The deployment settings a span needs: a reading deadline of at least the span, so that
    no slot settles its imbalance before its span's readings arrive."""
    if span_slots == 1:
        return {}
    return {"GRIDSHARE_READING_DEADLINE_SECONDS": str(span_slots * community.slot_seconds)}


def simulate(
    community: Community,
    days: int,
    network: str,
    settings: Settings,
    deployments_dir: Path,
    progress: Progress | None = None,
    hooks: RunHooks | None = None,
    profiles: dict[str, HouseholdProfile] | None = None,
    extra_env: dict[str, str] | None = None,
    start: int = 0,
    runner_class: type[Runner] = Runner,
    max_slots: int | None = None,
) -> RunResult:
    """Deploy the community's contracts on `network` and run it for `days` days. `hooks`: a
    scenario's additions to the run (sim/flex.py); `profiles`: computed here when None;
    `extra_env`: further GRIDSHARE_* deployment settings (e.g. the flexibility penalty);
    `start`: the first sim slot (chain slot 0 starts at that time of day 1); `runner_class`: a
    Runner that also measures (bench/year.py); `max_slots`: stop after this many slots."""
    span_slots = span_slots_for(community, hooks, start)
    env = {
        **community.deploy_env(),
        **span_env(community, span_slots),
        **(extra_env or {}),
        "GRIDSHARE_GENESIS": str(genesis_for(int(time.time())) + start * community.slot_seconds),
        "GRIDSHARE_DEPLOYMENTS_DIR": str(deployments_dir.resolve()),
    }
    local = settings.model_copy(update={"deployments_dir": deployments_dir.resolve()})
    if network == DEV_NETWORK:
        with dev_chain(deployments_dir.resolve(), env) as chain:
            node = Node.from_settings(chain.network_id, local)
            return _run(
                node, community, days, progress, deployments_dir.resolve(), settings, hooks,
                profiles, start, span_slots, runner_class, max_slots,
            )  # fmt: skip
    deploy(network, env)
    node = Node.from_settings(network, local)
    return _run(
        node, community, days, progress, deployments_dir.resolve(), settings, hooks, profiles,
        start, span_slots, runner_class, max_slots,
    )  # fmt: skip
