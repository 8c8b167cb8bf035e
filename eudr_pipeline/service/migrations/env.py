"""Alembic's environment for the job database. It runs inside
``eudr_pipeline.service.migrations.upgrade_database`` (or ``downgrade_database``), which
hands over an open connection in its transaction as ``config.attributes["connection"]``."""

from alembic import context

from eudr_pipeline.service.database import metadata

target_metadata = metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with eudr_pipeline.service.migrations.upgrade_database (eudr db upgrade), "
                       "or give alembic_config(connection) a connection")
context.configure(connection=connection, target_metadata=target_metadata, compare_type=True,
                  render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters tables by copying them
with context.begin_transaction():
    context.run_migrations()
