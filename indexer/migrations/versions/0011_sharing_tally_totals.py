"""SharingSettlement.SharingTallied names the community totals its tally counts under (E, D, A)
instead of a pass number: the tally of a multi-chunk slot is one pass, checked against the
totals the matcher names.

A row of the old event (SharingTallied(uint64,uint32,uint8)) cannot be decoded by this version,
which indexes the new signature only, and has no totals: the table is made again with
the new columns, empty.
The index is derived from the chain (`gridshare index run` into a new database builds it again),
so nothing is lost.

Revision ID: 0011_sharing_tally_totals
Revises: 0010_reading_spans
Create Date: 2026-12-07 19:49:32.565500
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import indexer.types

revision: str = "0011_sharing_tally_totals"
down_revision: str | None = "0010_reading_spans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "ev_sharing_settlement_sharing_tallied"


def _create(figures: Sequence[str]) -> None:
    """The table (as 0008 made it) with `figures` as its data columns, and its indexes."""
    op.create_table(
        TABLE,
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.Column("slot", indexer.types.Uint(precision=78, scale=0), nullable=False),
        sa.Column("chunk", indexer.types.Uint(precision=78, scale=0), nullable=False),
        *(
            sa.Column(name, indexer.types.Uint(precision=78, scale=0), nullable=False)
            for name in figures
        ),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f(f"pk_{TABLE}")),
    )
    for column in ("block_number", "chunk", "slot"):
        op.create_index(op.f(f"ix_{TABLE}_{column}"), TABLE, [column], unique=False)


def _drop() -> None:
    for column in ("slot", "chunk", "block_number"):
        op.drop_index(op.f(f"ix_{TABLE}_{column}"), table_name=TABLE)
    op.drop_table(TABLE)


def upgrade() -> None:
    _drop()
    _create(("production_wh", "demand_wh", "allocated_wh"))


def downgrade() -> None:
    _drop()
    _create(("pass",))
