"""The schema as `create_all` made it before migrations: the three assessments' tables.

Applied to an empty database it creates everything. Applied to a database made by
`create_all` (before this project had migrations) it creates only what is missing,
and gives tables made by an older version the nullable columns added since, as the
start-up used to: such a database is upgraded like any other, with its rows kept.

On PostgreSQL it also enables Assessment 3's row-level security: a `tenant_isolation`
policy on every tenant table, comparing the row's tenant with `app.tenant_id`, which
`db.tenant_session` sets per transaction. The role tenant traffic runs as, and its
grants, follow a setting (`SAAS_DB_APP_ROLE`) and are applied at start (`rls.py`).

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> the column holding the tenant id (as in rls.py when this revision was written)
TENANT_TABLES = {
    "tenant": "id",
    "user": "tenant_id",
    "lead": "tenant_id",
    "crm_contact": "tenant_id",
    "crm_sync": "tenant_id",
    "audit_log": "tenant_id",
    "usage_event": "tenant_id",
    "webhook_event": "tenant_id",
}
POLICY = "tenant_isolation"
CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def create_table(name: str, *columns: Any, **options: Any) -> None:
    """CREATE TABLE, or, when `create_all` made it already, ADD the nullable columns it lacks."""
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(name):
        op.create_table(name, *columns, **options)
        return
    present = {column["name"] for column in inspector.get_columns(name)}
    for column in columns:
        if isinstance(column, sa.Column) and column.name not in present and column.nullable:
            op.add_column(name, column)


def create_index(name: str, table: str, columns: list[str], *, unique: bool = False) -> None:
    op.create_index(name, table, columns, unique=unique, if_not_exists=True)


def enable_row_level_security() -> None:
    preparer = op.get_bind().dialect.identifier_preparer
    for table, column in TENANT_TABLES.items():
        name = preparer.quote_identifier(table)
        condition = f"{preparer.quote_identifier(column)} = {CURRENT_TENANT}"
        op.execute(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
        # FORCE: the policies bind the owner too, unless it is a superuser or has BYPASSRLS.
        op.execute(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
        op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {name}")
        op.execute(f"CREATE POLICY {POLICY} ON {name} USING ({condition}) WITH CHECK ({condition})")


def upgrade() -> None:
    create_table(
        "company",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    create_table(
        "leads",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("budget", sa.Float(), nullable=True),
        sa.Column("intent", sa.String(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("low_confidence", sa.Boolean(), nullable=False),
        sa.Column("extraction_method", sa.String(), nullable=False),
        sa.Column("field_sources", sa.JSON(), nullable=True),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(), nullable=True),
        sa.Column("request_fingerprint", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    create_index("ix_leads_email", "leads", ["email"])
    create_index("ix_leads_intent", "leads", ["intent"])
    create_index("ix_leads_low_confidence", "leads", ["low_confidence"])
    create_index("ix_leads_phone", "leads", ["phone"])
    create_index("ix_leads_processed_at", "leads", ["processed_at"])
    create_index("ix_leads_request_id", "leads", ["request_id"])

    create_table(
        "tenant",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("subscription_tier", sa.String(length=20), nullable=False),
        sa.Column("webhook_secret", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    create_table(
        "vector_chunk",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.String(length=63), nullable=False),
        sa.Column("document_id", sa.String(), nullable=True),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("metadata_json", sa.JSON(), nullable=False),
        sa.Column("embedding_model", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    create_index("ix_vector_chunk_company_id", "vector_chunk", ["company_id"])
    create_index("ix_vector_chunk_document_id", "vector_chunk", ["document_id"])

    create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("resource_id", sa.String(length=100), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    create_index("ix_audit_log_action", "audit_log", ["action"])
    create_index("ix_audit_log_created_at", "audit_log", ["created_at"])
    create_index("ix_audit_log_tenant_id", "audit_log", ["tenant_id"])
    create_index("ix_audit_log_user_id", "audit_log", ["user_id"])

    create_table(
        "chat_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("company_id", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("content", sa.String(), nullable=False),
        sa.Column("search_query", sa.String(), nullable=True),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("refused", sa.Boolean(), nullable=False),
        sa.Column("provider", sa.String(), nullable=True),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["company.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    create_index("ix_chat_message_company_id", "chat_message", ["company_id"])
    create_index("ix_chat_message_created_at", "chat_message", ["created_at"])
    create_index("ix_chat_message_session_id", "chat_message", ["session_id"])

    create_table(
        "crm_contact",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("company", sa.String(length=200), nullable=True),
        sa.Column("message", sa.String(length=10000), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("ai_score", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    create_index("ix_crm_contact_tenant_id", "crm_contact", ["tenant_id"])

    create_table(
        "document",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("company_id", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["company.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("company_id", "source"),
    )
    create_index("ix_document_company_id", "document", ["company_id"])

    create_table(
        "ingest_job",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("company_id", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("upload_path", sa.String(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("error_code", sa.String(), nullable=True),
        sa.Column("document_id", sa.String(), nullable=True),
        sa.Column("document_status", sa.String(), nullable=True),
        sa.Column("chunks", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["company.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    create_index("ix_ingest_job_company_id", "ingest_job", ["company_id"])
    create_index("ix_ingest_job_status", "ingest_job", ["status"])

    create_table(
        "lead",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("company", sa.String(length=200), nullable=True),
        sa.Column("message", sa.String(length=10000), nullable=True),
        sa.Column("budget", sa.Float(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("crm_contact_id", sa.String(length=100), nullable=True),
        sa.Column("ai_score", sa.Float(), nullable=True),
        sa.Column("ai_reasons", sa.JSON(), nullable=True),
        sa.Column("qualified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    create_index("ix_lead_crm_contact_id", "lead", ["crm_contact_id"])
    create_index("ix_lead_email", "lead", ["email"])
    create_index("ix_lead_tenant_id", "lead", ["tenant_id"])

    create_table(
        "lead_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.String(), nullable=True),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("step", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("input", sa.JSON(), nullable=False),
        sa.Column("output", sa.JSON(), nullable=False),
        sa.Column("raw_output", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(), nullable=True),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("prompt_version", sa.String(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    create_index("ix_lead_audit_lead_id", "lead_audit", ["lead_id"])
    create_index("ix_lead_audit_request_id", "lead_audit", ["request_id"])

    create_table(
        "usage_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("agent", sa.String(length=20), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    create_index("ix_usage_event_created_at", "usage_event", ["created_at"])
    create_index("ix_usage_event_tenant_id", "usage_event", ["tenant_id"])

    create_table(
        "user",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    create_index("ix_user_email", "user", ["email"], unique=True)
    create_index("ix_user_tenant_id", "user", ["tenant_id"])

    create_table(
        "webhook_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "event_id", name="uq_webhook_event_delivery"),
    )
    create_index("ix_webhook_event_next_attempt_at", "webhook_event", ["next_attempt_at"])
    create_index("ix_webhook_event_status", "webhook_event", ["status"])
    create_index("ix_webhook_event_tenant_id", "webhook_event", ["tenant_id"])

    create_table(
        "crm_sync",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.String(length=100), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    create_index("ix_crm_sync_contact_id", "crm_sync", ["contact_id"])
    create_index("ix_crm_sync_lead_id", "crm_sync", ["lead_id"])
    create_index("ix_crm_sync_tenant_id", "crm_sync", ["tenant_id"])

    if op.get_bind().dialect.name == "postgresql":
        enable_row_level_security()


def downgrade() -> None:
    op.drop_table("crm_sync")
    op.drop_table("webhook_event")
    op.drop_table("user")
    op.drop_table("usage_event")
    op.drop_table("lead_audit")
    op.drop_table("lead")
    op.drop_table("ingest_job")
    op.drop_table("document")
    op.drop_table("crm_contact")
    op.drop_table("chat_message")
    op.drop_table("audit_log")
    op.drop_table("vector_chunk")
    op.drop_table("tenant")
    op.drop_table("leads")
    op.drop_table("company")
