"""Fault injection (issue 9): `make faults` (`python -m bench.faults`).

A simulated community day (sim/: the community file, its agents placing orders from their own
wallets, its meters signing readings into the oracle's outbox) runs against a ganache started
here with a persistent database (`--database.dbPath`), while the oracle's relay, the matcher and
the indexer run as separate OS processes (the real `gridshare` commands). A chaos thread sends
SIGKILL at random moments to the oracle, the matcher, the indexer or the node (cycling through
the four in a shuffled order so that every one is hit equally often) and restarts the victim:
the services with the same command, the node on the same database and port.

Ganache does not keep the clock offset that `evm_increaseTime` built up: restarted on the same
database it stamps the next block with the host's time, before the blocks already there. So the
node is restarted with `--chain.time` at the last stored block's timestamp + 1 s, read by a
probe ganache on another port over the same database (stopped before the real one starts): block
time stays monotonic and continues where it stopped (the outage itself takes no chain time).

The driver (this process: the agents and the meters) waits for each step to appear on the chain
(a slot's settlement, its readings, its imbalance settlement) instead of doing it itself; it
survives node outages through chain/node.py (retries with backoff; a transaction the restarted
node lost is sent again).

At the end: `gridshare audit` must report 0 discrepancies; every reading the meters produced must
be on-chain exactly once (ReadingAccepted, or a ReadingSpanAccepted reading, per meter and slot,
with the produced energies); every slot settled exactly once (SlotSettled and SlotDigest per
slot, none skipped); the live index must equal a fresh rebuild into a new database, table by
table and row by row.

    .venv/bin/python -m bench.faults --community communities/default-20.toml \
        [--households N] [--slots N] [--min-kills 50] [--interval 2,8] [--seed 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import OperationalError
from web3 import Web3
from web3.providers import HTTPProvider

from audit.fetch import fetch_events
from bench.report import record
from chain.devchain import (
    ROOT,
    DevChain,
    add_dev_network,
    free_port,
    remove_dev_network,
    start_ganache,
    stop_process,
)
from chain.node import Node
from chain.signing import ReadingSpan
from gridshare.settings import load_settings
from market.billing import OrderSettlement
from oracle import outbox
from oracle.samples import meter_id
from sim.agents import MeterFlow
from sim.community import Community, load_community
from sim.profiles import community_profiles
from sim.runner import Roles, Runner, SlotLog, deliver_slot, genesis_for

TARGETS = ("oracle", "matcher", "indexer", "node")
GANACHE = str(ROOT / "node_modules" / ".bin" / "ganache")


# -- processes ---------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Supervised:
    """What the chaos thread does to any target: kill it, and restart it when it died by
    itself (a finding, recorded). Subclasses say how it starts again (`restart`)."""

    process: subprocess.Popen[bytes] | None = None
    kills: int = 0
    restarts: int = 0
    unexpected_exits: list[int] = field(default_factory=list)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def restart(self) -> None:
        raise NotImplementedError

    def check(self) -> None:
        """A target that exited by itself is a finding (a crash): record it and restart."""
        if self.process is not None and self.process.poll() is not None:
            self.unexpected_exits.append(int(self.process.returncode))
            self.restart()


@dataclass
class Service(Supervised):
    """One `gridshare` service as an OS process, restartable with the same command."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    def restart(self) -> None:
        self.start()
        self.restarts += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process, timeout=15)


def _latest_timestamp(port: int) -> tuple[int, int]:
    w3 = Web3(HTTPProvider(f"http://127.0.0.1:{port}", exception_retry_configuration=None))
    block = w3.eth.get_block("latest")
    return int(block["number"]), int(block["timestamp"])


