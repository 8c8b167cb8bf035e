"""Indexes for listing a user's plots and jobs newest first (GET /plots, GET /jobs): the
page is read in index order instead of sorting every row of the user.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_plots_username_created", "plots", ["username", sa.text("created_at DESC"), "plot_id"])
    op.create_index("ix_jobs_username_created", "jobs", ["username", sa.text("created_at DESC"), "job_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_username_created", "jobs")
    op.drop_index("ix_plots_username_created", "plots")
