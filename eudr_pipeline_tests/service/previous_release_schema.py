"""The job database schema of release 0.1.0, FROZEN: the tables of
``eudr_pipeline/service/database.py`` as that release had them. It created them with
``metadata.create_all``, without Alembic, so this is what existing deployments have and
the upgrade tests start from it. Never edit it to follow the models: schema changes are
migrations."""

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
    sa.Column("layer_versions", sa.JSON),                 # {layer: version} of the latest analysis
)

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
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
