"""`core.jobs`: the lease protocol both assessments' background jobs run under.

Exercised on a table of its own shape (a job row with a nullable due time), on SQLite;
the assessments' tests run it end to end on SQLite and PostgreSQL, in process and in Celery.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table
from sqlalchemy.orm import registry
from sqlmodel import Session, create_engine

from core.jobs import LeasedJobs, utcnow

metadata = MetaData()  # not SQLModel's: the app's databases never get this table


class Job:
    id: str
    status: str
    attempts: int
    due_at: datetime | None
    updated_at: datetime


registry(metadata=metadata).map_imperatively(
    Job,
    Table(
        "job",
        metadata,
        Column("id", String, primary_key=True),
        Column("status", String),
        Column("attempts", Integer),
        Column("due_at", DateTime(timezone=True), nullable=True),
        Column("updated_at", DateTime(timezone=True)),
    ),
)
JOBS = LeasedJobs(
    model=Job,
    key="id",
    due="due_at",
    waiting=("queued",),
    running="running",
    retrying="queued",
    dead="dead",
    lease_seconds=60,
    max_attempts=2,
    backoff_base_seconds=2,
    backoff_max_seconds=3,
)


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as session:
        job = Job()
        job.id, job.status, job.attempts, job.due_at = "j1", "queued", 0, None
        job.updated_at = utcnow() - timedelta(minutes=5)
        session.add(job)
        session.commit()
        yield session
    engine.dispose()


def _job(session: Session) -> Job:
    session.expire_all()
    job = session.get(Job, "j1")
    assert job is not None
    return job


def _set(session: Session, **values: object) -> None:
    job = _job(session)
    for name, value in values.items():
        setattr(job, name, value)
    session.add(job)
    session.commit()


def test_only_one_claim_wins_until_the_lease_runs_out(session: Session) -> None:
    first = JOBS.claim(session, "j1")
    second = JOBS.claim(session, "j1")
    held_for = JOBS.seconds_until_due(_job(session))
    _set(session, due_at=utcnow() - timedelta(seconds=1))  # its worker died
    third = JOBS.claim(session, "j1")

    assert (first, second, third) == (True, False, True)
    assert held_for is not None and 59 < held_for <= 60
    assert (_job(session).status, _job(session).attempts) == ("running", 2)


def test_a_failure_waits_its_backoff_then_the_last_one_is_dead(session: Session) -> None:
    JOBS.claim(session, "j1")
    job = _job(session)
    first_dead = JOBS.retry_or_die(job)
    session.commit()
    claimed_during_backoff = JOBS.claim(session, "j1")
    backoff = JOBS.seconds_until_due(_job(session))
    _set(session, due_at=utcnow() - timedelta(seconds=1))
    JOBS.claim(session, "j1")
    last_dead = JOBS.retry_or_die(_job(session))
    session.commit()

    assert (first_dead, claimed_during_backoff, last_dead) == (False, False, True)
    assert backoff is not None and 1 < backoff <= 2
    assert _job(session).status == "dead"
    assert JOBS.seconds_until_due(_job(session)) is None  # finished: nothing to wait for


def test_a_claim_past_the_last_attempt_is_spent(session: Session) -> None:
    """Workers that die on every try (a crash loop) spend the attempts too."""
    spent = []
    for _ in range(3):
        assert JOBS.claim(session, "j1")
        spent.append(JOBS.attempts_spent(_job(session)))
        _set(session, due_at=utcnow() - timedelta(seconds=1))

    assert spent == [False, False, True]


def test_the_sweep_finds_jobs_untouched_for_a_lease_until_they_are_touched(
    session: Session,
) -> None:
    lost = JOBS.find_lost(session, Job.id, limit=10)  # type: ignore[attr-defined]
    JOBS.touch(session, ["j1"])
    after_touch = JOBS.find_lost(session, Job.id, limit=10)  # type: ignore[attr-defined]
    due = JOBS.find_due(session, Job.id, limit=10)  # type: ignore[attr-defined]

    assert [row[0] for row in lost] == ["j1"]
    assert after_touch == []
    assert [row[0] for row in due] == ["j1"]  # still due: a worker polling would run it
