"""The layer catalogue: one DuckDB table row per ingested layer version.

DuckDB lets one process hold a file open for writing, and readers in other processes
cannot open it meanwhile, so every access here opens the file briefly and retries for a
while when another process holds it (ingestion runs are short and rare)."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import duckdb

from eudr_pipeline.errors import CatalogueBusy

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
    def __init__(self, path: Path, wait_s: float = 30.0) -> None:
        self.path = Path(path)
        self.wait_s = wait_s

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.wait_s
        delay = 0.02
        while True:
            try:
                if read_only and not self.path.exists():
                    read_only = False  # first use creates it
                con = duckdb.connect(str(self.path), read_only=read_only)
                if not read_only:
                    con.execute(SCHEMA)
                return con
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    if "lock" in str(exc).lower():
                        raise CatalogueBusy(f"layer catalogue {self.path} stayed locked for {self.wait_s:.0f} s") from exc
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _rows(self, sql: str, params: list[Any]) -> list[LayerVersion]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect(read_only=True)
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rec = asdict(v)
        rec["checks"] = json.dumps(rec["checks"])
        rec["details"] = json.dumps(rec["details"])
        cols = list(rec)
        con = self._connect(read_only=False)
        try:
            con.execute("BEGIN")
            con.execute("DELETE FROM layer_versions WHERE layer = ? AND version = ?", [v.layer, v.version])
            con.execute(f"INSERT INTO layer_versions ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                        [rec[c] for c in cols])
            con.execute("COMMIT")
        finally:
            con.close()

    def set_status(self, layer: str, version: str, status: str, checks: list[dict[str, Any]] | None = None) -> None:
        con = self._connect(read_only=False)
        try:
            if checks is None:
                con.execute("UPDATE layer_versions SET status = ? WHERE layer = ? AND version = ?", [status, layer, version])
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
        from eudr_pipeline.layers.source_directory import natural_key

        ok = [v for v in self.versions(layer) if v.status == "ok"]
        return max(ok, key=lambda v: natural_key(v.version)) if ok else None

    def __iter__(self) -> Iterator[LayerVersion]:
        return iter(self.versions())
