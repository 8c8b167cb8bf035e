"""The job database's schema under Alembic migrations.

``upgrade_database(engine)`` brings a database to the newest revision: an empty one is
created from the migrations; one created by release 0.1.0 (its tables made by
``metadata.create_all``, no ``alembic_version``) is first adopted, stamped at revision
0001 whose schema is exactly 0.1.0's, then upgraded in place with its rows. ``eudr db
upgrade`` runs it; so does every deployment start.

Alembic is configured in code (no alembic.ini): this folder is the script location and
the engine's own connection is handed to ``env.py`` through
``config.attributes["connection"]``, so the engine's settings (SQLite's WAL mode and busy
timeout) hold during migrations.

All the work is one transaction holding the database's migration lock, so processes
starting together (API, Dagster daemon) upgrade one after the other, the later ones
finding the schema at head, and a failed upgrade leaves the schema as it was:

- PostgreSQL: a transaction-scoped advisory lock; its DDL is transactional.
- SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock at once (the others wait
  in their busy timeout); pysqlite would otherwise run DDL outside any transaction. Only
  the first connections to a new file can fail at once, racing to switch it to WAL mode:
  opening the connection is retried. The connection's foreign-key enforcement is off
  during the transaction, as SQLite's procedure for altering tables requires (batch
  migrations copy a table, drop it and rename the copy, which fails while other tables
  refer to it); the foreign keys are checked before commit and enforcement is restored
  afterwards.

A schema change is a new file in ``versions/`` (written by hand, or by
``alembic.command.revision(alembic_config(connection), message, autogenerate=True)``);
``test_migrations.py`` fails while the models and the migrations differ."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

INITIAL_REVISION = "0001"
# tables of release 0.1.0: present without alembic_version, the database is adopted at 0001
RELEASE_0_1_0_MARKERS = frozenset({"users", "jobs"})
MIGRATION_LOCK_KEY = 0x45554452  # "EUDR": PostgreSQL's advisory lock of schema migrations


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration, in code: this folder as script location, ``connection`` for env.py."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


HEAD_REVISION: str = ScriptDirectory.from_config(alembic_config()).get_current_head()


def _revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current_revision(engine: sa.Engine) -> str | None:
    """The database's revision (None: not under migrations, i.e. empty or release 0.1.0)."""
    with engine.connect() as connection:
        return _revision(connection)


def _is_release_0_1_0(connection: sa.Connection) -> bool:
    tables = set(sa.inspect(connection).get_table_names())
    return RELEASE_0_1_0_MARKERS <= tables and "alembic_version" not in tables


def _connect(engine: sa.Engine, attempts: int = 100) -> sa.Connection:
    """``engine.connect()``, retried while connections opened together to a new SQLite file
    race to switch it to WAL mode: that pragma fails at once with "database is locked"
    instead of waiting in the busy timeout. Once the file is in WAL mode it no longer can."""
    for _ in range(attempts - 1):
        try:
            return engine.connect()
        except sa.exc.OperationalError as exc:
            if engine.dialect.name != "sqlite" or "database is locked" not in str(exc.orig):
                raise
        time.sleep(0.05)
    return engine.connect()


@contextmanager
def _sqlite_foreign_keys_off(connection: sa.Connection) -> Iterator[None]:
    # the pragma is a no-op inside a transaction: set it before, restore it after
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


@contextmanager
def migration_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in the one transaction migrations run in, the migration lock held:
    committed when the block ends, rolled back if it raises."""
    with _connect(engine) as connection:
        if connection.dialect.name != "sqlite":
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                yield connection
            return
        with _sqlite_foreign_keys_off(connection), connection.begin():
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield connection
            violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if violations:  # (table, rowid, parent table, foreign key) of each
                raise RuntimeError(f"the migration breaks foreign keys: {violations}")


def upgrade_database(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``, adopting a release-0.1.0 database at 0001 first."""
    with migration_transaction(engine) as connection:
        config = alembic_config(connection)
        if _is_release_0_1_0(connection):
            command.stamp(config, INITIAL_REVISION)
        command.upgrade(config, revision)


def downgrade_database(engine: sa.Engine, revision: str) -> None:
    """Take the database back to ``revision`` ("base": no tables)."""
    with migration_transaction(engine) as connection:
        command.downgrade(alembic_config(connection), revision)
