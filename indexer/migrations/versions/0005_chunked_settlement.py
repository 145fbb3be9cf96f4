"""Chunked settlement: MemberRegistered.chunk, ChunkOpened, chunk in SlotReadingsClosed, SlotDigest.

Rows indexed before (a single chain of every member) read chunk 0.

Revision ID: 0005_chunked_settlement
Revises: 0004_settlement_intents
Create Date: 2026-12-05 07:00:43.336800
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import indexer.types

revision: str = "0005_chunked_settlement"
down_revision: str | None = "0004_settlement_intents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ev_community_chunk_opened",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.Column("chunk", indexer.types.Uint(precision=78, scale=0), nullable=False),
        sa.Column("from_slot", indexer.types.Uint(precision=78, scale=0), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_ev_community_chunk_opened")),
    )
    with op.batch_alter_table("ev_community_chunk_opened", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ev_community_chunk_opened_block_number"), ["block_number"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ev_community_chunk_opened_chunk"), ["chunk"], unique=False
        )

    with op.batch_alter_table("ev_community_member_registered", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "chunk",
                indexer.types.Uint(precision=78, scale=0),
                nullable=False,
                server_default="0",
            )
        )

    with op.batch_alter_table("ev_imbalance_settlement_slot_digest", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "chunk",
                indexer.types.Uint(precision=78, scale=0),
                nullable=False,
                server_default="0",
            )
        )
        batch_op.create_index(
            batch_op.f("ix_ev_imbalance_settlement_slot_digest_chunk"), ["chunk"], unique=False
        )

    with op.batch_alter_table("ev_meter_readings_slot_readings_closed", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "chunk",
                indexer.types.Uint(precision=78, scale=0),
                nullable=False,
                server_default="0",
            )
        )
        batch_op.create_index(
            batch_op.f("ix_ev_meter_readings_slot_readings_closed_chunk"), ["chunk"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ev_meter_readings_slot_readings_closed", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_meter_readings_slot_readings_closed_chunk"))
        batch_op.drop_column("chunk")

    with op.batch_alter_table("ev_imbalance_settlement_slot_digest", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_imbalance_settlement_slot_digest_chunk"))
        batch_op.drop_column("chunk")

    with op.batch_alter_table("ev_community_member_registered", schema=None) as batch_op:
        batch_op.drop_column("chunk")

    with op.batch_alter_table("ev_community_chunk_opened", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ev_community_chunk_opened_chunk"))
        batch_op.drop_index(batch_op.f("ix_ev_community_chunk_opened_block_number"))

    op.drop_table("ev_community_chunk_opened")
