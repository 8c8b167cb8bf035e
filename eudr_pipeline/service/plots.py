"""Plot registration: validation per analysis.md section 2, then one row per plot."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from eudr_pipeline.core.analysis import COMMODITIES
from eudr_pipeline.core.geometry import GeometryError, centroid_lonlat, geodesic_area_ha, parse_geometry
from eudr_pipeline.core.intake import IntakeError, parse_date
from eudr_pipeline.service.db import plots
from eudr_pipeline.service.jobs import utcnow

TEXT_FIELDS = ("plot_name", "country", "state", "notes")


class ValidationFailed(Exception):
    """Bad input: every problem as {"loc": [...], "msg": "..."}; nothing was stored."""

    def __init__(self, errors: list[dict[str, Any]], detail: str = "invalid request"):
        super().__init__(detail)
        self.errors = errors
        self.detail = detail


def _feature_errors(i: int, f: Any) -> tuple[list[dict], dict | None]:
    loc = ["body", "features", i]
    if not isinstance(f, dict) or f.get("type") != "Feature":
        return [{"loc": loc, "msg": f"feature {i}: not a GeoJSON Feature"}], None
    props = f.get("properties") or {}
    if not isinstance(props, dict):
        return [{"loc": loc + ["properties"], "msg": f"feature {i}: properties must be an object"}], None
    errors = []
    try:
        pg = parse_geometry(f.get("geometry"), props, f"feature {i}")
    except GeometryError as exc:
        errors.append({"loc": loc + ["geometry"], "msg": str(exc)})
        pg = None
    commodity = props.get("commodity")
    if commodity not in (None, "") and commodity not in COMMODITIES:
        errors.append({"loc": loc + ["properties", "commodity"],
                       "msg": f"feature {i}: commodity {commodity!r} is not one of {', '.join(COMMODITIES)}"})
    dates = []
    try:
        if props.get("harvest_date") not in (None, ""):
            dates.append(parse_date(props["harvest_date"], f"feature {i} harvest_date").isoformat())
        hd = props.get("harvest_dates")
        if hd not in (None, []):
            if not isinstance(hd, list):
                raise IntakeError(f"feature {i} harvest_dates: must be a list of YYYY-MM-DD dates")
            dates += [parse_date(d, f"feature {i} harvest_dates[{k}]").isoformat() for k, d in enumerate(hd)]
    except IntakeError as exc:
        errors.append({"loc": loc + ["properties"], "msg": str(exc)})
    for k in TEXT_FIELDS:
        if props.get(k) is not None and not isinstance(props[k], str):
            errors.append({"loc": loc + ["properties", k], "msg": f"feature {i}: {k} must be a string"})
    info = props.get("additional_info")
    if info is not None and (not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values())):
        errors.append({"loc": loc + ["properties", "additional_info"],
                       "msg": f"feature {i}: additional_info must map strings to strings"})
    if errors or pg is None:
        return errors, None
    lon, lat = centroid_lonlat(pg.geometry)
    return [], {
        "plot_name": props.get("plot_name"), "commodity": commodity or None,
        "harvest_dates": sorted(set(dates)), "country": props.get("country"), "state": props.get("state"),
        "notes": props.get("notes"), "additional_info": info or {}, "area_ha": round(geodesic_area_ha(pg.geometry), 6),
        "lat": lat, "lon": lon, "features": [{"type": "Feature", "geometry": _drop_z(f["geometry"]), "properties": props}],
        "warnings": pg.warnings,
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

    def register(self, username: str, body: Any) -> list[dict[str, Any]]:
        """Validate every feature of a FeatureCollection and store them all, or none."""
        if not isinstance(body, dict) or body.get("type") != "FeatureCollection" or not isinstance(body.get("features"), list):
            raise ValidationFailed([{"loc": ["body"], "msg": "expected a GeoJSON FeatureCollection with a 'features' list"}])
        if not body["features"]:
            raise ValidationFailed([{"loc": ["body", "features"], "msg": "the FeatureCollection has no features"}])
        errors, rows = [], []
        for i, f in enumerate(body["features"]):
            errs, row = _feature_errors(i, f)
            errors += errs
            if row:
                rows.append(row)
        if errors:
            raise ValidationFailed(errors, f"{len(errors)} problem(s) in the plots; nothing was stored")
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
        out: dict[str, dict] = {}
        with self.engine.connect() as con:
            for k in range(0, len(plot_ids), 500):
                chunk = plot_ids[k:k + 500]
                for r in con.execute(sa.select(plots).where(plots.c.plot_id.in_(chunk), plots.c.username == username)).mappings():
                    out[r["plot_id"]] = dict(r)
        return out

    def list(self, username: str, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        with self.engine.connect() as con:
            total = con.execute(sa.select(sa.func.count()).select_from(plots).where(plots.c.username == username)).scalar()
            rows = con.execute(sa.select(plots).where(plots.c.username == username)
                               .order_by(plots.c.created_at.desc(), plots.c.plot_id).limit(limit).offset(offset)).mappings()
            return int(total), [dict(r) for r in rows]
