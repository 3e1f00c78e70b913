"""PostgreSQL row-level security: the second wall between tenants.

Tenant traffic runs as `SAAS_DB_APP_ROLE` (NOLOGIN, NOBYPASSRLS; connections
`SET ROLE` to it, see `db.create_tenant_engine`). Every tenant table has a
policy that compares its tenant column with `app.tenant_id`, which
`db.tenant_session` sets per transaction with `set_config(..., true)`. A
transaction that never set it sees no rows at all.

The policies are part of the schema (the first migration, `migrations/app/`); the
role is a setting, so it and its grants are applied at start, here.

The role in DATABASE_URL owns the tables and serves the privileged paths, so
it must be a superuser or have BYPASSRLS (FORCE makes the policies bind the
owner otherwise).
"""

from __future__ import annotations

import structlog
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from core.startup_lock import exclusive

log = structlog.get_logger(__name__)

_READ_WRITE = "SELECT, INSERT, UPDATE, DELETE"
_APPEND_ONLY = "SELECT, INSERT"

# table -> (column holding the tenant id, what the app role may do)
TENANT_TABLES: dict[str, tuple[str, str]] = {
    "tenant": ("id", "SELECT, UPDATE"),
    "user": ("tenant_id", _READ_WRITE),
    "lead": ("tenant_id", _READ_WRITE),
    "crm_contact": ("tenant_id", _READ_WRITE),
    "crm_sync": ("tenant_id", _APPEND_ONLY),
    "audit_log": ("tenant_id", _APPEND_ONLY),
    "usage_event": ("tenant_id", _APPEND_ONLY),
    "webhook_event": ("tenant_id", "SELECT, INSERT, UPDATE"),
}
TABLES_WITH_SEQUENCES = ("crm_sync", "audit_log", "usage_event", "webhook_event")


def apply_row_level_security(engine: Engine, *, app_role: str) -> None:
    # Concurrent start-ups take turns applying the policies.
    with exclusive(engine, "row-level-security"), engine.begin() as connection:
        _check_owner_bypasses_rls(connection)
        role = _quote(connection, app_role)
        _create_app_role(connection, app_role, role)
        connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        for table, (_column, privileges) in TENANT_TABLES.items():
            connection.execute(text(f"GRANT {privileges} ON {_quote(connection, table)} TO {role}"))
        for table in TABLES_WITH_SEQUENCES:
            sequence = connection.execute(
                text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}
            ).scalar_one()
            if sequence:
                connection.execute(text(f"GRANT USAGE, SELECT ON SEQUENCE {sequence} TO {role}"))
    log.info("rls_applied", role=app_role, tables=len(TENANT_TABLES))


def _create_app_role(connection: Connection, app_role: str, role: str) -> None:
    exists = connection.execute(
        text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = :name"),
        {"name": app_role},
    ).scalar_one_or_none()
    if exists is None:
        # Roles are cluster-wide: another database's start-up may create it concurrently.
        connection.execute(
            text(
                "DO $$ BEGIN "
                f"CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT; "
                "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; "
                "END $$"
            )
        )
    elif exists:
        raise RuntimeError(f"role {app_role!r} bypasses row-level security; refusing to use it")
    is_superuser = connection.execute(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    ).scalar_one()
    if not is_superuser:
        connection.execute(text(f"GRANT {role} TO CURRENT_USER"))


def _check_owner_bypasses_rls(connection: Connection) -> None:
    bypasses = connection.execute(
        text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
    ).scalar_one()
    if not bypasses:
        raise RuntimeError(
            "the DATABASE_URL role must be a superuser or have BYPASSRLS: it serves the "
            "privileged cross-tenant paths (sign-in, tenant creation, the webhook worker)"
        )


def _quote(connection: Connection, identifier: str) -> str:
    return connection.dialect.identifier_preparer.quote_identifier(identifier)
