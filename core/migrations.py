"""Schema migrations with Alembic: bring a database to the newest revision, or check it is there.

Two schemas, each with its own history (`migrations/<schema>/versions/`) and version table:
- `app`: the tables of the three assessments, on `DATABASE_URL` (SQLite or PostgreSQL; on
  PostgreSQL also Assessment 3's row-level-security policies);
- `pgvector`: the chunk store of `VECTOR_STORE=pgvector`, on `PGVECTOR_DATABASE_URL`.

From a shell, `make migrate` (`python -m backend.migrate`) upgrades what the settings use;
`alembic upgrade head` and `alembic -n pgvector upgrade head` do one schema each. The API
upgrades at start only when `MIGRATE_ON_START` says so (the default outside production);
otherwise it checks and refuses to start on a database that is behind.

A database made before migrations existed (tables from `create_all`, no version table) is
upgraded like an empty one: the first revision of each schema creates only what is missing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from core.config import PROJECT_ROOT, Settings, get_settings
from core.startup_lock import exclusive

Schema = Literal["app", "pgvector"]

ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
INI_SECTION: dict[Schema, str] = {"app": "alembic", "pgvector": "pgvector"}
VERSION_TABLE: dict[Schema, str] = {
    "app": "alembic_version",
    "pgvector": "alembic_version_pgvector",
}
SETTING: dict[Schema, str] = {"app": "DATABASE_URL", "pgvector": "PGVECTOR_DATABASE_URL"}
UPGRADE_COMMAND: dict[Schema, str] = {
    "app": "alembic upgrade head",
    "pgvector": "alembic -n pgvector upgrade head",
}
_HNSW_PREFIX = "pgvector_chunk_hnsw_"


class SchemaNotAtHead(RuntimeError):
    """The database is behind (or ahead of) the revisions this version ships."""


def alembic_config(schema: Schema, connection: Connection | None = None) -> Config:
    config = Config(str(ALEMBIC_INI), ini_section=INI_SECTION[schema])
    config.attributes["connection"] = connection
    return config


@lru_cache
def head(schema: Schema) -> str:
    heads = ScriptDirectory.from_config(alembic_config(schema)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the {schema} migrations have {len(heads)} heads; merge them")
    return str(heads[0])


def current(connection: Connection, schema: Schema) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE[schema]})
    return context.get_current_revision()


def upgrade(engine: Engine, schema: Schema = "app") -> None:
    """Bring the database to head: one process at a time, nothing done when it is there."""
    with exclusive(engine, "migrate"), engine.begin() as connection:
        if current(connection, schema) != head(schema):
            command.upgrade(alembic_config(schema, connection), "head")


def check_at_head(engine: Engine, schema: Schema = "app") -> None:
    """Raise `SchemaNotAtHead`, naming the revisions and the command to run, unless at head."""
    with engine.connect() as connection:
        found = current(connection, schema)
    expected = head(schema)
    if found == expected:
        return
    shown = engine.url.render_as_string(hide_password=True)
    state = f"is at revision {found}" if found else "has no migration history"
    raise SchemaNotAtHead(
        f"The {schema} schema of the database at {SETTING[schema]}={shown} {state}; this "
        f"version needs {expected}. Run `make migrate` (or `{UPGRADE_COMMAND[schema]}`) "
        "before starting, or set MIGRATE_ON_START=true."
    )


def prepare(engine: Engine, schema: Schema = "app", *, migrate: bool) -> None:
    """At start: upgrade when allowed to, else insist on head."""
    if migrate:
        upgrade(engine, schema)
    else:
        check_at_head(engine, schema)


def comparison_options(schema: Schema) -> dict[str, Any]:
    """How autogenerate compares a database with one schema's models.

    Both schemas may share a database: each looks only at its own tables (the pgvector
    ones are named `pgvector_*`). Left out as well: the per-dimension HNSW indexes, which
    the store makes for the embedding model in use (`PgVectorStore`), not a revision.
    """

    def include_name(name: str | None, kind: str, _parents: Any) -> bool:
        if kind != "table" or name is None:
            return True
        pgvector = name.startswith("pgvector_") or name == VERSION_TABLE["pgvector"]
        return pgvector == (schema == "pgvector")

    def include_object(_obj: Any, name: str | None, kind: str, reflected: bool, _to: Any) -> bool:
        return not (kind == "index" and reflected and (name or "").startswith(_HNSW_PREFIX))

    return {
        "version_table": VERSION_TABLE[schema],
        "include_name": include_name,
        "include_object": include_object,
        "compare_type": True,
        "compare_server_default": True,
    }


def settings_url(schema: Schema, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if schema == "app":
        return settings.database_url
    if settings.pgvector_database_url is None:
        raise RuntimeError("the pgvector schema needs PGVECTOR_DATABASE_URL or DATABASE_URL")
    return settings.pgvector_database_url
