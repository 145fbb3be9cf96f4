"""`gridshare export allocation`: a `sharing` deployment's settled slot, indexed into a real
SQLite file and exported, row for row against the SharingSettled events; bad input exits 2 with
one line."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from chain.calendar import read_calendar
from chain.node import Node
from chain.settled import SHARING_FIGURES
from gridshare.cli import app
from indexer.allocation import COLUMNS
from indexer.migrate import make_engine
from indexer.service import Indexer
from tests.sharing import FLOWS, SharingCommunity, meter_id


@pytest.fixture
def env(sharing_community: SharingCommunity, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDSHARE_DEPLOYMENTS_DIR", str(sharing_community.chain.deployments_dir))
    monkeypatch.setenv("GRIDSHARE_CONFIG", "/nonexistent/gridshare.toml")


SURPLUS = [(0, 900), (100, 0), (0, 500), (50, 0), (0, 0)]
"""E = 1,400 > D = 150: every consumer covered, the producers' surplus sold to the grid, one
member neither consumes nor produces."""


@pytest.fixture(scope="module")
def slots(sharing_community: SharingCommunity, sharing_slot: int) -> dict[int, list[int]]:
    """The session's settled slot (E < D) and one more with a surplus, by slot: the number of
    members in each direction expected (consumer, producer, none)."""
    surplus_slot, _block = sharing_community.settle_slot(SURPLUS)
    return {sharing_slot: [3, 2, 0], surplus_slot: [2, 2, 1]}


@pytest.fixture
def index_url(sharing_community: SharingCommunity, slots: object, tmp_path: Path) -> str:
    """A SQLite index of the sharing deployment, up to the head."""
    url = f"sqlite:///{tmp_path / 'index.db'}"
    engine = make_engine(url)
    Indexer(sharing_community.node, engine, batch_blocks=500, confirmations=0).run_once()
    engine.dispose()
    return url


def day_of(node: Node, slot: int, days: int = 0) -> str:
    start = datetime.fromtimestamp(read_calendar(node).slot_start(slot), UTC)
    return (start + timedelta(days=days)).strftime("%Y-%m-%d")


def export(*args: str) -> Result:
    return CliRunner().invoke(app, ["export", "allocation", *args])


def check_slot(
    community: SharingCommunity, slot: int, rows: list[dict[str, str]], directions: list[int]
) -> None:
    """`rows` (the export's rows of `slot`) against the slot's SharingSettled events."""
    node = community.node
    emitted = {
        e["args"]["member"]: e["args"]
        for e in node.events(
            "SharingSettlement",
            "SharingSettled",
            from_block=node.manifest.deployed_at_block,
            argument_filters={"slot": slot},
        )
    }
    assert sorted(r["member"] for r in rows) == sorted(emitted) and len(rows) == len(FLOWS)
    start = datetime.fromtimestamp(read_calendar(node).slot_start(slot), UTC)
    meters = {
        str(k.address): meter_id(i).rstrip(b"\0").decode() for i, k in enumerate(community.keys)
    }
    for row in rows:
        a = emitted[row["member"]]
        n = {k: int(row[k]) for k in COLUMNS[5:]}
        assert row["slot_start"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert row["metering_point"] == meters[row["member"]]
        imp, exp = a["importWh"], a["exportWh"]
        direction = "consumer" if imp > exp else "producer" if exp > imp else "none"
        participating = (
            a["participatingConsumptionWh"] if imp > exp else a["participatingProductionWh"]
        )
        surplus = exp - imp - a["creditedWh"] if exp > imp else 0
        assert (row["direction"], n["G.01"], n["G.01T"], n["P.01"]) == (
            direction,
            abs(imp - exp),
            participating,
            surplus,
        )
        assert [n[k] for k in COLUMNS[7:9] + COLUMNS[10:]] == [a[k] for k in SHARING_FIGURES[4:]]
        assert n["G.03"] <= n["G.02"] and n["G.03"] <= n["G.01T"]
    counts = [sum(r["direction"] == d for r in rows) for d in ("consumer", "producer", "none")]
    assert counts == directions
    allocated = sum(int(r["G.03"]) for r in rows)
    assert allocated == sum(int(r["credited_wh"]) for r in rows) > 0


def test_settled_slots_are_exported_per_metering_point(
    sharing_community: SharingCommunity, slots: dict[int, list[int]], index_url: str, env: None
) -> None:
    node = sharing_community.node
    first, last = min(slots), max(slots)
    days = ["--from", day_of(node, first), "--to", day_of(node, last, days=1)]
    result = export(*days, "--db", index_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == ",".join(COLUMNS)
    exported = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {int(r["slot"]) for r in exported} == set(slots)  # empty slots have no rows
    for slot, directions in slots.items():
        check_slot(
            sharing_community, slot, [r for r in exported if r["slot"] == str(slot)], directions
        )
    surplus = [r for r in exported if r["slot"] == str(last)]
    assert sum(int(r["P.01"]) for r in surplus) == 1400 - 150  # sold to the grid
    assert all(r["G.03"] == r["G.01T"] for r in surplus if r["direction"] == "consumer")

    as_json = export(*days, "--db", index_url, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    assert [{k: str(v) for k, v in r.items()} for r in json.loads(as_json.stdout)] == exported

    after, later = day_of(node, last, days=1), day_of(node, last, days=2)
    network = sharing_community.chain.network_id
    empty = export("--from", after, "--to", later, "--db", index_url, "--network", network)
    assert empty.exit_code == 0, empty.output
    assert empty.stdout == ",".join(COLUMNS) + "\n"
    assert empty.stderr.startswith(f"note: the index holds settled slots up to {last};")


ERRORS = [
    (["--from", "2026-13-01", "--to", "2026-12-02"], "error: --from '2026-13-01' is not a date"),
    (["--from", "2026-12-01", "--to", "tomorrow"], "error: --to 'tomorrow' is not a date"),
    (["--from", "20261201", "--to", "2026-12-02"], "error: --from '20261201' is not a date"),
    (["--from", "2026-12-02", "--to", "2026-12-02"], "error: --from 2026-12-02 must be before"),
    (["--from", "2026-12-03", "--to", "2026-12-02"], "error: --from 2026-12-03 must be before"),
    (["--from", "2025-01-01", "--to", "2026-01-03"], "error: 2025-01-01..2026-01-03 is 367 days"),
    (["--from", "2026-12-01", "--to", "2026-12-02", "--format", "xml"], "error: --format must"),
]


@pytest.mark.parametrize(("args", "start"), ERRORS, ids=[e[1][7:40] for e in ERRORS])
def test_bad_arguments_exit_2_with_one_line(args: list[str], start: str) -> None:
    result = export(*args, "--db", "sqlite:////nonexistent/index.db")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(start) and result.stderr.count("\n") == 1, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_missing_foreign_or_empty_index_exits_2_with_one_line(
    node: Node, index_url: str, env: None, tmp_path: Path
) -> None:
    days = ["--from", "2026-12-01", "--to", "2026-12-02"]
    empty = tmp_path / "empty.db"
    empty.touch()
    trading = f"sqlite:///{tmp_path / 'trading.db'}"  # an index of the trading deployment
    engine = make_engine(trading)
    Indexer(node, engine, batch_blocks=500, confirmations=0)
    engine.dispose()
    for db, network, start in [
        ("sqlite:////nonexistent/index.db", None, "error: sqlite:////nonexistent/index.db: no "),
        (f"sqlite:///{empty}", None, f"error: sqlite:///{empty} holds no event index"),
        (trading, None, f"error: {trading} indexes network {node.manifest.network}, a deployment"),
        ("nosuchdriver://x", None, "error: "),
        (index_url, "other-net", f"error: {index_url} indexes network "),
    ]:
        result = export(*days, "--db", db, *(["--network", network] if network else []))
        assert result.exit_code == 2, (db, result.output)
        assert result.stdout == ""
        assert result.stderr.startswith(start) and result.stderr.count("\n") == 1, result.stderr
