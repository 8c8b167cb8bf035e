"""The published analysis of a job: ``jobs.published_run``, the Dagster run id of the
analysis whose numbers, maps and response users see (set by ``job_responses`` once that
analysis's maps and response are written); each analysis row's own task state
(``analysis_runs.started_at``, ``failure_type``), since a plot's task state is now that of
the published analysis; and an index to read one analysis of a job.

Existing rows are kept as they are: a job analysed before this revision has no
published run and is shown as before (its newest analysis, the task state of its
``job_plots`` rows, its maps in the folder ``<job_id>/images``) until it is re-analysed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("published_run", sa.String(64)))
    op.add_column("analysis_runs", sa.Column("started_at", sa.DateTime(timezone=True)))
    op.add_column("analysis_runs", sa.Column("failure_type", sa.String(64)))
    op.create_index("ix_analysis_runs_job_run", "analysis_runs", ["job_id", "dagster_run_id"])


def downgrade() -> None:
    op.drop_index("ix_analysis_runs_job_run", "analysis_runs")
    with op.batch_alter_table("analysis_runs") as batch:
        batch.drop_column("failure_type")
        batch.drop_column("started_at")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("published_run")
