"""Job results for download, one function per export format: the EU information
system's geolocation file (GeoJSON, eu_geojson.py; a zip of several files when one would
break the per-statement limits), CSV (the per-plot table), GeoParquet (everything). Each
takes the job's response object (job_response.py), so every format carries the API's
numbers unchanged (the analysis object's own rounding), those of the job's published
analysis (job_store.py)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any, Callable

import shapely

from eudr_pipeline.core.intake import feature_plot_id
from eudr_pipeline.files import geoparquet_bytes
from eudr_pipeline.service.eu_geojson import GEOJSON_MEDIA_TYPE, EuGeojson, Limits, eu_geojson, producer_countries

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV injection: cells a spreadsheet would evaluate
MAX_HEADER_CHARS = 2000


@dataclass(frozen=True)
class Export:
    """An export's bytes, its media type and file extension, and what it reports."""

    content: bytes
    media_type: str
    extension: str
    warnings: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def headers(self) -> dict[str, str]:
        """X-Export-Errors (the plots left out, as a JSON list of plot ids, cut to
        MAX_HEADER_CHARS) and X-Export-Warnings (their count), when there are any."""
        out = {}
        if self.errors:
            ids = json.dumps([e["plot_id"] for e in self.errors])
            out["X-Export-Errors"] = ids if len(ids) <= MAX_HEADER_CHARS else ids[:MAX_HEADER_CHARS - 4] + ' ...'
        if self.warnings:
            out["X-Export-Warnings"] = str(len(self.warnings))
        return out


def export_geojson(resp: dict, limits: Limits = Limits(), include_unanalysed: bool = False) -> EuGeojson:
    """The EU information system's geolocation file(s) of the job (eu_geojson.py)."""
    return eu_geojson(resp["plots"], str(resp.get("job_id") or "plots"), limits, include_unanalysed)


CSV_COLUMNS = ["plot_id", "plot_name", "commodity", "country_code", "country_registered", "area_ha",
               "forest_area_2020", "forest_percentage_2020", "deforestation_total", "deforestation_total_jrc",
               "deforestation_percentage", "logging_area", "protected_area_overlap_ha", "indigenous_land_overlap_ha",
               "risk_level", "risk_reason", "analysis_end", "version", "status", "error"]


def _overlap(a: dict, block: str, summary: str) -> Any:
    return ((a.get(block) or {}).get(summary) or {}).get("total_overlap_area_ha")


def _row(p: dict, country_code: str | None) -> dict:
    a = p.get("analysis") or {}
    d = a.get("deforestation") or {}
    return {"plot_id": p["plot_id"], "plot_name": p.get("plot_name"), "commodity": a.get("commodity") or p.get("commodity"),
            "country_code": country_code, "country_registered": p.get("country"), "area_ha": p.get("area_ha"),
            "forest_area_2020": a.get("forest_area_2020"), "forest_percentage_2020": a.get("forest_percentage_2020"),
            "deforestation_total": d.get("total"), "deforestation_total_jrc": d.get("total_jrc"),
            "deforestation_percentage": a.get("deforestation_percentage"), "logging_area": a.get("logging_area"),
            "protected_area_overlap_ha": _overlap(a, "protected_areas", "protected_area_overlap_summary"),
            "indigenous_land_overlap_ha": _overlap(a, "indigenous_land", "indigenous_land_overlap_summary"),
            "risk_level": a.get("risk_level"), "risk_reason": a.get("risk_reason"), "analysis_end": a.get("analysis_end"),
            "version": a.get("version"), "status": p.get("status"), "error": p.get("error")}


def indicator_columns(resp: dict) -> list[str]:
    """The columns of the registry indicators the job's analyses have (layers/datasets.toml):
    ``<indicator>_ha`` and ``<indicator>_pct`` for each, in name order."""
    names = sorted({n for p in resp["plots"] for n in ((p.get("analysis") or {}).get("indicators") or {})})
    return [f"{n}_{unit}" for n in names for unit in ("ha", "pct")]


def _indicator_cells(p: dict, columns: list[str]) -> dict[str, Any]:
    found = (p.get("analysis") or {}).get("indicators") or {}
    out = {}
    for col in columns:
        name, unit = col.rsplit("_", 1)
        out[col] = (found.get(name) or {}).get("area_ha" if unit == "ha" else "percentage")
    return out


