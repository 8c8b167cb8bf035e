"""A job's status (api.md): where it is in its life, and which statuses are final."""

from __future__ import annotations

from typing import Literal, get_args

JobStatus = Literal["creating", "pending", "incomplete", "done-with-errors", "done"]
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)
TERMINAL_STATUSES = frozenset({"done", "done-with-errors", "incomplete"})
"""A job in one of these has ended: its tokens are settled and nothing runs for it."""
