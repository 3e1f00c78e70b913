"""The data layer: one tenant-scoped way in, and one narrow, clearly named privileged way.

Every tenant query goes through `TenantDB`: statements start from
`db.select(Model)`, already filtered to the caller's tenant, and rows are
stamped with it on `db.add(row)`. On PostgreSQL the same session also runs as
a role without BYPASSRLS and sets `app.tenant_id` for each transaction, so
row-level security (see `rls.py`) filters even a raw `SELECT * FROM lead`.

`privileged_session` is for the few paths that must cross tenants before a
tenant is known: sign-in by email, tenant creation, and the webhook worker finding
due events. (Webhook intake reads the signing secret in a session of the tenant the body
claims, and writes nothing there until the signature proves the claim.)
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Insert,
    Table,
    TypeDecorator,
    Update,
    bindparam,
    event,
    insert,
    text,
    update,
)
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.orm import ORMExecuteState, SessionTransaction
from sqlmodel import Session, SQLModel, func, select
from sqlmodel.sql.expression import SelectOfScalar

from core.database import postgres_engine
from core.telemetry import instrument_engine


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which stores no zone) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def tenant_column(model: type[SQLModel]) -> Any:
    """The column naming a row's tenant: `tenant_id`, or `id` on the tenant table itself."""
    table = model.__table__  # type: ignore[attr-defined]
    return table.c.id if table.name == "tenant" else table.c.tenant_id


def owned(model: type[SQLModel]) -> ColumnElement[bool]:
    """`TenantDB.owns` for a statement built once, at import: the tenant is a bound parameter
    that `TenantDB.run` fills with its own, so such a statement stays scoped the same way."""
    return tenant_column(model) == bindparam("tenant_id")


M = TypeVar("M", bound=SQLModel)


