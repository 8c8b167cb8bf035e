"""Timestamps of the service: every stored time is timezone-aware UTC, every time in a
response is ISO 8601 with its offset."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


def iso(t: dt.datetime | None) -> str | None:
    """``t`` as ISO 8601; a naive time (SQLite returns them) is taken as UTC."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.isoformat()
