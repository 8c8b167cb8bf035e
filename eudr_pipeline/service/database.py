"""The durable state every process shares (API, Dagster daemon and sensor, run workers):
jobs, their plots and tasks, and the history of analyses.

Embedded default: SQLite in WAL mode with a busy timeout, which several processes can
read and write at once (one writer at a time, waiting rather than failing). The same code
runs on PostgreSQL: set EUDR_DATABASE_URL=postgresql+psycopg://... ."""

from __future__ import annotations

import functools
from typing import Any
from pathlib import Path

import orjson
import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "users", metadata,
    sa.Column("username", sa.String(128), primary_key=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("balance", sa.BigInteger, nullable=False, default=0),    # tokens owned
    sa.Column("reserved", sa.BigInteger, nullable=False, default=0),   # held by jobs not yet settled
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

token_ledger = sa.Table(
    "token_ledger", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(128), sa.ForeignKey("users.username"), nullable=False, index=True),
    sa.Column("job_id", sa.String(36)),
    sa.Column("kind", sa.String(16), nullable=False),    # topup | reserve | spend | refund
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # a job is reserved, spent and refunded at most once each: never charged twice
    sa.UniqueConstraint("job_id", "kind", name="one_entry_per_job_and_kind"),
)

plots = sa.Table(
    "plots", metadata,
    sa.Column("plot_id", sa.String(36), primary_key=True),
    sa.Column("username", sa.String(128), sa.ForeignKey("users.username"), nullable=False, index=True),
    sa.Column("plot_name", sa.String(512)),
    sa.Column("features", sa.JSON, nullable=False),      # the plot's GeoJSON features ([lon, lat])
    sa.Column("commodity", sa.String(32)),
    sa.Column("harvest_dates", sa.JSON, nullable=False, default=list),
    sa.Column("country", sa.String(128)),
    sa.Column("state", sa.String(128)),
    sa.Column("notes", sa.Text),
    sa.Column("additional_info", sa.JSON, nullable=False, default=dict),
    sa.Column("area_ha", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_plots_username_created", plots.c.username, plots.c.created_at.desc(), plots.c.plot_id)  # migration 0002

jobs = sa.Table(
    "jobs", metadata,
    sa.Column("job_id", sa.String(36), primary_key=True),
    sa.Column("username", sa.String(128), nullable=False, index=True),
    sa.Column("job_name", sa.String(512)),
    sa.Column("notes", sa.Text),
    sa.Column("additional_info", sa.JSON, nullable=False, default=dict),
    sa.Column("checks", sa.JSON, nullable=False),         # [{type, config, per_plot}]
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("dry_run", sa.Boolean, nullable=False, default=False),
    sa.Column("token_cost", sa.Integer, nullable=False, default=0),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("dagster_run_id", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("layer_versions", sa.JSON),                 # {layer: version} of the published analysis
    # the Dagster run id of the published analysis: the one whose numbers, maps and response
    # users see (job_store.py); None before the first is published (migration 0003)
    sa.Column("published_run", sa.String(64)),
)
sa.Index("ix_jobs_username_created", jobs.c.username, jobs.c.created_at.desc(), jobs.c.job_id)  # migration 0002

job_plots = sa.Table(
    "job_plots", metadata,
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.job_id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("plot_id", sa.String(128), nullable=False),
    sa.Column("feature", sa.JSON, nullable=False),        # the plot's GeoJSON Feature(s) and properties
    sa.Column("checks", sa.JSON, nullable=False),         # [{type, config}] effective for this plot
    sa.Column("tokens_cost", sa.Integer, nullable=False, default=0),
    sa.Column("status", sa.String(16), nullable=False, default="pending"),   # pending | done | failed
    sa.Column("error", sa.Text),
    sa.Column("failure_type", sa.String(64)),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)

analysis_runs = sa.Table(
    "analysis_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.job_id"), nullable=False, index=True),
    sa.Column("plot_id", sa.String(128), nullable=False, index=True),
    sa.Column("dagster_run_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),   # done | failed
    sa.Column("error", sa.Text),
    sa.Column("layer_versions", sa.JSON, nullable=False),
    sa.Column("analysis", sa.JSON),
    sa.Column("area_ha", sa.Float),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),   # the analysis ended
    sa.Column("started_at", sa.DateTime(timezone=True)),   # migration 0003: the analysis started
    sa.Column("failure_type", sa.String(64)),              # migration 0003: why a failed plot failed
)
sa.Index("ix_analysis_runs_job_run", analysis_runs.c.job_id, analysis_runs.c.dagster_run_id)  # migration 0003


def _dumps(obj) -> str:
    # JSON columns hold many per-plot documents: orjson is several times faster than json
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()


@functools.cache
def engine_for(url: str) -> sa.Engine:
    """The process's one engine (and connection pool) for ``url``: the API, the sensor's
    ticks and the run steps of a process share it."""
    return make_engine(url)


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url``; SQLite files get WAL mode and a 30 s busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                                  json_serializer=_dumps, json_deserializer=orjson.loads)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_con, _record):
            cur = dbapi_con.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    else:
        engine = sa.create_engine(url, pool_pre_ping=True, json_serializer=_dumps, json_deserializer=orjson.loads)
    return engine


def fetch_page(engine: sa.Engine, table: sa.Table, condition: sa.ColumnElement[bool], order_by: list,
               limit: int, offset: int) -> tuple[int, list[dict]]:
    """(how many rows meet ``condition``, the rows of one page in ``order_by`` order)."""
    with engine.connect() as con:
        total = con.execute(sa.select(sa.func.count()).select_from(table).where(condition)).scalar()
        rows = con.execute(sa.select(table).where(condition).order_by(*order_by).limit(limit).offset(offset)).mappings()
        return int(total), [dict(r) for r in rows]


def row_dicts(result: sa.CursorResult) -> list[dict[str, Any]]:
    """The rows of ``result`` as dicts; the same as ``dict(row)`` of each ``.mappings()`` row,
    without the per-row key lookups that make that slow over thousands of rows."""
    keys = list(result.keys())
    return [dict(zip(keys, r)) for r in result]
