"""Schema migrations: an empty database and one made before migrations both reach the models.

`legacy_schema/` holds the schema as the start-up's `create_all` made it before this
project had migrations (SQLite as `sqlite_master` lists it, PostgreSQL as `pg_dump
--schema-only` printed it, pgvector tables and row-level-security policies included).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from backend import migrate
from backend.main import create_app
from core import migrations
from core.database import create_db_engine
from tests.services import throwaway_database
from tests.support import make_settings

LEGACY = Path(__file__).parent / "legacy_schema"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'app.db'}")
        yield engine
        engine.dispose()
        return
    with throwaway_database() as url:
        engine = create_db_engine(url)
        yield engine
        engine.dispose()


def schemas_of(engine: Engine) -> list[migrations.Schema]:
    return ["app", "pgvector"] if engine.dialect.name == "postgresql" else ["app"]


def differences(engine: Engine, schema: migrations.Schema) -> list[object]:
    metadata = migrate.app_metadata() if schema == "app" else migrate.pgvector_metadata()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=migrations.comparison_options(schema))
        return list(compare_metadata(context, metadata))


def load_legacy_schema(engine: Engine) -> None:
    script = (LEGACY / f"schema_{engine.dialect.name}.sql").read_text()
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            raw.driver_connection.executescript(script)  # type: ignore[union-attr]
        finally:
            raw.close()
        return
    dsn = make_url(engine.url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(script)  # type: ignore[call-overload]


def test_upgrade_from_empty_gives_exactly_the_models(empty_database: Engine) -> None:
    for schema in schemas_of(empty_database):
        migrations.upgrade(empty_database, schema)

        assert differences(empty_database, schema) == []
        migrations.check_at_head(empty_database, schema)


def test_upgrade_keeps_the_rows_of_a_database_made_before_migrations(
    empty_database: Engine,
) -> None:
    engine = empty_database
    load_legacy_schema(engine)
    tenant = "5f0c6a52-5d0c-4a47-9b8e-4f6e1f1e2a10"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO leads (id, request_id, message, intent, confidence, low_confidence,"
                " extraction_method, provider, model) VALUES ('lead-1', 'req-1', 'We want a"
                " quote', 'Sales', 0.9, false, 'llm', 'local', 'classifier')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO company (id, name, created_at)"
                " VALUES ('acme', 'Acme', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO tenant (id, name, subscription_tier, webhook_secret, created_at)"
                " VALUES (:id, 'Globex', 'pro', 'whsec_x', CURRENT_TIMESTAMP)"
            ),
            {"id": tenant if engine.dialect.name == "postgresql" else tenant.replace("-", "")},
        )
        if engine.dialect.name == "postgresql":
            connection.execute(
                text(
                    "INSERT INTO pgvector_chunk (company_id, chunk_index, text, metadata,"
                    " embedding_model, embedding) VALUES ('acme', 0, 'Plans start at $49.',"
                    " '{}', 'm', '[1,0,0]')"
                )
            )

    for schema in schemas_of(engine):
        migrations.upgrade(engine, schema)

    with engine.connect() as connection:
        assert connection.execute(text("SELECT message FROM leads")).scalars().all() == [
            "We want a quote"
        ]
        assert connection.execute(text("SELECT name FROM company")).scalars().all() == ["Acme"]
        assert connection.execute(text("SELECT name FROM tenant")).scalars().all() == ["Globex"]
        if engine.dialect.name == "postgresql":
            chunks = connection.execute(text("SELECT text FROM pgvector_chunk")).scalars().all()
            assert chunks == ["Plans start at $49."]
            # The keyword-search revision filled the new column of the rows already there.
            matched = connection.execute(
                text("SELECT count(*) FROM pgvector_chunk WHERE text_search @@ 'plan'::tsquery")
            ).scalar_one()
            assert matched == 1
            # And the term-count revision counted their lexemes.
            terms = connection.execute(text("SELECT lexeme, chunks FROM pgvector_term")).tuples()
            assert sorted(terms) == [("49", 1), ("plan", 1), ("start", 1)]
    for schema in schemas_of(engine):
        migrations.check_at_head(engine, schema)
        assert differences(engine, schema) == []


def test_tables_of_an_older_version_gain_the_nullable_columns_added_since(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    load_legacy_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE chat_message DROP COLUMN search_query"))

    migrations.upgrade(engine)

    assert differences(engine, "app") == []
    engine.dispose()


def test_row_level_security_policies_come_with_the_schema() -> None:
    with throwaway_database() as url:
        engine = create_db_engine(url)
        migrations.upgrade(engine)
        with engine.connect() as connection:
            forced = connection.execute(
                text(
                    "SELECT relname FROM pg_class WHERE relrowsecurity AND relforcerowsecurity"
                    " AND relkind = 'r'"
                )
            ).scalars()
            policies = connection.execute(
                text("SELECT tablename FROM pg_policies WHERE policyname = 'tenant_isolation'")
            ).scalars()
            assert (
                set(forced)
                == set(policies)
                == {
                    "tenant",
                    "user",
                    "lead",
                    "crm_contact",
                    "crm_sync",
                    "audit_log",
                    "usage_event",
                    "webhook_event",
                }
            )
        engine.dispose()


def test_the_api_refuses_to_start_on_a_database_that_is_not_at_head(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, MIGRATE_ON_START=False)

    with pytest.raises(migrations.SchemaNotAtHead) as refused, TestClient(create_app(settings)):
        pass

    message = str(refused.value)
    assert "has no migration history" in message
    assert "make migrate" in message and "alembic upgrade head" in message


def test_the_documented_commands_bring_the_database_to_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    environment = {"PATH": "/usr/bin:/bin", "DATABASE_URL": url, "DATA_DIR": str(tmp_path)}

    def run(*command: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", *command],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("alembic", "upgrade", "head")
    checked = run("backend.migrate", "--check")

    assert f"app: DATABASE_URL={url} at {migrations.head('app')}" in checked
    settings = make_settings(tmp_path, DATABASE_URL=url, MIGRATE_ON_START=False)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
