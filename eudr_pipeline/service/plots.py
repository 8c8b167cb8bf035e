"""Plots: registration (every feature of a FeatureCollection validated per analysis.md
section 2; all stored in one transaction, or none) and the per-user plot store."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from eudr_pipeline.core.geometry import centroid_lonlat, geodesic_area_ha, parse_geometry
from eudr_pipeline.core.intake import check_commodity, registered_harvest_dates
from eudr_pipeline.errors import GeometryError, IntakeError, RequestInvalid
from eudr_pipeline.service.database import fetch_page, plots, row_dicts
from eudr_pipeline.service.limits import (
    LONG_TEXT_FIELDS,
    MAX_FEATURES_PER_REQUEST,
    MAX_NAME_CHARS,
    MAX_NOTES_CHARS,
    json_problems,
    text_problems,
)
from eudr_pipeline.service.timestamps import utcnow

TEXT_FIELDS = ("plot_name", "country", "state", "notes")


def _property_errors(props: dict[str, Any], where: str, loc: list) -> list[dict]:
    """Problems of a feature's properties other than its geometry."""
    errors = []
    for check, key in ((lambda: check_commodity(props.get("commodity"), where), "commodity"),
                       (lambda: registered_harvest_dates(props, where), None)):
        try:
            check()
        except IntakeError as exc:
            errors.append({"loc": loc + ["properties"] + ([key] if key else []), "msg": str(exc)})
    for k in TEXT_FIELDS:
        errors += text_problems(props.get(k), loc + ["properties", k], where,
                                MAX_NOTES_CHARS if k in LONG_TEXT_FIELDS else MAX_NAME_CHARS)
    errors += json_problems(props, loc + ["properties"], where)
    info = props.get("additional_info")
    if info is not None and (not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values())):
        errors.append({"loc": loc + ["properties", "additional_info"],
                       "msg": f"{where}: additional_info must map strings to strings"})
    return errors


def plot_row(i: int, feature: Any) -> tuple[list[dict], dict | None]:
    """(problems, the plot's row) of feature ``i`` of a registration: its validated
    geometry, geodesic area (ha), centroid, harvest dates and properties."""
    where, loc = f"feature {i}", ["body", "features", i]
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return [{"loc": loc, "msg": f"{where}: not a GeoJSON Feature"}], None
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        return [{"loc": loc + ["properties"], "msg": f"{where}: properties must be an object"}], None
    errors = _property_errors(props, where, loc)
    try:  # no precision warning: the body arrives parsed, how its numbers were written is gone (core/geometry.py)
        pg = parse_geometry(feature.get("geometry"), props, where)
    except GeometryError as exc:
        return errors + [{"loc": loc + ["geometry"], "msg": str(exc)}], None
    if errors:
        return errors, None
    lon, lat = centroid_lonlat(pg.geometry)
    return [], {
        "plot_name": props.get("plot_name"), "commodity": props.get("commodity") or None,
        "harvest_dates": [d.isoformat() for d in registered_harvest_dates(props, where)],
        "country": props.get("country"), "state": props.get("state"), "notes": props.get("notes"),
        "additional_info": props.get("additional_info") or {}, "area_ha": round(geodesic_area_ha(pg.geometry), 6),
        "lat": lat, "lon": lon, "warnings": pg.warnings,
        "features": [{"type": "Feature", "geometry": _drop_z(feature["geometry"]), "properties": props}],
    }


def _drop_z(geometry: dict) -> dict:
    def strip(c):
        if isinstance(c, list) and c and isinstance(c[0], (int, float)):
            return c[:2]
        return [strip(x) for x in c] if isinstance(c, list) else c
    return {"type": geometry["type"], "coordinates": strip(geometry["coordinates"])}


class PlotStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def register(self, username: str, features: list[Any]) -> list[dict[str, Any]]:
        """Validate every feature and store them all, or none (RequestInvalid listing
        every problem)."""
        if not features:
            raise RequestInvalid([{"loc": ["body", "features"], "msg": "the FeatureCollection has no features"}])
        if len(features) > MAX_FEATURES_PER_REQUEST:
            msg = (f"{len(features):,} features; at most {MAX_FEATURES_PER_REQUEST:,} a request "
                   "(send larger sets in several requests)")
            raise RequestInvalid([{"loc": ["body", "features"], "msg": msg}], msg)
        errors, rows = [], []
        for i, f in enumerate(features):
            errs, row = plot_row(i, f)
            errors += errs
            rows.append(row)
        if errors:
            raise RequestInvalid(errors, f"{len(errors)} problem(s) in the plots; nothing was stored")
        now = utcnow()
        out = []
        with self.engine.begin() as con:
            for row in rows:
                warnings = row.pop("warnings")
                rec = {**row, "plot_id": str(uuid.uuid4()), "username": username, "created_at": now, "updated_at": now}
                con.execute(plots.insert().values(**rec))
                out.append({**rec, "warnings": warnings})
        return out

    def get(self, username: str, plot_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as con:
            r = con.execute(sa.select(plots).where(plots.c.plot_id == plot_id, plots.c.username == username)).mappings().first()
        return dict(r) if r else None

    def get_many(self, username: str, plot_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The user's plots among ``plot_ids``, by id (others' and unknown ids left out)."""
        out: dict[str, dict] = {}
        with self.engine.connect() as con:
            for k in range(0, len(plot_ids), 500):
                chunk = plot_ids[k:k + 500]
                for r in row_dicts(con.execute(sa.select(plots).where(plots.c.plot_id.in_(chunk), plots.c.username == username))):
                    out[r["plot_id"]] = r
        return out

    def list(self, username: str, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        """(total, one page of the user's plots, newest first)."""
        return fetch_page(self.engine, plots, plots.c.username == username,
                          [plots.c.created_at.desc(), plots.c.plot_id], limit, offset)