@dataclass
class GanacheNode(Supervised):
    """Ganache on a fixed port over a persistent database; restarted on both, clock intact."""

    port: int
    db_dir: Path
    name: str = "node"
    heads_at_restart: list[tuple[int, int]] = field(default_factory=list)
    """(block number, timestamp) the database held at each restart."""

    def start(self, chain_time: int | None = None) -> None:
        extra = ["--database.dbPath", str(self.db_dir)]
        if chain_time is not None:
            extra += ["--chain.time", str(chain_time * 1000)]  # ganache takes milliseconds
        self.process = start_ganache(self.port, extra=extra)

    def stored_head(self) -> tuple[int, int]:
        """The latest block in the database, read by a probe ganache on another port."""
        port = free_port()
        probe = start_ganache(port, extra=["--database.dbPath", str(self.db_dir)])
        try:
            return _latest_timestamp(port)
        finally:
            probe.terminate()
            probe.wait(timeout=30)

    def restart(self) -> None:
        for attempt in range(3):
            try:
                head = self.stored_head()
                self.heads_at_restart.append(head)
                self.start(head[1] + 1)
                self.restarts += 1
                return
            except RuntimeError:
                if attempt == 2:
                    raise
                time.sleep(1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


Target = Service | GanacheNode


class Chaos(threading.Thread):
    """Kills a target at random moments (every `interval` seconds, uniform), restarts it after
    a random pause of up to `max_down` seconds; restarts any service that died by itself."""

    def __init__(
        self,
        targets: Mapping[str, Target],
        rng: random.Random,
        interval: tuple[float, float],
        max_down: float,
    ) -> None:
        super().__init__(daemon=True)
        self.targets = targets
        self.rng = rng
        self.interval = interval
        self.max_down = max_down
        self.stop_event = threading.Event()
        self.log: list[tuple[float, str]] = []
        self.error: BaseException | None = None
        self._order: list[str] = []

    def run(self) -> None:
        try:
            due = time.monotonic() + self.rng.uniform(*self.interval)
            while not self.stop_event.wait(0.25):
                for target in self.targets.values():
                    target.check()
                if time.monotonic() < due:
                    continue
                if not self._order:
                    self._order = list(self.targets)
                    self.rng.shuffle(self._order)
                name = self._order.pop()
                target = self.targets[name]
                target.kill()
                self.log.append((time.time(), name))
                time.sleep(self.rng.uniform(0, self.max_down))
                target.restart()
                due = time.monotonic() + self.rng.uniform(*self.interval)
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def halt(self) -> None:
        self.stop_event.set()
        self.join()


# -- the driver --------------------------------------------------------------------------------


class FaultRunner(Runner):
    """sim.runner.Runner with the matcher and the oracle's relay in other processes: it places
    the agents' orders and writes the meters' signed readings to the outbox, moves chain time,
    and waits until the chain shows each step done (nothing of it is done here)."""

    wait_seconds = 600.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.produced: dict[tuple[str, int], tuple[int, int]] = {}
        """(meter id 0x-hex, slot) -> (import Wh, export Wh) of every reading produced."""

    def _move_to(self, timestamp: int) -> None:
        """Move chain time to at least `timestamp` (repeated if a node restart lost the move)."""
        while True:
            now = self.node.block_timestamp()
            if now >= timestamp:
                self._now = max(self._now, now)
                return
            self.node.advance_time(timestamp - now)

    def _until(self, what: str, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.wait_seconds
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"stuck: {what} not seen within {self.wait_seconds:.0f}s")
            time.sleep(0.2)

    def settle_trades(self, slot: int) -> tuple[SlotLog, dict[str, list[OrderSettlement]]]:
        self._move_to(self.matcher.calendar().gate_closure(slot) + 1)
        self._until(f"slot {slot}'s settlement", lambda: self.settlement.clearing_of(slot).settled)
        return self.checked_clearing(slot)

    def settle_readings(self, slot: int, flows: dict[str, MeterFlow]) -> None:
        calendar = self.matcher.calendar()
        self._move_to(calendar.genesis + (slot + 1) * calendar.slot_seconds + 1)
        rows, words = self.signed_readings(slot, flows)
        for m in self.members:
            flow = flows[m.address]
            self.produced["0x" + meter_id(m.meter).hex(), slot] = (flow.import_wh, flow.export_wh)
        for attempt in range(50):  # the oracle process may hold SQLite's write lock
            try:
                with self.outbox.begin() as conn:
                    outbox.add_readings(conn, rows)
                break
            except OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.2)
        self._until(
            f"slot {slot}'s {len(rows)} readings",
            lambda: self.readings.reading_count(slot) >= len(rows),
        )
        self.check_readings(slot, words)
        self._until(
            f"slot {slot}'s imbalance settlement", lambda: self.imbalance.next_slot() > slot
        )


