"""SlotSettled intentAux: each carried intent's `deadline | epoch << 64`.

Rows indexed before carried no aux words: they read an empty list.

Revision ID: 0006_settlement_intent_aux
Revises: 0005_chunked_settlement
Create Date: 2026-12-05 07:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_settlement_intent_aux"
down_revision: str | None = "0005_chunked_settlement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ev_settlement_slot_settled", schema=None) as batch_op:
        batch_op.add_column(sa.Column("intent_aux", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("ev_settlement_slot_settled", schema=None) as batch_op:
        batch_op.drop_column("intent_aux")