class TenantDB:
    """A session bound to one tenant; the only way services reach tenant data."""

    def __init__(self, session: Session, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def owns(self, model: type[SQLModel]) -> ColumnElement[bool]:
        return tenant_column(model) == self.tenant_id

    def select(self, model: type[M], *columns: Any) -> SelectOfScalar[M]:
        """`SELECT model` (or the given columns of it) limited to this tenant's rows."""
        statement = select(*columns) if columns else select(model)
        return statement.where(self.owns(model))  # type: ignore[return-value]

    def update(self, model: type[SQLModel]) -> Update:
        return update(model).where(self.owns(model))

    def get(self, model: type[M], row_id: Any) -> M | None:
        return self.session.exec(self.select(model).where(model.id == row_id)).first()  # type: ignore[attr-defined]

    def run(self, statement: Any, **params: Any) -> Any:
        """Execute a statement built once with `owned(...)`, bound to this tenant."""
        return self.session.exec(statement, params={**params, "tenant_id": self.tenant_id})

    def all(self, statement: SelectOfScalar[M]) -> list[M]:
        return list(self.session.exec(statement).all())

    def first(self, statement: SelectOfScalar[M]) -> M | None:
        return self.session.exec(statement).first()

    def count(self, statement: SelectOfScalar[Any]) -> int:
        counted = select(func.count()).select_from(statement.order_by(None).subquery())
        return int(self.session.exec(counted).one())

    def page(
        self, statement: SelectOfScalar[M], *order: Any, limit: int, offset: int
    ) -> tuple[list[M], int]:
        """One page of `statement`'s rows in `order`, and how many rows it has in all, in one
        query (`count(*) OVER ()` beside each row): a round trip less on PostgreSQL (0.15-0.18
        ms a list in process; on SQLite, where there is no round trip, no gain)."""
        counted = statement.add_columns(func.count().over()).order_by(*order)
        found = self.session.execute(counted.offset(offset).limit(limit)).all()
        if found:
            return [row[0] for row in found], int(found[0][1])
        # Past the last page no row carries the total.
        return [], self.count(statement) if offset else 0

    def page_rows(self, statement: Any, *, limit: int, offset: int) -> tuple[list[Any], int]:
        """`page` for a statement built once: `owned(...)`, a `total` column
        (`count(*) OVER ()`) and `limit`/`offset` parameters. Rows come back as mappings, to
        read straight into a response model: no ORM object per row, no statement built per
        request."""
        rows = self.run(statement, limit=limit, offset=offset).mappings().all()
        if rows or not offset:
            return list(rows), rows[0]["total"] if rows else 0
        # Past the last page no row carries the total: the first row of all does.
        first = self.run(statement, limit=1, offset=0).mappings().first()
        return [], first["total"] if first else 0

    def _stamp(self, row: M) -> M:
        """The row, owned by this tenant; a row already owned by another is refused."""
        owner = getattr(row, "tenant_id", None)
        if owner is not None and owner != self.tenant_id:
            raise PermissionError("refusing to write a row owned by another tenant")
        row.tenant_id = self.tenant_id  # type: ignore[attr-defined]
        return row

    def add(self, row: M) -> M:
        self.session.add(self._stamp(row))
        return row

    def insert(self, *rows: SQLModel) -> None:
        """Write new rows now, as plain INSERTs, stamped like `add`'s: for a hot path that
        only adds rows and reads none back (webhook intake: with its sender read as columns,
        ~0.4 ms of CPU less a delivery than the ORM's flush, in process). A database-generated
        `id` is not read back."""
        for row in rows:
            values = self._stamp(row).model_dump()
            if values.get("id") is None:
                values.pop("id", None)
            self.session.execute(_insert(row.__table__), values)  # type: ignore[attr-defined]

    def delete(self, row: SQLModel) -> None:
        if row.tenant_id != self.tenant_id:  # type: ignore[attr-defined]
            raise PermissionError("refusing to delete a row owned by another tenant")
        self.session.delete(row)

    def execute(self, statement: Update) -> int:
        return self.session.exec(statement).rowcount  # type: ignore[call-overload,no-any-return]

    def commit(self) -> None:
        self.session.commit()


@functools.cache
def _insert(table: Table) -> Insert:
    """One statement per table, its parameters bound at execution: building `.values(...)`
    for each row cost more than running it."""
    return insert(table)


def create_tenant_engine(privileged: Engine, *, app_role: str) -> Engine:
    """The engine tenant traffic uses: on PostgreSQL, connections that run as `app_role`.

    SQLite has no roles or row-level security; there `TenantDB` alone scopes
    queries and the one engine serves both paths.
    """
    if privileged.dialect.name != "postgresql":
        return privileged
    engine = postgres_engine(privileged.url)

    @event.listens_for(engine, "connect")
    def _run_as_app_role(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        with dbapi_connection.cursor() as cursor:
            # The role name is validated by the settings pattern; identifiers cannot be bound.
            cursor.execute(f'SET ROLE "{app_role}"')
            cursor.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()

    return instrument_engine(engine)


class TenantSession(Session):
    """A session that notes when its transaction writes (`info["wrote"]`): a flush, or a
    statement other than a SELECT run through it. `dependencies.TenantWork` ends a read
    with COMMIT, which must not keep a write the work left uncommitted; a query's autoflush
    writes a change without leaving it pending (`session.new`/`dirty` are empty after)."""


@event.listens_for(TenantSession, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    session.info["wrote"] = True


@event.listens_for(TenantSession, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if not state.is_select:
        state.session.info["wrote"] = True


@event.listens_for(TenantSession, "after_commit")
@event.listens_for(TenantSession, "after_rollback")
def _transaction_ended(session: Session) -> None:
    session.info.pop("wrote", None)


@contextmanager
def tenant_session(engine: Engine, tenant_id: uuid.UUID) -> Iterator[TenantDB]:
    session = TenantSession(engine, expire_on_commit=False)
    if engine.dialect.name == "postgresql":

        @event.listens_for(session, "after_begin")
        def _scope_transaction(
            _session: Session, _transaction: SessionTransaction, connection: Connection
        ) -> None:
            connection.execute(
                text("SELECT set_config('app.tenant_id', :tenant_id, true)"),
                {"tenant_id": str(tenant_id)},
            )

    with session:
        yield TenantDB(session, tenant_id)


@contextmanager
def privileged_session(engine: Engine) -> Iterator[Session]:
    """A session that sees every tenant. Only for the cross-tenant paths listed above."""
    with Session(engine, expire_on_commit=False) as session:
        yield session
