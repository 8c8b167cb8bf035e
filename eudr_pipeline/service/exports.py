"""Job results for download, one function per export format: EUDR/TRACES-ready
GeoJSON, CSV (the per-plot table), GeoParquet (everything). Each takes the job's
response object, so every format carries the API's numbers."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any, Callable

import shapely

from eudr_pipeline.files import geoparquet_bytes


def _round(coords: Any) -> Any:
    if isinstance(coords, (int, float)):
        return round(float(coords), 6)
    return [_round(c) for c in coords]


def export_geojson(resp: dict) -> dict:
    """A FeatureCollection, one feature per plot: EPSG:4326, [lon, lat], 6 decimals, the
    TRACES properties ProducerCountry, ProductionPlace, Area (ha), and the analysis."""
    feats = []
    for p in resp["plots"]:
        for f in p["geojson_features"]:
            g = f["geometry"]
            feats.append({"type": "Feature", "geometry": {"type": g["type"], "coordinates": _round(g["coordinates"])},
                          "properties": {"ProducerCountry": p.get("country"), "ProductionPlace": p.get("plot_name") or p["plot_id"],
                                         "Area": round(p["area_ha"], 4) if p.get("area_ha") is not None else None,
                                         "plot_id": p["plot_id"], "commodity": p.get("commodity"),
                                         "status": p.get("status"), "error": p.get("error"),
                                         "analysis": p.get("analysis") or {}}})
    return {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
            "job_id": resp["job_id"], "features": feats}


CSV_COLUMNS = ["plot_id", "plot_name", "country", "commodity", "status", "error", "area_ha", "forest_area_2020",
               "forest_percentage_2020", "deforestation_total", "deforestation_total_jrc", "deforestation_percentage",
               "logging_area", "protected_area_overlap_ha", "indigenous_land_overlap_ha", "risk_level", "risk_reason",
               "analysis_end", "version"]


def _row(p: dict) -> dict:
    a = p.get("analysis") or {}
    return {"plot_id": p["plot_id"], "plot_name": p.get("plot_name"), "country": p.get("country"),
            "commodity": p.get("commodity"), "status": p.get("status"), "error": p.get("error"), "area_ha": p.get("area_ha"),
            "forest_area_2020": a.get("forest_area_2020"), "forest_percentage_2020": a.get("forest_percentage_2020"),
            "deforestation_total": (a.get("deforestation") or {}).get("total"),
            "deforestation_total_jrc": (a.get("deforestation") or {}).get("total_jrc"),
            "deforestation_percentage": a.get("deforestation_percentage"), "logging_area": a.get("logging_area"),
            "protected_area_overlap_ha": ((a.get("protected_areas") or {}).get("protected_area_overlap_summary") or {}).get("total_overlap_area_ha"),
            "indigenous_land_overlap_ha": ((a.get("indigenous_land") or {}).get("indigenous_land_overlap_summary") or {}).get("total_overlap_area_ha"),
            "risk_level": a.get("risk_level"), "risk_reason": a.get("risk_reason"), "analysis_end": a.get("analysis_end"),
            "version": a.get("version")}


def export_csv(resp: dict) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    w.writeheader()
    for p in resp["plots"]:
        w.writerow(_row(p))
    return buf.getvalue()


def export_parquet(resp: dict) -> bytes:
    """GeoParquet (files.py): the CSV columns, the plot geometry and the full analysis as JSON."""
    geoms = [shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in p["geojson_features"]]) for p in resp["plots"]]
    rows = [_row(p) for p in resp["plots"]]
    columns: dict[str, list] = {c: [r[c] for r in rows] for c in CSV_COLUMNS}
    columns["analysis"] = [json.dumps(p.get("analysis") or {}, ensure_ascii=False) for p in resp["plots"]]
    return geoparquet_bytes(geoms, columns)


@dataclass(frozen=True)
class ExportFormat:
    media_type: str
    extension: str
    render: Callable[[dict], bytes]


EXPORT_FORMATS = {
    "geojson": ExportFormat("application/geo+json", "geojson",
                            lambda resp: json.dumps(export_geojson(resp), ensure_ascii=False).encode()),
    "csv": ExportFormat("text/csv", "csv", lambda resp: export_csv(resp).encode()),
    "parquet": ExportFormat("application/vnd.apache.parquet", "parquet", export_parquet),
}


def export_job(resp: dict, format: str) -> bytes:
    """The job's response object in export ``format`` (a key of EXPORT_FORMATS)."""
    return EXPORT_FORMATS[format].render(resp)
