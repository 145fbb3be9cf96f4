"""A real `gridshare index run` process, killed with SIGKILL at random moments and restarted:
it resumes from its checkpoint, a batch is either wholly in the database or not at all, and the
result equals one uninterrupted run (no duplicates, nothing missing)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from chain.devchain import ROOT, DevChain
from chain.node import Node
from indexer.devdb import PgServer
from indexer.migrate import make_engine
from indexer.schema import blocks, checkpoint, event_tables
from indexer.service import Indexer, iter_rows
from tests.indexer.conftest import trade_slot
from tests.matcher.helpers import Market

GRIDSHARE = os.path.join(os.path.dirname(sys.executable), "gridshare")


def _checkpoint(engine: Engine) -> int | None:
    try:
        with engine.connect() as connection:
            return connection.execute(select(checkpoint.c.block_number)).scalar()
    except Exception:  # not created yet
        return None


def _rows_beyond(engine: Engine, block: int) -> int:
    with engine.connect() as connection:
        return sum(
            int(
                connection.execute(
                    select(func.count()).select_from(t).where(t.c.block_number > block)
                ).scalar_one()
            )
            for t in [*event_tables()]
        ) + int(
            connection.execute(
                select(func.count()).select_from(blocks).where(blocks.c.number > block)
            ).scalar_one()
        )


def test_killed_at_random_moments_it_resumes_without_duplicates(
    chain: DevChain, market: Market, node: Node, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/killed.db"
    engine = make_engine(url)
    env = {
        **os.environ,
        "GRIDSHARE_DEPLOYMENTS_DIR": str(chain.deployments_dir),
        "GRIDSHARE_CONFIG": "/nonexistent/gridshare.toml",
    }
    command = [GRIDSHARE, "index", "run", "--network", chain.network_id, "--db", url]
    command += ["--batch", "1", "--confirmations", "0", "--poll", "0.2"]
    trade_slot(market, offset=5)  # more blocks with events to be killed in
    first, head = node.manifest.deployed_at_block, node.block_number()
    rng = random.Random(6)
    kills = 0
    while kills < 4:
        before = _checkpoint(engine) or first - 1
        if head - before < 10:
            break
        goal = before + rng.randint(3, 12)
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while (_checkpoint(engine) or 0) < goal and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.random() * 0.05)  # somewhere inside a later batch
        process.kill()
        process.wait()
        kills += 1
        cp = _checkpoint(engine)
        assert cp is not None and cp >= goal, "the indexer made no progress"
        assert _rows_beyond(engine, cp) == 0, "rows of a batch beyond the checkpoint"
    assert kills >= 3

    finished = subprocess.run(
        [*command, "--once"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert finished.returncode == 0, finished.stderr
    assert f"indexed up to block {head}" in finished.stdout

    reference = make_engine(f"sqlite:///{tmp_path}/reference.db")
    Indexer(node, reference, batch_blocks=1000, confirmations=0).run_once()
    assert iter_rows(engine, event_tables()) == iter_rows(reference, event_tables())


def test_cli_indexes_into_postgresql_by_plain_url(
    chain: DevChain, market: Market, node: Node, postgres: PgServer | None
) -> None:
    """`--db postgresql://...` (no driver named) runs on psycopg 3, stays `--confirmations`
    behind the head, and a second run finds nothing new."""
    if postgres is None:
        pytest.skip("PostgreSQL is not installed and could not be: run `make setup` as root")
    url = postgres.new_database().replace("postgresql+psycopg://", "postgresql://")
    env = {
        **os.environ,
        "GRIDSHARE_DEPLOYMENTS_DIR": str(chain.deployments_dir),
        "GRIDSHARE_CONFIG": "/nonexistent/gridshare.toml",
    }
    command = [GRIDSHARE, "index", "run", "--network", chain.network_id, "--db", url, "--once"]
    head = node.block_number()
    for _ in range(2):
        done = subprocess.run(
            [*command, "--confirmations", "2"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"indexed up to block {head - 2}:")
    assert done.stdout.strip().endswith(": 0 events")
    engine = make_engine(url)
    with engine.connect() as connection:
        assert connection.execute(select(func.max(blocks.c.number))).scalar_one() == head - 2
    engine.dispose()
