"""Alembic environment of the `app` schema: the tables of the three assessments."""

from alembic import context

from backend.migrate import app_metadata, run_migrations

# Upgrades replay revisions and need no models; the alembic command line may autogenerate.
metadata = app_metadata() if context.config.cmd_opts is not None else None
run_migrations(context, "app", metadata)