def rows(resp: dict) -> list[dict]:
    """The per-plot table: one row of CSV_COLUMNS (then the indicator columns) per plot,
    the country code as in the GeoJSON export (eu_geojson.producer_countries)."""
    codes = [code for code, _ in producer_countries(resp["plots"])]
    extra = indicator_columns(resp)
    return [_row(p, c) | _indicator_cells(p, extra) for p, c in zip(resp["plots"], codes)]


def csv_cell(value: Any) -> Any:
    """``value`` safe for a spreadsheet: a text starting with = + - @ tab or CR gets a
    leading single quote (so it is not evaluated as a formula); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def export_csv(resp: dict) -> str:
    """The per-plot table as CSV (UTF-8, header row, formula injection escaped)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS + indicator_columns(resp))
    w.writeheader()
    for r in rows(resp):
        w.writerow({k: csv_cell(v) for k, v in r.items()})
    return buf.getvalue()


def _geometry(p: dict) -> Any:
    try:
        geoms = [shapely.geometry.shape(f["geometry"]) for f in p.get("geojson_features") or []]
        return shapely.union_all(geoms) if geoms else None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, shapely.errors.GEOSException):
        return None


def export_parquet(resp: dict) -> bytes:
    """GeoParquet (files.py): the CSV columns, the registered plot geometry (the union of
    its features, points as points), the full analysis and the registered features as JSON."""
    table = rows(resp)
    columns: dict[str, list] = {c: [r[c] for r in table] for c in CSV_COLUMNS + indicator_columns(resp)}
    columns["analysis"] = [json.dumps(p.get("analysis") or {}, ensure_ascii=False) for p in resp["plots"]]
    columns["geojson_features"] = [json.dumps(p.get("geojson_features") or [], ensure_ascii=False) for p in resp["plots"]]
    return geoparquet_bytes([_geometry(p) for p in resp["plots"]], columns)


def _render_geojson(resp: dict, **options: Any) -> Export:
    out = export_geojson(resp, **options)
    return Export(out.content(), out.media_type, out.extension, out.warnings, out.errors)


@dataclass(frozen=True)
class ExportFormat:
    """media_type and extension of the usual file; ``render`` returns the Export, whose
    own media_type/extension say what was made (the geojson export may be a zip)."""

    media_type: str
    extension: str
    render: Callable[..., Export]


EXPORT_FORMATS = {
    "geojson": ExportFormat(GEOJSON_MEDIA_TYPE, "geojson", _render_geojson),
    "csv": ExportFormat("text/csv", "csv", lambda resp, **_: Export(export_csv(resp).encode(), "text/csv", "csv")),
    "parquet": ExportFormat("application/vnd.apache.parquet", "parquet",
                            lambda resp, **_: Export(export_parquet(resp), "application/vnd.apache.parquet", "parquet")),
}


def export_job(resp: dict, format: str, **options: Any) -> Export:
    """The job's response object in export ``format`` (a key of EXPORT_FORMATS).
    ``options`` go to the geojson export (limits: Limits, include_unanalysed: bool)."""
    return EXPORT_FORMATS[format].render(resp, **options)


def plots_from_results(features: list[Any], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Response-like plot dicts (job_response.py's shape, as the exports read them) from
    the input GeoJSON ``features`` and the PlotResult.to_json() dicts of their analysis
    (one per feature, in input order as core.analyze_plots returns them, or matched by
    plot_id): what `eudr analyze` needs to write any export format."""
    by_id = {str(r.get("plot_id")): r for r in results}
    out = []
    for i, f in enumerate(features):
        feature = f if isinstance(f, dict) else {}
        pid = feature_plot_id(feature, i)
        r = results[i] if i < len(results) and str(results[i].get("plot_id")) == pid else by_id.get(pid, {})
        props = feature.get("properties") if isinstance(feature.get("properties"), dict) else {}
        analysis = r.get("analysis") or {}
        status = "failed" if r.get("error") else ("done" if analysis else "pending")
        out.append({
            "plot_id": pid, "plot_name": props.get("plot_name"), "country": props.get("country"),
            "commodity": analysis.get("commodity") or props.get("commodity"), "area_ha": r.get("area_ha"),
            "status": status, "error": r.get("error"), "analysis": analysis,
            "geojson_features": [feature] if feature.get("geometry") else [],
            "additional_info": props.get("additional_info") if isinstance(props.get("additional_info"), dict) else {},
        })
    return out
