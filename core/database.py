"""The SQLModel engine and the per-request session.

SQLite (a file under `data/`) by default, with WAL and foreign keys on;
PostgreSQL through psycopg 3 when `DATABASE_URL` says so
(`postgresql+psycopg://user@host/db`). The schema comes from the migrations
(`core/migrations.py`): `init_db` upgrades to the newest revision, or checks it is there.
The API server moves SQLite's WAL checkpoints off the request path
(`WalCheckpointer`), and a process's writers to one SQLite file take turns on a
lock rather than in SQLite's busy handler.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import psycopg
import structlog
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine, text

from core import migrations
from core.telemetry import instrument_engine

_log = structlog.get_logger(__name__)


def _normalise_url(url: str) -> str:
    # Plain postgres URLs would pick psycopg2, which is not installed.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# Connections an engine keeps open between requests: 20 requests at once each hold one
# (FastAPI's threadpool runs up to 40). With SQLAlchemy's default of 5, every request past
# the fifth opened a connection and closed it after: a new PostgreSQL backend process, or
# a SQLite file opened and set up again.
POOL_SIZE = 20

# A pooled connection idle longer than this is pinged before it is handed out, and replaced
# if the ping fails. One back from a request moments ago is not: SQLAlchemy's
# `pool_pre_ping` pinged on every checkout, a round trip per request (0.04-0.12 ms of CPU
# and 0.07-0.20 ms of waiting per checkout on this machine's loopback; more to a remote
# server).
# The price: when the server drops its connections (a restart, a failover) within that
# window, the next request fails once (a 5xx, as the requests in flight do); SQLAlchemy
# then sees the disconnect and replaces every connection of the pool opened before it.
PING_AFTER_IDLE_SECONDS = 2.0


def postgres_engine(url: str | URL) -> Engine:
    """A pooled PostgreSQL engine whose idle connections are checked before use."""
    engine = create_engine(url, pool_size=POOL_SIZE)

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # just opened, or back from a request moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except psycopg.Error as exc:
            raise DisconnectionError("the pooled connection is gone") from exc  # the pool retries

    return engine


def create_db_engine(url: str) -> Engine:
    url = _normalise_url(url)
    if not url.startswith("sqlite"):
        return instrument_engine(postgres_engine(url))

    in_memory = url in ("sqlite://", "sqlite:///:memory:")
    if in_memory:
        # One shared connection, or every session would see its own empty database.
        engine = create_engine(
            "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
    else:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=POOL_SIZE
        )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    if not in_memory:
        _queue_writers(engine, str(Path(url.removeprefix("sqlite:///")).resolve()))
    return instrument_engine(engine)


_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")
# As long as SQLite's own busy timeout: past it, the statement goes ahead and SQLite decides.
_WRITE_TURN_TIMEOUT_SECONDS = 30


def _queue_writers(engine: Engine, path: str) -> None:
    """One write transaction at a time per SQLite file in this process, queued on a lock.

    SQLite lets one transaction write; the others wait in its busy handler, which polls
    with sleeps of up to 100 ms, so a turn often goes unused while every waiter sleeps.
    With 20 webhook deliveries at once that set a p99 over a second. A lock hands the turn
    to the next writer as soon as a transaction ends. Reads never take it.
    """
    lock = _WRITE_LOCKS.setdefault(path, threading.Lock())

    @event.listens_for(engine, "before_cursor_execute")
    def _take_turn(connection, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if connection.info.get("writing") or not statement.lstrip()[:6].upper().startswith(_WRITES):
            return
        connection.info["writing"] = lock.acquire(timeout=_WRITE_TURN_TIMEOUT_SECONDS)

    def _end_turn(info: dict) -> None:  # type: ignore[type-arg]
        if info.pop("writing", False):
            lock.release()

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _ended(connection) -> None:  # type: ignore[no-untyped-def]
        _end_turn(connection.info)

    # A connection handed back or dropped mid-transaction ends its turn too.
    @event.listens_for(engine, "reset")
    def _reset(_dbapi, record, _state) -> None:  # type: ignore[no-untyped-def]
        _end_turn(record.info)

    @event.listens_for(engine, "invalidate")
    def _invalidated(_dbapi, record, _exception) -> None:  # type: ignore[no-untyped-def]
        _end_turn(record.info)


def _is_sqlite_file(engine: Engine) -> bool:
    database = engine.url.database
    return engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")


class WalCheckpointer:
    """Runs SQLite's WAL checkpoints on a thread of their own, every `interval` seconds.

    By default SQLite checkpoints inside whichever commit takes the WAL past 1,000
    pages: that request copies the pages into the database file and waits for an
    fsync, about 15 ms every 60 or so leads in `bench/bench_workflow.py`, which set
    the p99 of `POST /leads`. Here the engine's connections stop checkpointing
    (`wal_autocheckpoint=0`) and this thread runs PASSIVE checkpoints instead: they
    never block a reader or a writer, and the sqlite3 module lets go of the GIL while
    one runs, so the copy and the fsync happen on the other core. A checkpoint that
    readers keep from finishing is finished by a later one; `stop()` runs a last one.

    A no-op for PostgreSQL and for an in-memory SQLite database.
    """

    def __init__(self, engine: Engine, *, interval: float = 0.25) -> None:
        self.engine = engine
        self.interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not _is_sqlite_file(self.engine) or self._thread is not None:
            return
        event.listen(self.engine, "connect", _no_autocheckpoint)
        # Pooled connections opened before this point (creating the tables) would still
        # checkpoint in their commits.
        self.engine.dispose()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout=30)
        self._thread = None
        self.checkpoint()

    def checkpoint(self) -> None:
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception as exc:  # a failed checkpoint loses nothing: the pages stay in the WAL
            _log.warning("wal_checkpoint_failed", error_type=type(exc).__name__, error=str(exc))

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.checkpoint()


def _no_autocheckpoint(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def check_database(url: str, *, timeout: float = 2.0) -> None:
    """Open one PostgreSQL connection, or raise naming DATABASE_URL (SQLite needs no probe)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgres"):
        return
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(dsn, connect_timeout=max(1, round(timeout))):
            pass
    except psycopg.Error as exc:
        shown = parsed.render_as_string(hide_password=True)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RuntimeError(
            f"The database at DATABASE_URL={shown} does not answer: {reason}"
        ) from exc


def init_db(engine: Engine, *, migrate: bool = True) -> None:
    """Upgrade the tables of the three assessments to the newest migration (or, with
    `migrate=False`, raise `SchemaNotAtHead` unless they are there)."""
    migrations.prepare(engine, "app", migrate=migrate)


def database_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_session(request: Request) -> Iterator[Session]:
    # Objects stay readable after commit, so a handler can end its transaction
    # (and free the pooled connection) before it awaits a slow LLM call.
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