def drive(runner: FaultRunner, slots: int, progress: Callable[[int, int], None]) -> None:
    """The sim.runner.Runner.run loop for `slots` slots (periods closed, members refilled)."""
    community = runner.community
    runner.register()
    runner._battery_start = runner._battery_value()
    runner.place_orders(0, 0)
    for index in range(slots):
        log, settlements = runner.settle_trades(index)
        flows = deliver_slot(
            runner.members, runner.profiles, runner.ledgers, runner.rules.tariff, index,
            settlements, log,
        )  # fmt: skip
        if index + 1 < slots:
            runner.place_orders(index + 1, index + 1)
        runner.settle_readings(index, flows)
        if (index + 1) % community.period_slots == 0:
            runner.close_period(index // community.period_slots, runner._battery_value())
        if (index + 1) % community.slots_per_day == 0 and index + 1 < slots:
            runner.refill()
        progress(index + 1, slots)


# -- checks ------------------------------------------------------------------------------------


def table_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a database, its rows sorted (as text, so that NULLs and JSON compare)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            out: dict[str, list[tuple[Any, ...]]] = {}
            for name in inspect(conn).get_table_names():
                rows = conn.execute(text(f'SELECT * FROM "{name}"')).all()
                out[name] = sorted(tuple(str(v) for v in row) for row in rows)
            return out
    finally:
        engine.dispose()


def compare_indexes(live: str, fresh: str, node: Node) -> dict[str, Any]:
    """The live index against a fresh rebuild: every event table and the checkpoint equal row
    for row. `blocks` holds the headers of the blocks with events and of each batch's last
    block, so where the batches ended (which depends on when the indexer polled) adds headers:
    the rebuild's must all be in the live table, and every live header must be the chain's."""
    a, b = table_rows(live), table_rows(fresh)
    differing = sorted(t for t in set(a) | set(b) if t != "blocks" and a.get(t) != b.get(t))
    live_blocks, fresh_blocks = set(a.get("blocks", [])), set(b.get("blocks", []))
    extra = sorted(live_blocks - fresh_blocks, key=lambda r: int(r[0]))
    off_chain = 0
    for row in extra:
        header = node.block(int(row[0]))
        if header is None or "0x" + bytes(header["hash"]).hex() != row[1]:
            off_chain += 1
    if not fresh_blocks <= live_blocks or off_chain:
        differing.append("blocks")
    return {
        "equal": not differing,
        "tables": len(set(a) | set(b)),
        "rows": sum(len(r) for r in b.values()),
        "differing_tables": differing,
        "extra_batch_end_headers": len(extra),
        "extra_headers_not_on_chain": off_chain,
    }


def index_checkpoint(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT block_number FROM checkpoint")).scalar() or -1)
    except OperationalError:
        return -1
    finally:
        engine.dispose()


def chain_counts(
    node: Node, produced: Mapping[tuple[str, int], tuple[int, int]], slots: int
) -> dict[str, Any]:
    head = node.block_number()
    events = fetch_events(node, head, 2000)
    readings: Counter[tuple[str, int]] = Counter()
    energies: dict[tuple[str, int], tuple[int, int]] = {}
    settled: Counter[int] = Counter()
    digests: Counter[int] = Counter()
    for e in events:
        if e.name in ("ReadingAccepted", "ReadingSpanAccepted"):
            meter = str(e.args["meterId"]).lower()
            for r in ReadingSpan.of_event(e.args).readings():
                readings[meter, r.slot] += 1
                energies[meter, r.slot] = (r.import_wh, r.export_wh)
        elif e.name == "SlotSettled":
            settled[int(e.args["slot"])] += 1
        elif e.name == "SlotDigest":
            digests[int(e.args["slot"])] += 1
    expected = set(range(slots))
    return {
        "head_block": head,
        "events": len(events),
        "readings_produced": len(produced),
        "readings_on_chain": sum(readings.values()),
        "readings_lost": sum(1 for k in produced if readings[k] == 0),
        "readings_duplicated": sum(1 for n in readings.values() if n > 1),
        "readings_unknown": sum(1 for k in readings if k not in produced),
        "readings_energy_differs": sum(
            1 for k, v in produced.items() if k in energies and energies[k] != v
        ),
        "slots": slots,
        "slots_settled": len(set(settled) & expected),
        "slots_settled_twice": sum(1 for n in settled.values() if n > 1),
        "slots_skipped": len(expected - set(settled)),
        "slots_imbalance_settled": len(set(digests) & expected),
        "slots_imbalance_twice": sum(1 for n in digests.values() if n > 1),
        "slots_imbalance_skipped": len(expected - set(digests)),
    }


def log_counts(work: Path) -> dict[str, int]:
    """What the services' logs say they recovered from (lines counted in their log files)."""

    def lines(name: str) -> list[str]:
        path = work / f"{name}.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    oracle, matcher, indexer = lines("oracle"), lines("matcher"), lines("indexer")
    return {
        "oracle_batches_reconciled_after_kill": sum("reconciled" in x for x in oracle),
        "matcher_restarts_finding_slots_settled": sum("already settled" in x for x in matcher),
        "indexer_reorg_rollbacks": sum("reorg:" in x for x in indexer),
        "indexer_batches_reread": sum("changed while read" in x for x in indexer),
        "services_node_outages_survived": sum(
            "is back after" in x for x in oracle + matcher + indexer
        ),
    }


# -- the run -----------------------------------------------------------------------------------


@dataclass
class FaultConfig:
    community: Path
    households: int = 0  # 0: all
    slots: int = 0  # 0: one day
    min_kills: int = 50
    interval: tuple[float, float] = (2.0, 8.0)
    max_down: float = 2.0
    seed: int = 1
    confirmations: int = 3
    work: Path | None = None


def _community(config: FaultConfig) -> Community:
    community = load_community(config.community)
    if config.households and config.households < len(community.households):
        kept = community.households[: config.households]
        names = {h.name for h in kept}
        battery = community.battery
        if battery is not None and not all(x.household in names for x in battery.lessees):
            battery = None
        community = community.model_copy(update={"households": kept, "battery": battery})
    return community


def _gridshare(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "gridshare"), *args]


_T0 = time.monotonic()


def _say(line: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {line}", flush=True)


def run_faults(config: FaultConfig, say: Callable[[str], None] = _say) -> dict[str, Any]:
    started = time.monotonic()
    work = config.work or Path(tempfile.mkdtemp(prefix="gridshare-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    community = _community(config)
    slots = config.slots or community.slots_per_day
    rng = random.Random(config.seed)
    port = free_port()
    node_proc = GanacheNode(port, work / "chain")
    node_proc.start()
    network = f"gridshare-faults-{port}"
    deployments = work / "deployments"
    url = f"http://127.0.0.1:{port}"
    services: list[Service] = []
    chaos: Chaos | None = None
    try:
        add_dev_network(network, "ganache", port)
        assert node_proc.process is not None
        DevChain(port, node_proc.process, network, deployments).deploy(
            {**community.deploy_env(), "GRIDSHARE_GENESIS": str(genesis_for(int(time.time())))}
        )
        remove_dev_network(network)
        say(f"deployed on ganache :{port} (database {node_proc.db_dir})")

        base = load_settings()
        settings = community.settings(base).model_copy(
            update={
                "rpc_url": url,
                "deployments_dir": deployments,
                "rpc_retry_initial_seconds": 0.2,
                "rpc_retry_max_seconds": 2.0,
                "rpc_retry_limit": 0,
                "tx_timeout_seconds": 600.0,
            }
        )
        node = Node.from_settings(network, settings)
        accounts = [to_checksum_address(a) for a in node.make_request("eth_accounts", [])]
        roles = Roles.dev(accounts)
        outbox_url = f"sqlite:///{work / 'outbox.sqlite'}"
        pool_url = f"sqlite:///{work / 'intents.sqlite'}"
        live_index = f"sqlite:///{work / 'index-live.sqlite'}"
        env = {
            **os.environ,
            "GRIDSHARE_CONFIG": str(work / "none.toml"),
            "GRIDSHARE_RPC_URL": url,
            "GRIDSHARE_DEPLOYMENTS_DIR": str(deployments),
            "GRIDSHARE_RPC_RETRY_INITIAL_SECONDS": "0.2",
            "GRIDSHARE_RPC_RETRY_MAX_SECONDS": "2",
            "GRIDSHARE_MATCHER": roles.matcher,
            "GRIDSHARE_ORACLE": roles.oracle,
            "GRIDSHARE_ORACLE_DB_URL": outbox_url,
            "GRIDSHARE_INTENT_POOL_URL": pool_url,
            "GRIDSHARE_ORACLE_POLL_SECONDS": "0.5",
        }
        services = [
            Service(
                "oracle",
                _gridshare("oracle", "run", "--network", network),
                env,
                work / "oracle.log",
            ),
            Service(
                "matcher",
                _gridshare("matcher", "run", "--network", network, "--poll", "0.5"),
                env,
                work / "matcher.log",
            ),
            Service(
                "indexer",
                _gridshare(
                    "index",
                    "run",
                    "--network",
                    network,
                    "--db",
                    live_index,
                    "--poll",
                    "0.5",
                    "--confirmations",
                    str(config.confirmations),
                ),
                env,
                work / "indexer.log",
            ),
        ]
        for s in services:
            s.start()
        runner = FaultRunner(
            node, community, community_profiles(community, -(-slots // community.slots_per_day)),
            roles, outbox_url, settings.audit_batch_blocks, None, pool_url,
        )  # fmt: skip
        targets: dict[str, Target] = {s.name: s for s in services}
        targets["node"] = node_proc
        chaos = Chaos(targets, rng, config.interval, config.max_down)
        chaos.start()
        say(
            f"{len(runner.members)} members, {slots} slots; killing every "
            f"{config.interval[0]:g}-{config.interval[1]:g} s"
        )

        def progress(done: int, total: int) -> None:
            # A floor, not the schedule: a run faster than the kills waits at a slot's end
            # until they reached their share of `min_kills` (the kills stay at random moments).
            floor = -(-config.min_kills * done // total)
            deadline = time.monotonic() + 120
            while sum(t.kills for t in targets.values()) < floor and chaos.is_alive():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            kills = sum(t.kills for t in targets.values())
            say(f"slot {done}/{total}: {kills} kills so far")

        drive_error: str | None = None
        try:
            drive(runner, slots, progress)
        except Exception as exc:  # a finding: reported, the checks still run
            drive_error = f"{type(exc).__name__}: {exc}"
            say(f"driver failed: {drive_error}")
        chaos.halt()
        if chaos.error is not None:
            raise RuntimeError(f"chaos thread failed: {chaos.error!r}") from chaos.error
        drive_seconds = time.monotonic() - started
        say("driving done; checking")

        # Quiesce: every process up, the last events confirmed and indexed, then stop services.
        for t in targets.values():
            t.check()
        for _ in range(config.confirmations):
            node.advance_time(0)
        head = node.block_number()
        deadline = time.monotonic() + 300
        while index_checkpoint(live_index) < head - config.confirmations:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        engine = outbox.open_outbox(outbox_url)
        with engine.connect() as conn:
            outbox_counts = outbox.counts(conn)
        engine.dispose()
        for s in services:
            s.stop()

        audited = subprocess.run(
            _gridshare("audit", "--network", network, "--json"),
            env=env, cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        try:
            audit_report = json.loads(audited.stdout)
        except json.JSONDecodeError:
            audit_report = {"ok": False, "error": audited.stderr.strip()[-2000:]}
        fresh_index = f"sqlite:///{work / 'index-fresh.sqlite'}"
        rebuilt = subprocess.run(
            _gridshare(
                "index", "run", "--network", network, "--db", fresh_index, "--once",
                "--confirmations", str(config.confirmations),
            ),
            env=env, cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if rebuilt.returncode != 0:
            raise RuntimeError(f"fresh index rebuild failed: {rebuilt.stderr}")
        index = compare_indexes(live_index, fresh_index, node)
        counts = chain_counts(node, runner.produced, slots)
        times = [h[1] for h in node_proc.heads_at_restart]
        summary: dict[str, Any] = {
            "community": str(config.community),
            "members": len(runner.members),
            "slots": slots,
            "seed": config.seed,
            "interval_seconds": list(config.interval),
            "kills": {name: t.kills for name, t in targets.items()},
            "kills_total": sum(t.kills for t in targets.values()),
            "restarts": {name: t.restarts for name, t in targets.items()},
            "unexpected_exits": {name: t.unexpected_exits for name, t in targets.items()},
            "node_block_time_monotonic": times == sorted(times),
            "driver_error": drive_error,
            "outbox": outbox_counts,
            "chain": counts,
            "audit": {
                "exit_code": audited.returncode,
                "ok": bool(audit_report.get("ok")),
                "discrepancies": len(audit_report.get("discrepancies", [])),
                "slots_checked": audit_report.get("slots_checked"),
                "events_read": audit_report.get("events_read"),
                "error": audit_report.get("error"),
            },
            "index": index,
            "drive_seconds": round(drive_seconds, 1),
            "wall_seconds": round(time.monotonic() - started, 1),
            "work": str(work),
        }
        summary["recovery"] = log_counts(work)
        summary["passed"] = passed(summary, config.min_kills)
        return summary
    finally:
        if chaos is not None and chaos.is_alive():
            chaos.halt()
        for s in services:
            s.stop()
        node_proc.stop()
        remove_dev_network(network)


def passed(s: Mapping[str, Any], min_kills: int) -> bool:
    c = s["chain"]
    return bool(
        s["driver_error"] is None
        and s["kills_total"] >= min_kills
        and all(s["kills"][t] > 0 for t in TARGETS)
        and not any(s["unexpected_exits"].values())
        and s["audit"]["ok"]
        and s["audit"]["discrepancies"] == 0
        and c["readings_lost"] == 0
        and c["readings_duplicated"] == 0
        and c["readings_unknown"] == 0
        and c["readings_energy_differs"] == 0
        and c["readings_on_chain"] == c["readings_produced"]
        and c["slots_settled"] == s["slots"]
        and c["slots_settled_twice"] == 0
        and c["slots_imbalance_settled"] == s["slots"]
        and c["slots_imbalance_twice"] == 0
        and s["index"]["equal"]
        and s["outbox"]["pending"] == 0
        and s["outbox"]["sent"] == 0
        and s["outbox"]["quarantine"] == 0
    )


def markdown(s: Mapping[str, Any]) -> str:
    """The summary as rows of a two-column markdown table."""
    c, a, ix = s["chain"], s["audit"], s["index"]
    exits = sum(len(v) for v in s["unexpected_exits"].values())
    index = "equal" if ix["equal"] else "DIFFERENT: " + ", ".join(ix["differing_tables"])
    rows = [
        (f"kills ({s['kills_total']})", ", ".join(f"{k} {v}" for k, v in s["kills"].items())),
        ("restarts", ", ".join(f"{k} {v}" for k, v in s["restarts"].items())),
        ("processes that died by themselves", str(exits)),
        (
            "readings produced / on-chain / lost / twice",
            f"{c['readings_produced']} / {c['readings_on_chain']} / {c['readings_lost']}"
            f" / {c['readings_duplicated']}",
        ),
        (
            "slots: trades settled / twice / skipped",
            f"{c['slots_settled']} of {c['slots']} / {c['slots_settled_twice']}"
            f" / {c['slots_skipped']}",
        ),
        (
            "slots: imbalance settled / twice / skipped",
            f"{c['slots_imbalance_settled']} of {c['slots']} / {c['slots_imbalance_twice']}"
            f" / {c['slots_imbalance_skipped']}",
        ),
        (
            "audit",
            f"exit {a['exit_code']}, {a['discrepancies']} discrepancies,"
            f" {a['slots_checked']} slots, {a['events_read']} events",
        ),
        (
            "index vs fresh rebuild",
            f"{index} ({ix['tables']} tables, {ix['rows']} rows; "
            f"{ix['extra_batch_end_headers']} extra batch-end headers, "
            f"{ix['extra_headers_not_on_chain']} of them off the chain)",
        ),
        ("wall time", f"{s['wall_seconds']} s (driving {s['drive_seconds']} s)"),
        ("passed", str(s["passed"])),
    ]
    return "\n".join(f"| {k} | {v} |" for k, v in rows)


SECTION = "faults: kill -9 of oracle, matcher, indexer and node over a community day (issue 9)"


def record_summary(summary: Mapping[str, Any], command: str) -> None:
    """The run into bench/results.json and docs/benchmarks.md (bench/report.py)."""
    c, a, ix = summary["chain"], summary["audit"], summary["index"]
    figures: dict[str, Any] = {
        "passed": summary["passed"],
        "members / slots": f"{summary['members']} / {summary['slots']}",
        "kills_total": summary["kills_total"],
        **{f"kills_{k}": v for k, v in summary["kills"].items()},
        "restarts": sum(summary["restarts"].values()),
        "unexpected_exits": sum(len(v) for v in summary["unexpected_exits"].values()),
        "node_block_time_monotonic": summary["node_block_time_monotonic"],
        "readings_produced": c["readings_produced"],
        "readings_on_chain": c["readings_on_chain"],
        "readings_lost": c["readings_lost"],
        "readings_twice": c["readings_duplicated"],
        "slots_settled (trades)": c["slots_settled"],
        "slots_settled_twice / skipped (trades)": f"{c['slots_settled_twice']} / "
        f"{c['slots_skipped']}",
        "slots_settled (imbalance)": c["slots_imbalance_settled"],
        "slots_settled_twice / skipped (imbalance)": f"{c['slots_imbalance_twice']} / "
        f"{c['slots_imbalance_skipped']}",
        "audit_discrepancies": a["discrepancies"],
        "audit_exit_code": a["exit_code"],
        "index_equal_to_rebuild": ix["equal"],
        "index_tables / rows": f"{ix['tables']} / {ix['rows']}",
        "index_extra_batch_end_headers (all on the chain)": ix["extra_batch_end_headers"],
        "events_on_chain": c["events"],
        **summary.get("recovery", {}),
        "wall_s": summary["wall_seconds"],
        "drive_s": summary["drive_seconds"],
    }
    notes = (
        "The community's agents and meters run in the script; the oracle's relay, the matcher "
        "and the indexer are `gridshare` processes; ganache 7.9.2 runs on `--database.dbPath` "
        "on a free port. Every `--interval` seconds (uniform) one of the four, in a shuffled "
        "cycle, gets SIGKILL and is restarted after up to 2 s (the node on the same database "
        "and port, with `--chain.time` at its newest stored block: ganache does not keep the "
        "`evm_increaseTime` offset across a restart). Readings and settlements are counted from "
        "the chain's events; the index is compared with a fresh `index run --once` rebuild "
        "(event tables and checkpoint row for row; `blocks` may hold extra batch-end headers, "
        "each checked against the chain). Measured on the shared 2-core machine while other "
        'engineers\' jobs ran. Method: docs/decisions.md, "Fault injection".'
    )
    record(SECTION, command, figures, notes)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--community", type=Path, default=ROOT / "communities" / "default-20.toml")
    p.add_argument("--households", type=int, default=0, help="Only the first N (0: all).")
    p.add_argument("--slots", type=int, default=0, help="Slots to run (0: one day).")
    p.add_argument("--min-kills", type=int, default=50)
    p.add_argument("--interval", default="2,8", help="Seconds between kills: MIN,MAX.")
    p.add_argument("--max-down", type=float, default=2.0, help="Most seconds a victim stays down.")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", type=Path, default=None, help="Keep the run's files here.")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "faults.json")
    p.add_argument("--record", action="store_true", help="Write the result to docs/benchmarks.md.")
    args = p.parse_args(argv)
    low, high = (float(x) for x in args.interval.split(","))
    config = FaultConfig(
        community=args.community,
        households=args.households,
        slots=args.slots,
        min_kills=args.min_kills,
        interval=(low, high),
        max_down=args.max_down,
        seed=args.seed,
        work=args.work,
    )
    summary = run_faults(config)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(markdown(summary))
    if args.record:
        command = " ".join([".venv/bin/python -m bench.faults", *(argv or sys.argv[1:])])
        record_summary(summary, command)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
