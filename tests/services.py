"""Live services for tests: PostgreSQL, Redis and RabbitMQ on 127.0.0.1.

A test that needs a service calls `require_postgres()` / `require_redis()` /
`require_rabbitmq()` first: when the server does not answer, the test is
skipped with the reason, except under `CI=true`, where it fails instead
(`scripts/ci_services.sh` starts the services and installs pgvector).

    @pytest.fixture(scope="module")
    def database_url() -> Iterator[str]:
        with throwaway_database() as url:  # CREATE DATABASE t_<uuid>, dropped after
            yield url

    def test_counts_in_redis() -> None:
        client = redis.Redis.from_url(redis_url())  # calls require_redis()
        ...

Trust authentication as the `postgres` superuser, as on the development
machines and CI; Redis database 0 (use a unique key prefix and clean up);
RabbitMQ as guest/guest on the default virtual host.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
import pytest
import redis

HOST = "127.0.0.1"
POSTGRES_PORT = 5432
REDIS_PORT = 6379
RABBITMQ_PORT = 5672
TIMEOUT_SECONDS = 2.0


def postgres_url(database: str = "postgres") -> str:
    """SQLAlchemy URL of `database` (psycopg 3 driver); checks that PostgreSQL answers."""
    require_postgres()
    return f"postgresql+psycopg://postgres@{HOST}:{POSTGRES_PORT}/{database}"


def redis_url(db: int = 0) -> str:
    """URL of the local Redis; checks that it answers."""
    require_redis()
    return f"redis://{HOST}:{REDIS_PORT}/{db}"


def rabbitmq_url() -> str:
    """AMQP URL of the local RabbitMQ (guest, default vhost); checks that it answers."""
    require_rabbitmq()
    return f"amqp://guest:guest@{HOST}:{RABBITMQ_PORT}//"


def require_postgres() -> None:
    try:
        with psycopg.connect(_libpq_url("postgres"), connect_timeout=int(TIMEOUT_SECONDS)):
            pass
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL is not reachable on {HOST}:{POSTGRES_PORT}: {_reason(exc)}")


def require_redis() -> None:
    client = redis.Redis(
        host=HOST,
        port=REDIS_PORT,
        socket_connect_timeout=TIMEOUT_SECONDS,
        socket_timeout=TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis is not reachable on {HOST}:{REDIS_PORT}: {_reason(exc)}")
    finally:
        client.close()


def require_rabbitmq() -> None:
    """The broker must answer the AMQP 0-9-1 protocol header with a method frame."""
    try:
        with socket.create_connection((HOST, RABBITMQ_PORT), timeout=TIMEOUT_SECONDS) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            frame_type = sock.recv(1)
    except OSError as exc:
        unavailable(f"RabbitMQ is not reachable on {HOST}:{RABBITMQ_PORT}: {_reason(exc)}")
        return
    if frame_type != b"\x01":
        unavailable(f"RabbitMQ on {HOST}:{RABBITMQ_PORT} did not answer the AMQP handshake")


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under CI=true, where every service must be there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true requires it: run scripts/ci_services.sh)", pytrace=False)
    pytest.skip(reason)


@contextmanager
def throwaway_database(
    *, extensions: Sequence[str] = ("vector",), template: str | None = None
) -> Iterator[str]:
    """A new PostgreSQL database with `extensions`; yields its URL, drops it after.

    Empty, or a copy of the database named by `template` (which nobody may be
    connected to while it is copied).
    """
    require_postgres()
    name = f"t_{uuid.uuid4().hex}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(_libpq_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        if extensions:
            try:
                with psycopg.connect(_libpq_url(name), autocommit=True) as connection:
                    for extension in extensions:
                        connection.execute(f'CREATE EXTENSION IF NOT EXISTS "{extension}"')
            except psycopg.Error as exc:
                unavailable(f"PostgreSQL extension missing: {_reason(exc)}")
        yield postgres_url(name)
    finally:
        with psycopg.connect(_libpq_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _libpq_url(database: str) -> str:
    return f"postgresql://postgres@{HOST}:{POSTGRES_PORT}/{database}"


def _reason(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
