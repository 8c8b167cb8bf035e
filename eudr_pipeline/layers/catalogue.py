"""The layer catalogue: one DuckDB table row per ingested layer version, kept as the
object ``catalogue.duckdb`` of the layer store (object_store.py).

DuckDB lets one process hold a file open for writing, and readers in other processes
cannot open it meanwhile, so every access here opens the file briefly and retries for a
while when another process holds it (ingestion runs are short and rare).

DuckDB cannot write a database on S3, so on an s3:// store the catalogue is a file
copied whole: a writer (ingestion: one Dagster run at a time; the check sensor's
demotion) takes a lock file of this host, brings its own local copy up to date with the
object, changes it, and uploads it after each change; a reader opens a read-only local
copy, downloaded again whenever the object's ETag changed. The object is replaced whole
(one PUT), so a reader sees the catalogue before or after a change, never half of it.
Writers on two hosts at the same moment could lose one's change (the last upload wins):
ingestion runs one at a time. On a local store the file IS the object: nothing is copied."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import duckdb

from eudr_pipeline.errors import CatalogueBusy
from eudr_pipeline.object_store import ObjectStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS layer_versions (
    layer VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,            -- raster | vector | imagery
    status VARCHAR NOT NULL,          -- ok | rejected
    source_uri VARCHAR NOT NULL,
    checksum VARCHAR NOT NULL,        -- sha256 over the source files (names and bytes)
    ingested_at TIMESTAMP NOT NULL,
    west DOUBLE, south DOUBLE, east DOUBLE, north DOUBLE,
    pixel_size_x DOUBLE, pixel_size_y DOUBLE,
    tile_count INTEGER, row_count BIGINT, repaired_count INTEGER,
    licence VARCHAR,
    store_path VARCHAR,
    checks VARCHAR,                   -- JSON: [{name, passed, detail}]
    details VARCHAR,                  -- JSON: layer-specific facts (last loss year, value ranges...)
    PRIMARY KEY (layer, version)
)
"""


@dataclass
class LayerVersion:
    """One row of the catalogue."""

    layer: str
    version: str
    kind: str
    status: str
    source_uri: str
    checksum: str
    ingested_at: dt.datetime
    west: float | None = None
    south: float | None = None
    east: float | None = None
    north: float | None = None
    pixel_size_x: float | None = None
    pixel_size_y: float | None = None
    tile_count: int | None = None
    row_count: int | None = None
    repaired_count: int | None = None
    licence: str | None = None
    store_path: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["passed"]]


class Catalogue:
    """The catalogue object ``key`` of the layer store ``objects``."""

    def __init__(self, objects: ObjectStore, key: str = "catalogue.duckdb", wait_s: float = 30.0) -> None:
        self.objects = objects
        self.key = key
        self.path = objects.local_path(key)
        """The file readers open: the object itself (local store) or the read-only copy."""
        self.wait_s = wait_s

    def _connect(self, path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.wait_s
        delay = 0.02
        while True:
            try:
                if read_only and not path.exists():
                    read_only = False  # first use creates it
                con = duckdb.connect(str(path), read_only=read_only)
                if not read_only:
                    con.execute(SCHEMA)
                return con
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    if "lock" in str(exc).lower():
                        raise CatalogueBusy(f"layer catalogue {path} stayed locked for {self.wait_s:.0f} s") from exc
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _read_copy(self) -> Path | None:
        """The file to read: the object itself (local store, created on first use), or the
        read-only copy refreshed from the object (None: no catalogue object yet)."""
        if self.objects.is_local:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self.path
        return self.objects.working_copy(self.key)

    @contextlib.contextmanager
    def _writable(self) -> Iterator[Path]:
        """The file to change, published when the block ends without error. s3://: this
        host's writer copy (``<name>.writer``), under a lock file, first brought up to date
        with the object (or emptied when there is none), then uploaded."""
        if self.objects.is_local:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            yield self.path
            return
        copy = self.path.with_name(self.path.name + ".writer")
        copy.parent.mkdir(parents=True, exist_ok=True)
        with open(copy.with_name(copy.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.objects.working_copy(self.key, dest=copy) is None:
                copy.unlink(missing_ok=True)  # no object (yet, or any more): start empty
            yield copy
            self.objects.put_file(self.key, copy)

    def _rows(self, sql: str, params: list[Any]) -> list[LayerVersion]:
        path = self._read_copy()
        if path is None:
            return []
        con = self._connect(path, read_only=True)
        try:
            try:
                cur = con.execute(sql, params)
            except duckdb.CatalogException:
                return []  # created read-only before any write: no table yet
            names = [d[0] for d in cur.description]
            out = []
            for row in cur.fetchall():
                rec = dict(zip(names, row))
                rec["checks"] = json.loads(rec["checks"] or "[]")
                rec["details"] = json.loads(rec["details"] or "{}")
                out.append(LayerVersion(**rec))
            return out
        finally:
            con.close()

    def record(self, v: LayerVersion) -> None:
        """Insert or replace the row of (layer, version), atomically."""
        rec = asdict(v)
        rec["checks"] = json.dumps(rec["checks"])
        rec["details"] = json.dumps(rec["details"])
        cols = list(rec)
        with self._writable() as path:
            con = self._connect(path, read_only=False)
            try:
                con.execute("BEGIN")
                con.execute("DELETE FROM layer_versions WHERE layer = ? AND version = ?", [v.layer, v.version])
                con.execute(f"INSERT INTO layer_versions ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                            [rec[c] for c in cols])
                con.execute("COMMIT")
            finally:
                con.close()

    def set_status(self, layer: str, version: str, status: str, checks: list[dict[str, Any]] | None = None) -> None:
        with self._writable() as path:
            con = self._connect(path, read_only=False)
            try:
                if checks is None:
                    con.execute("UPDATE layer_versions SET status = ? WHERE layer = ? AND version = ?",
                                [status, layer, version])
                else:
                    con.execute("UPDATE layer_versions SET status = ?, checks = ? WHERE layer = ? AND version = ?",
                                [status, json.dumps(checks), layer, version])
            finally:
                con.close()

    def get(self, layer: str, version: str) -> LayerVersion | None:
        rows = self._rows("SELECT * FROM layer_versions WHERE layer = ? AND version = ?", [layer, version])
        return rows[0] if rows else None

    def versions(self, layer: str | None = None) -> list[LayerVersion]:
        """Every catalogued version (of ``layer``), oldest ingestion first."""
        if layer is None:
            return self._rows("SELECT * FROM layer_versions ORDER BY layer, ingested_at", [])
        return self._rows("SELECT * FROM layer_versions WHERE layer = ? ORDER BY ingested_at", [layer])

    def current(self, layer: str) -> LayerVersion | None:
        """The version in use: the newest (natural sort) whose checks passed."""
        return newest_accepted(self.versions(layer))

    def current_versions(self, layers: Iterable[str]) -> dict[str, LayerVersion]:
        """The version in use of each of ``layers`` that has one, from one read."""
        rows = self.versions()
        return {layer: v for layer in layers if (v := newest_accepted(r for r in rows if r.layer == layer)) is not None}

    def __iter__(self) -> Iterator[LayerVersion]:
        return iter(self.versions())


def newest_accepted(rows: Iterable[LayerVersion]) -> LayerVersion | None:
    """Of ``rows`` (versions of one layer), the newest (natural sort) whose checks passed."""
    from eudr_pipeline.layers.source_directory import natural_key

    ok = [v for v in rows if v.status == "ok"]
    return max(ok, key=lambda v: natural_key(v.version)) if ok else None
