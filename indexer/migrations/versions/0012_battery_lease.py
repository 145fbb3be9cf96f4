"""ProfitSharing charges the battery lease at each period's close: PeriodBilled carries the
member's `lease` (PeriodBilled(uint64,address,uint256,uint256,uint256,uint256,uint256)), and the
DSO sets each lessee's lease with LeaseSet.

Rows of the old PeriodBilled keep their place with a lease of 0: no close charged a lease before
this version (a lease was a plain transfer). The index is derived from the chain, so nothing is
lost either way (`gridshare index run` into a new database builds it again).

Revision ID: 0012_battery_lease
Revises: 0011_sharing_tally_totals
Create Date: 2026-12-08 01:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import indexer.types

revision: str = "0012_battery_lease"
down_revision: str | None = "0011_sharing_tally_totals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BILLED = "ev_profit_sharing_period_billed"
LEASE_SET = "ev_profit_sharing_lease_set"


def upgrade() -> None:
    with op.batch_alter_table(BILLED, schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "lease",
                indexer.types.Uint(precision=78, scale=0),
                nullable=False,
                server_default="0",
            )
        )
    op.create_table(
        LEASE_SET,
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.Column("member", sa.String(length=42), nullable=False),
        sa.Column("per_period", indexer.types.Uint(precision=78, scale=0), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f(f"pk_{LEASE_SET}")),
    )
    with op.batch_alter_table(LEASE_SET, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f(f"ix_{LEASE_SET}_block_number"), ["block_number"], unique=False
        )
        batch_op.create_index(batch_op.f(f"ix_{LEASE_SET}_member"), ["member"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table(LEASE_SET, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f(f"ix_{LEASE_SET}_member"))
        batch_op.drop_index(batch_op.f(f"ix_{LEASE_SET}_block_number"))
    op.drop_table(LEASE_SET)
    with op.batch_alter_table(BILLED, schema=None) as batch_op:
        batch_op.drop_column("lease")
