"""One process at a time, among all that share a database: for work done once at start.

Several API workers (`uvicorn --workers N`, pods) start together against one database. What
each does once at start — upgrade the schema, load the sample data — must not run twice at
the same moment: two workers both saw "no sample company yet" and both inserted it (a
`UniqueViolation` that killed one worker). Under this lock the second one finds the work done.

PostgreSQL: a session-level advisory lock, keyed by the name. A SQLite file: an exclusive
`flock` on a file beside it (`<database>.<name>.lock`). An in-memory database is private to
its process, so nothing is locked.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_advisory_lock` (the same in every process)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[None]:
    """Hold the lock `name` for the block; blocks until no other process holds it."""
    if engine.dialect.name == "postgresql":
        key = advisory_key(name)
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        yield
        return
    with Path(f"{database}.{name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
