"""The job database under migrations, on SQLite and a real PostgreSQL server: a database
made by release 0.1.0 is upgraded in place with every row intact, a fresh one upgraded to
head equals the models, upgrades are idempotent and reversible, processes starting
together upgrade once, and a migration is one transaction in which later revisions can
alter tables that others refer to."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import multiprocessing.synchronize
import sqlite3
import threading
from typing import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from eudr_pipeline.service.database import make_engine, metadata
from eudr_pipeline.service.migrations import (HEAD_REVISION, current_revision, downgrade_database,
                                              migration_transaction, upgrade_database)
from eudr_pipeline_tests.service import previous_release_schema as release_0_1_0

T0 = dt.datetime(2026, 1, 12, 9, 30, 15, 123456, tzinfo=dt.timezone.utc)
T1 = T0 + dt.timedelta(minutes=7, seconds=3)
FEATURE = {"type": "Feature",
           "geometry": {"type": "Polygon", "coordinates": [[[-5.31, 6.82], [-5.30, 6.82], [-5.30, 6.83], [-5.31, 6.82]]]},
           "properties": {"plot_id": "demo-01", "plot_name": "Nord", "commodity": "cocoa", "area_ha": None}}
CHECKS = [{"type": "eudr_deforestation", "config": {"cutoff": "2020-12-31", "commodity": "cocoa"}}]
LAYERS = {"hansen_gfc": "v1.12", "protected_areas": "2025-11"}
ROWS: dict[str, list[dict]] = {
    "users": [{"username": "ann", "password_hash": "scrypt$c2FsdHNhbHRzYWx0$ZGlnZXN0ZGlnZXN0ZGlnZXN0",
               "balance": 120, "reserved": 0, "created_at": T0}],
    "token_ledger": [
        {"id": 1, "username": "ann", "job_id": None, "kind": "topup", "amount": 120, "created_at": T0},
        {"id": 2, "username": "ann", "job_id": "5f0c2a9e-0d5b-4a53-9a4e-3d1b2f6c7a80", "kind": "reserve", "amount": 3,
         "created_at": T0},
        {"id": 3, "username": "ann", "job_id": "5f0c2a9e-0d5b-4a53-9a4e-3d1b2f6c7a80", "kind": "spend", "amount": 3,
         "created_at": T1}],
    "plots": [{"plot_id": "0b7e4f4e-95a3-4f4b-8d0e-2f7c1d9a6b11", "username": "ann", "plot_name": "Nord",
               "features": [FEATURE], "commodity": "cocoa", "harvest_dates": ["2024-11-01", "2025-03-15"],
               "country": "Côte d'Ivoire", "state": "Lôh-Djiboua", "notes": "fenced in 2019\nno burning",
               "additional_info": {"cooperative": "COOP-CA 17", "certified": True, "yield_t": 1.25},
               "area_ha": 1.0734, "lat": 6.8233, "lon": -5.3051, "created_at": T0, "updated_at": T1}],
    "jobs": [{"job_id": "5f0c2a9e-0d5b-4a53-9a4e-3d1b2f6c7a80", "username": "ann", "job_name": "Q1 shipment",
              "notes": None, "additional_info": {"po": "PO-2026-0042"},
              "checks": [{**CHECKS[0], "per_plot": {"0b7e4f4e-95a3-4f4b-8d0e-2f7c1d9a6b11": {}}}],
              "status": "done-with-errors", "dry_run": False, "token_cost": 3, "attempts": 1,
              "dagster_run_id": "8d3c6f0e-1b2a-4c5d-9e8f-7a6b5c4d3e2f", "created_at": T0, "updated_at": T1,
              "finished_at": T1, "layer_versions": LAYERS}],
    "job_plots": [
        {"job_id": "5f0c2a9e-0d5b-4a53-9a4e-3d1b2f6c7a80", "position": 0, "plot_id": "demo-01", "feature": FEATURE,
         "checks": CHECKS, "tokens_cost": 2, "status": "done", "error": None, "failure_type": None,
         "started_at": T0, "finished_at": T1},
        {"job_id": "5f0c2a9e-0d5b-4a53-9a4e-3d1b2f6c7a80", "position": 1, "plot_id": "demo-10",
         "feature": {**FEATURE, "geometry": None}, "checks": CHECKS, "tokens_cost": 1, "status": "failed",
         "error": "the plot has no geometry", "failure_type": "InvalidGeometry", "started_at": T0, "finished_at": T1}],
    "analysis_runs": [
        {"id": 1, "job_id": "5f0c2a9e-0d5b-4a53-9a4e-3d1b2f6c7a80", "plot_id": "demo-01",
         "dagster_run_id": "8d3c6f0e-1b2a-4c5d-9e8f-7a6b5c4d3e2f", "status": "done", "error": None,
         "layer_versions": LAYERS, "analysis": {"risk_level": "High", "loss_ha": {"2021": 0.12, "2023": 0.4},
                                                  "protected": [], "score": None},
         "area_ha": 1.0734, "created_at": T1},
        {"id": 2, "job_id": "5f0c2a9e-0d5b-4a53-9a4e-3d1b2f6c7a80", "plot_id": "demo-10",
         "dagster_run_id": "8d3c6f0e-1b2a-4c5d-9e8f-7a6b5c4d3e2f", "status": "failed",
         "error": "the plot has no geometry", "layer_versions": LAYERS, "analysis": None, "area_ha": None,
         "created_at": T1}],
}


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path) -> Iterator[sa.Engine]:
    """An engine on an empty database: a new SQLite file, or the test server's emptied."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    else:
        engine = make_engine(request.getfixturevalue("postgres_url"))
        with engine.begin() as con:
            con.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    yield engine
    engine.dispose()


