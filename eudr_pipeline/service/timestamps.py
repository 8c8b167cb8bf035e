"""Timestamps of the service: every stored time is timezone-aware UTC, every time in a
response is ISO 8601 with its offset."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


def as_utc(t: dt.datetime) -> dt.datetime:
    """``t`` timezone-aware: a naive time (SQLite returns them) is taken as UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone.utc)


def iso(t: dt.datetime | None) -> str | None:
    """``t`` as ISO 8601 with its offset (``as_utc``)."""
    return None if t is None else as_utc(t).isoformat()
