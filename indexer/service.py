"""The indexer: follows a deployment's chain in block batches and writes every event of every
contract into the tables of indexer/schema.py.

One pass (`Indexer.run_once`) works up to `confirmations` blocks behind the head. Each batch
reads the logs of all manifest contracts in `[next, end]`, the headers of the blocks they are in
and of `end`, decodes the logs with the manifest's ABIs, and writes rows, headers and the new
checkpoint (`end`, its hash) in one database transaction, upserting rows by (tx_hash,
log_index): a batch interrupted anywhere is either wholly in the database or not at all, and a
batch read twice writes the same rows.

Reorgs: the hash of a batch's last block is read before and after its logs, so the logs are
known to be that chain's. Before every batch and after reading it, the hash of the checkpoint
block is compared with the chain's. If it changed, the newest stored block whose hash still
matches the chain is the fork point: every row above it, its headers and the checkpoint are
rolled back in one transaction, and indexing goes on from there. A log whose block hash differs
from the header read for its block (a reorg while the batch was read) makes the batch be read
again.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.dml import Insert as PgInsert
from sqlalchemy.dialects.sqlite.dml import Insert as SqliteInsert

from chain.events import hex0x
from chain.node import BlockHeader, BlockMissing, Node
from indexer.decode import Decoder
from indexer.migrate import upgrade
from indexer.schema import blocks, checkpoint, event_tables

log = logging.getLogger("indexer")


class IndexerError(Exception):
    """Base of the indexer's own errors."""


class IndexMismatch(IndexerError):
    """The database indexes another deployment than the one asked for."""


@dataclass(frozen=True)
class Checkpoint:
    block_number: int  # last block indexed
    block_hash: str | None


@dataclass(frozen=True)
class BatchResult:
    from_block: int
    to_block: int
    events: int


def _insert(connection: Connection, table: Table) -> PgInsert | SqliteInsert:
    name = connection.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise IndexerError(f"the index supports SQLite and PostgreSQL, not {name}")


