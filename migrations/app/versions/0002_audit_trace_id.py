"""Both audit trails record the OpenTelemetry trace id (`trace_id`, null when tracing is off).

A database that `create_all` made with today's models already has the column; it is
added only where it is missing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {
    "lead_audit": sa.String(),  # Assessment 1
    "audit_log": sa.String(length=32),  # Assessment 3
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, kind in COLUMNS.items():
        if "trace_id" not in {column["name"] for column in inspector.get_columns(table)}:
            op.add_column(table, sa.Column("trace_id", kind, nullable=True))


def downgrade() -> None:
    for table in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("trace_id")
