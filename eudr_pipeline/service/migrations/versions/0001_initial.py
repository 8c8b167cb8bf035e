"""The job database of release 0.1.0: users, token ledger, plots, jobs, job plots,
analysis history. Frozen: later changes are new revisions.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    _accounts()
    _plots()
    _jobs()


def _accounts() -> None:
    op.create_table(
        "users",
        sa.Column("username", sa.String(128), primary_key=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "token_ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(128), sa.ForeignKey("users.username"), nullable=False),
        sa.Column("job_id", sa.String(36)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.UniqueConstraint("job_id", "kind", name="one_entry_per_job_and_kind"),
    )
    op.create_index("ix_token_ledger_username", "token_ledger", ["username"])


def _plots() -> None:
    op.create_table(
        "plots",
        sa.Column("plot_id", sa.String(36), primary_key=True),
        sa.Column("username", sa.String(128), sa.ForeignKey("users.username"), nullable=False),
        sa.Column("plot_name", sa.String(512)),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("commodity", sa.String(32)),
        sa.Column("harvest_dates", sa.JSON, nullable=False),
        sa.Column("country", sa.String(128)),
        sa.Column("state", sa.String(128)),
        sa.Column("notes", sa.Text),
        sa.Column("additional_info", sa.JSON, nullable=False),
        sa.Column("area_ha", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index("ix_plots_username", "plots", ["username"])


def _jobs() -> None:
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("job_name", sa.String(512)),
        sa.Column("notes", sa.Text),
        sa.Column("additional_info", sa.JSON, nullable=False),
        sa.Column("checks", sa.JSON, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("token_cost", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("dagster_run_id", sa.String(64)),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("finished_at", TIME),
        sa.Column("layer_versions", sa.JSON),
    )
    op.create_index("ix_jobs_username", "jobs", ["username"])
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_table(
        "job_plots",
        sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.job_id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("plot_id", sa.String(128), nullable=False),
        sa.Column("feature", sa.JSON, nullable=False),
        sa.Column("checks", sa.JSON, nullable=False),
        sa.Column("tokens_cost", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("failure_type", sa.String(64)),
        sa.Column("started_at", TIME),
        sa.Column("finished_at", TIME),
    )
    op.create_table(
        "analysis_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.job_id"), nullable=False),
        sa.Column("plot_id", sa.String(128), nullable=False),
        sa.Column("dagster_run_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("layer_versions", sa.JSON, nullable=False),
        sa.Column("analysis", sa.JSON),
        sa.Column("area_ha", sa.Float),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_index("ix_analysis_runs_job_id", "analysis_runs", ["job_id"])
    op.create_index("ix_analysis_runs_plot_id", "analysis_runs", ["plot_id"])


def downgrade() -> None:
    for table in ("analysis_runs", "job_plots", "jobs", "plots", "token_ledger", "users"):
        op.drop_table(table)