def upsert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows`, replacing rows with the same primary key."""
    if not rows:
        return
    stmt = _insert(connection, table)
    keys = [c.name for c in table.primary_key.columns]
    update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    connection.execute(stmt.on_conflict_do_update(index_elements=keys, set_=update), rows)


class Indexer:
    """Indexes the deployment `node` points at into the database of `engine`."""

    def __init__(
        self,
        node: Node,
        engine: Engine,
        *,
        batch_blocks: int,
        confirmations: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if batch_blocks < 1 or confirmations < 0:
            raise ValueError("batch_blocks must be >= 1 and confirmations >= 0")
        self.node = node
        self.engine = engine
        self.batch_blocks = batch_blocks
        self.confirmations = confirmations
        self._sleep = sleep
        self.decoder = Decoder(node.manifest.contracts, node.manifest.abi)
        manifest = node.manifest
        self.addresses = [manifest.contracts[name] for name in sorted(manifest.contracts)]
        self.first_block = manifest.deployed_at_block
        upgrade(engine)
        node.check_chain()
        self._claim()

    # -- the checkpoint --------------------------------------------------------------------

    def _claim(self) -> None:
        """Bind an empty database to this deployment, or check it is bound to it."""
        manifest = self.node.manifest
        contracts = dict(sorted((k, str(v)) for k, v in manifest.contracts.items()))
        with self.engine.begin() as connection:
            row = connection.execute(select(checkpoint)).mappings().first()
            if row is None:
                connection.execute(
                    checkpoint.insert().values(
                        id=1,
                        network=manifest.network,
                        chain_id=manifest.chain_id,
                        contracts=contracts,
                        first_block=self.first_block,
                        block_number=self.first_block - 1,
                        block_hash=None,
                    )
                )
                return
            if int(row["chain_id"]) != manifest.chain_id or dict(row["contracts"]) != contracts:
                raise IndexMismatch(
                    f"the database indexes network {row['network']} (chain {row['chain_id']}, "
                    f"{dict(row['contracts'])}), not {manifest.network} "
                    f"(chain {manifest.chain_id}, {contracts}): use another database"
                )

    def checkpoint(self) -> Checkpoint:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(checkpoint.c.block_number, checkpoint.c.block_hash)
            ).one()
        return Checkpoint(int(row.block_number), row.block_hash)

    # -- passes ----------------------------------------------------------------------------

    def run_once(self) -> list[BatchResult]:
        """Index every batch up to `confirmations` behind the head; returns what was written."""
        done: list[BatchResult] = []
        while True:
            cp = self.checkpoint()
            if not self._anchor_holds(cp):
                self._roll_back(cp)
                continue
            target = self.node.block_number() - self.confirmations
            start = cp.block_number + 1
            if start > target:
                return done
            end = min(start + self.batch_blocks - 1, target)
            result = self._batch(cp, start, end)
            if result is not None:
                done.append(result)

    def run_forever(self, poll_seconds: float) -> None:
        while True:
            for result in self.run_once():
                log.info(
                    "blocks %d..%d: %d events", result.from_block, result.to_block, result.events
                )
            self._sleep(poll_seconds)

    def _anchor_holds(self, cp: Checkpoint) -> bool:
        """Whether the checkpoint block is still on the chain with the hash indexed."""
        if cp.block_hash is None:
            return True
        header = self.node.block(cp.block_number)
        return header is not None and hex0x(header["hash"]) == cp.block_hash

    def _batch(self, cp: Checkpoint, start: int, end: int) -> BatchResult | None:
        """Read and write blocks `start..end`; None if the chain changed while they were read
        (the caller looks again)."""
        last = self.node.block(end)
        if last is None:
            return None  # the chain got shorter since the head was read
        logs = self.node.get_logs(self.addresses, start, end)
        numbers = sorted({int(e["blockNumber"]) for e in logs} | {end})
        try:
            headers = {int(h["number"]): h for h in self.node.blocks(numbers)}
        except BlockMissing:
            return None
        hashes = {n: hex0x(h["hash"]) for n, h in headers.items()}
        # `end` had the same hash before and after the logs were read, so they are the logs of
        # the chain that ends there; each log's block must be that chain's block.
        if hashes.get(end) != hex0x(last["hash"]) or any(
            hex0x(e["blockHash"]) != hashes.get(int(e["blockNumber"])) for e in logs
        ):
            log.warning("blocks %d..%d changed while read; reading them again", start, end)
            return None
        if not self._anchor_holds(cp):
            return None  # the next pass rolls back
        rows: dict[Table, list[dict[str, Any]]] = defaultdict(list)
        for entry in logs:
            table, row = self.decoder.row(
                entry, int(headers[int(entry["blockNumber"])]["timestamp"])
            )
            rows[table].append(row)
        with self.engine.begin() as connection:
            for table, table_rows in rows.items():
                upsert(connection, table, table_rows)
            upsert(connection, blocks, [_block_row(h) for h in headers.values()])
            self._move(connection, cp, end, hex0x(headers[end]["hash"]))
        return BatchResult(start, end, len(logs))

    def _move(self, connection: Connection, cp: Checkpoint, number: int, hash_: str | None) -> None:
        """Set the checkpoint, if it is still `cp` (one indexer per database; a second one
        running by mistake makes this fail rather than interleave)."""
        moved = connection.execute(
            checkpoint.update()
            .where(checkpoint.c.id == 1, checkpoint.c.block_number == cp.block_number)
            .values(block_number=number, block_hash=hash_)
        )
        if moved.rowcount != 1:
            raise IndexerError("the checkpoint moved under this indexer: is another one running?")

    # -- reorgs ----------------------------------------------------------------------------

    def _fork_point(self, below: int, page: int = 100) -> tuple[int, str | None]:
        """The newest stored block up to `below` whose hash the chain still has (walking the
        stored headers down, a page at a time)."""
        while True:
            with self.engine.connect() as connection:
                stored = connection.execute(
                    select(blocks.c.number, blocks.c.hash)
                    .where(blocks.c.number <= below)
                    .order_by(blocks.c.number.desc())
                    .limit(page)
                ).all()
            if not stored:
                return self.first_block - 1, None
            for number, hash_ in stored:
                header = self.node.block(int(number))
                if header is not None and hex0x(header["hash"]) == hash_:
                    return int(number), str(hash_)
            below = int(stored[-1][0]) - 1

    def _roll_back(self, cp: Checkpoint) -> None:
        fork, fork_hash = self._fork_point(cp.block_number)
        with self.engine.begin() as connection:
            removed = 0
            for table in event_tables():
                removed += connection.execute(
                    delete(table).where(table.c.block_number > fork)
                ).rowcount
            connection.execute(delete(blocks).where(blocks.c.number > fork))
            self._move(connection, cp, fork, fork_hash)
        log.warning(
            "reorg: block %d is no longer %s; rolled back to block %d (%d events removed)",
            cp.block_number,
            cp.block_hash,
            fork,
            removed,
        )


def _block_row(header: BlockHeader) -> dict[str, Any]:
    return {
        "number": int(header["number"]),
        "hash": hex0x(header["hash"]),
        "parent_hash": hex0x(header["parentHash"]),
        "timestamp": int(header["timestamp"]),
    }


def iter_rows(engine: Engine, tables: Iterable[Table]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of `tables`, sorted: for comparing two databases."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in tables:
            out[table.name] = sorted(tuple(r) for r in connection.execute(select(table)).all())
    return out