def insert_rows(engine: sa.Engine, tables: sa.MetaData) -> None:
    with engine.begin() as con:
        for table in tables.sorted_tables:
            con.execute(table.insert(), ROWS[table.name])


def dump(engine: sa.Engine, tables: sa.MetaData) -> dict[str, list[dict]]:
    """Every row of ``tables``, in primary-key order."""
    with engine.connect() as con:
        return {t.name: [dict(r) for r in con.execute(sa.select(t).order_by(*t.primary_key.columns)).mappings()]
                for t in tables.sorted_tables}


def normalised(rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Times as UTC instants (SQLite gives them back naive)."""
    def utc(v):
        return v.replace(tzinfo=dt.timezone.utc) if isinstance(v, dt.datetime) and v.tzinfo is None else v
    return {name: [{k: utc(v) for k, v in r.items()} for r in table] for name, table in rows.items()}


def table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_a_release_0_1_0_database_upgrades_in_place_with_its_rows(engine):
    release_0_1_0.metadata.create_all(engine)
    insert_rows(engine, release_0_1_0.metadata)
    before = dump(engine, release_0_1_0.metadata)
    assert current_revision(engine) is None
    upgrade_database(engine)
    assert current_revision(engine) == HEAD_REVISION
    after = dump(engine, release_0_1_0.metadata)
    assert after == before
    assert normalised(after) == normalised(ROWS)


def test_a_fresh_database_upgraded_to_head_equals_the_models(engine):
    upgrade_database(engine)
    with engine.connect() as con:
        assert compare_metadata(MigrationContext.configure(con, opts={"compare_type": True}), metadata) == []
        inspector = sa.inspect(con)  # autogenerate leaves primary keys out
        assert {t.name: inspector.get_pk_constraint(t.name)["constrained_columns"] for t in metadata.sorted_tables} \
            == {t.name: [c.name for c in t.primary_key] for t in metadata.sorted_tables}


def test_upgrades_are_idempotent_and_reversible(engine):
    upgrade_database(engine)
    insert_rows(engine, metadata)
    upgrade_database(engine)
    assert current_revision(engine) == HEAD_REVISION
    assert normalised(dump(engine, release_0_1_0.metadata)) == normalised(ROWS)
    with engine.begin() as con:
        for table in reversed(metadata.sorted_tables):
            con.execute(table.delete())
    downgrade_database(engine, "base")
    assert current_revision(engine) is None
    assert table_names(engine) <= {"alembic_version"}
    upgrade_database(engine)
    assert current_revision(engine) == HEAD_REVISION
    assert set(metadata.tables) <= table_names(engine)


def start_process(url: str, together: multiprocessing.synchronize.Barrier) -> None:
    """What a process starting does (API, Dagster daemon, run worker): its own engine,
    then upgrade_database, at the same moment as the others."""
    engine = make_engine(url)
    try:
        together.wait(timeout=60)
        upgrade_database(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("start", ["empty", "release_0_1_0"])
def test_processes_starting_together_upgrade_once(engine, start):
    """Four processes upgrade at once (on SQLite they also race to create the file and
    switch it to WAL mode): each succeeds and the schema ends at head, once."""
    if start == "release_0_1_0":
        release_0_1_0.metadata.create_all(engine)
        insert_rows(engine, release_0_1_0.metadata)
    engine.dispose()  # the processes forked inherit no connection
    fork = multiprocessing.get_context("fork")
    together = fork.Barrier(4)
    url = engine.url.render_as_string(hide_password=False)
    processes = [fork.Process(target=start_process, args=(url, together)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    stuck = [process for process in processes if process.is_alive()]
    for process in stuck:  # callers not serialised can deadlock: fail rather than hang
        process.terminate()
    assert not stuck and [process.exitcode for process in processes] == [0, 0, 0, 0]
    assert current_revision(engine) == HEAD_REVISION
    with engine.connect() as con:
        assert con.execute(sa.text("SELECT COUNT(*) FROM alembic_version")).scalar() == 1
    if start == "release_0_1_0":
        assert normalised(dump(engine, release_0_1_0.metadata)) == normalised(ROWS)


def test_opening_a_new_sqlite_file_waits_for_its_first_writer(tmp_path):
    """Connections opened together to a new SQLite file race to switch it to WAL mode: the
    pragma fails at once ("database is locked") while another connection writes the file
    in its initial journal mode, instead of waiting in the busy timeout."""
    path = tmp_path / "jobs.sqlite"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, other.execute, ["COMMIT"])
    release.start()
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade_database(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        release.join()
        other.close()
        engine.dispose()


def test_a_later_migration_can_alter_a_table_others_refer_to(engine):
    """What a later revision in batch mode does on SQLite (copy users, drop it, rename the
    copy) while rows of token_ledger and plots refer to it; foreign keys are enforced again
    afterwards."""
    upgrade_database(engine)
    insert_rows(engine, metadata)
    with migration_transaction(engine) as con:
        with Operations(MigrationContext.configure(con)).batch_alter_table("users") as batch:
            batch.alter_column("password_hash", type_=sa.String(512))
    assert {c["name"]: c["type"] for c in sa.inspect(engine).get_columns("users")}["password_hash"].length == 512
    assert normalised(dump(engine, release_0_1_0.metadata)) == normalised(ROWS)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as con:
        con.execute(metadata.tables["token_ledger"].insert(),
                    {"username": "nobody", "kind": "topup", "amount": 1, "created_at": T0})


def test_a_failed_migration_leaves_the_schema_as_it_was(engine):
    upgrade_database(engine)
    with pytest.raises(RuntimeError, match="a later step fails"), migration_transaction(engine) as con:
        op = Operations(MigrationContext.configure(con))
        op.add_column("jobs", sa.Column("priority", sa.Integer))
        op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
        raise RuntimeError("a later step fails")
    assert "priority" not in {c["name"] for c in sa.inspect(engine).get_columns("jobs")}
    assert "half_done" not in table_names(engine)
    assert current_revision(engine) == HEAD_REVISION
