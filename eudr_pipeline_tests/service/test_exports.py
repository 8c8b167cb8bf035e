"""The exports: the EU information system's geolocation file checked by a validator
written from the Commission's documents (independent of the exporter), the country
lookup, hole splitting, rounding, the split into a zip; CSV escaping; every format
carrying the analysis object's numbers.

The validator follows "EUDR GeoJson File Description" v1.3 (18 Feb 2025) sections 3 and 6,
"EUDR Information System - Operator API Reference" v1.0 (29 May 2026) sections 9 and 10.3,
"EUDR system - API and UI validation rules" v1.3 and the CF4 v1.4 error codes."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import zipfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

import geopandas as gpd
import numpy as np
import pycountry
import pytest
import shapely
from shapely.geometry import Polygon, shape

from eudr_pipeline.core.analysis import AnalysisOptions, analyze_plots
from eudr_pipeline.core.geometry import geodesic_areas_ha
from eudr_pipeline.core.intake import request_from_feature
from eudr_pipeline.demo import demo_plots, write_demo_sources
from eudr_pipeline.layers.countries import country_code, country_layer, country_of
from eudr_pipeline.layers.source_directory import open_layer_set
from eudr_pipeline.service.eu_geojson import Limits, cut_longitudes, eu_geojson
from eudr_pipeline.service.exports import (CSV_COLUMNS, export_csv, export_job, export_parquet, plots_from_results)
from eudr_pipeline.service.plots import plot_row

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "plots"
EU_KEYS = ("ProducerName", "ProducerCountry", "ProductionPlace", "Area")
ACCEPTED_TYPES = {"Point", "MultiPoint", "Polygon", "MultiPolygon", "GeometryCollection"}


# ----------------------------------------------------------------- the validator

def _position_problems(pos, where: str) -> list[str]:
    if not isinstance(pos, list) or len(pos) != 2 or not all(isinstance(v, Decimal) for v in pos):
        return [f"{where}: a position must be [lon, lat] numbers, got {pos!r}"]
    out = []
    lon, lat = pos
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        out.append(f"{where}: {pos} outside [-180, 180] x [-90, 90] (coordinates are [lon, lat])")
    out += [f"{where}: {v} has more than 6 decimals" for v in pos if -v.as_tuple().exponent > 6]
    return out


def _ring_problems(ring, where: str) -> list[str]:
    if not isinstance(ring, list) or len(ring) < 4:
        return [f"{where}: a ring needs at least 4 positions"]
    out = [p for k, pos in enumerate(ring) for p in _position_problems(pos, f"{where} position {k}")]
    if out:
        return out
    if ring[0] != ring[-1]:
        out.append(f"{where}: open ring (first position != last)")
    out += [f"{where}: duplicate consecutive positions at {k}" for k in range(1, len(ring)) if ring[k] == ring[k - 1]]
    return out


def _polygon_problems(coords, where: str) -> list[str]:
    if not isinstance(coords, list) or not coords:
        return [f"{where}: empty polygon"]
    out = [p for k, r in enumerate(coords) for p in _ring_problems(r, f"{where} ring {k}")]
    if len(coords) > 1:
        out.append(f"{where}: a polygon with {len(coords) - 1} hole(s) (holes are not supported)")
    if not out:
        xy = np.array(coords[0], dtype=float)
        poly = Polygon(xy)
        if np.linalg.matrix_rank(xy[1:] - xy[0], tol=1e-12) < 2:
            out.append(f"{where}: a straight line, not an area")
        elif not poly.is_valid:
            out.append(f"{where}: invalid polygon ({shapely.is_valid_reason(poly)})")
    return out


def geometry_problems(g, where: str) -> list[str]:
    """The EU rules on one geometry: accepted types, [lon, lat], ranges, 6 decimals,
    closed rings of >= 4 positions without consecutive duplicates, no holes, no crossing."""
    if not isinstance(g, dict) or g.get("type") not in ACCEPTED_TYPES:
        return [f"{where}: geometry type {(g or {}).get('type')!r} is not accepted"]
    t, c = g["type"], g.get("coordinates")
    if t == "Point":
        return _position_problems(c, f"{where} point")  # a plain array, not an array of arrays
    if t == "MultiPoint":
        return [p for k, pos in enumerate(c or []) for p in _position_problems(pos, f"{where} point {k}")] + (
            [] if len(c or []) >= 2 else [f"{where}: a MultiPoint has two or more points"])
    if t == "Polygon":
        return _polygon_problems(c, where)
    if t == "MultiPolygon":
        out = [p for k, poly in enumerate(c or []) for p in _polygon_problems(poly, f"{where} polygon {k}")]
        if len(c or []) < 2:
            out.append(f"{where}: a MultiPolygon has two or more polygons")
        if not out and not shape(json.loads(json.dumps(g, default=float))).is_valid:
            out.append(f"{where}: the polygons of the MultiPolygon overlap")
        return out
    geoms = g.get("geometries") or []
    return [p for k, sub in enumerate(geoms) for p in geometry_problems(sub, f"{where} geometry {k}")] + (
        [] if len(geoms) >= 2 else [f"{where}: a GeometryCollection has two or more geometries"])


def property_problems(props, gtype: str, where: str, min_point_ha: float, max_point_ha: float) -> list[str]:
    """Exact case of the four EU properties, ProducerCountry alpha-2, Area a number (for
    points within the limits), nothing nested."""
    if not isinstance(props, dict):
        return [f"{where}: properties must be an object"]
    out = [f"{where}: property {k!r} should be spelled {e!r}" for k in props for e in EU_KEYS
           if k.casefold() == e.casefold() and k != e]
    out += [f"{where}: property {k!r} is nested" for k, v in props.items() if isinstance(v, (dict, list))]
    code = props.get("ProducerCountry")
    if not (isinstance(code, str) and len(code) == 2 and (pycountry.countries.get(alpha_2=code) or code == "XK")):
        out.append(f"{where}: ProducerCountry {code!r} is not an ISO 3166-1 alpha-2 code")
    for k in ("ProducerName", "ProductionPlace"):
        if k in props and not isinstance(props[k], str):
            out.append(f"{where}: {k} must be a string")
    area = props.get("Area")
    if area is not None and (not isinstance(area, Decimal) or area < 0):
        out.append(f"{where}: Area {area!r} is not a non-negative number (a string reads as 0)")
    elif gtype == "Point" and (area is None or not min_point_ha <= area <= max_point_ha):
        out.append(f"{where}: point Area {area} not within [{min_point_ha}, {max_point_ha}] ha")
    return out


def eu_geolocation_problems(data: bytes, max_bytes: int = 25_000_000, max_per_commodity: int = 1000,
                            max_per_statement: int = 10_000, min_point_ha: float = 0.1,
                            max_point_ha: float = 4.0) -> list[str]:
    """Every way ``data`` breaks the EU information system's geolocation file rules."""
    out = [f"file of {len(data)} bytes over {max_bytes}"] if len(data) > max_bytes else []
    doc = json.loads(data, parse_float=Decimal, parse_int=Decimal)  # Decimal keeps the digits as written
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        return out + ["not a FeatureCollection"]
    out += ["a crs member (RFC 7946: WGS84 only, no crs)"] if "crs" in doc else []
    producers: set = set()
    for k, f in enumerate(doc["features"]):
        where = f"feature {k}"
        if not isinstance(f, dict) or f.get("type") != "Feature":
            out.append(f"{where}: not a Feature")
            continue
        out += geometry_problems(f.get("geometry"), where)
        props = f.get("properties") or {}
        out += property_problems(props, (f.get("geometry") or {}).get("type"), where, min_point_ha, max_point_ha)
        producers.add((props.get("commodity"), props.get("ProducerName"), props.get("ProducerCountry")))
    per_commodity = Counter(c for c, _, _ in producers)
    out += [f"{n} producers of {c} (over {max_per_commodity})" for c, n in per_commodity.items() if n > max_per_commodity]
    out += [f"{len(producers)} producers (over {max_per_statement})"] if len(producers) > max_per_statement else []
    return out


# ----------------------------------------------------------------- plots

@pytest.fixture(scope="module")
def demo_results(tmp_path_factory) -> list[dict]:
    """The core analysis of the demo plots on the demo layers (PlotResult.to_json())."""
    layers = open_layer_set(write_demo_sources(tmp_path_factory.mktemp("demo")))
    try:
        feats = demo_plots()["features"]
        requests = [request_from_feature(f, i, today=dt.date(2025, 1, 1)) for i, f in enumerate(feats)]
        return [r.to_json() for r in analyze_plots(requests, layers, AnalysisOptions())]
    finally:
        layers.close()


def registered(features: list[dict], results: list[dict] | None = None, prefix: str = "") -> list[dict]:
    """Response-like plots (job_response.py's keys) of ``features`` registered as the API
    does (plots.plot_row), with their analysis results when given, else a made-up one."""
    by_id = {r["plot_id"]: r for r in results or []}
    out = []
    for i, f in enumerate(features):
        errors, row = plot_row(i, f)
        if row is None:
            continue
        pid = str((f.get("properties") or {}).get("plot_id") or f"{prefix}{i}")
        r = by_id.get(pid, {"area_ha": row["area_ha"], "analysis": {
            "risk_level": "Low", "forest_area_2020": 1.25, "deforestation": {"total": 0.5, "total_jrc": 0.25},
            "analysis_end": "2024-12-31", "version": "test"}})
        out.append({"plot_id": pid, "plot_name": row["plot_name"], "country": row["country"],
                    "commodity": row["commodity"], "area_ha": row["area_ha"], "status": "failed" if r.get("error") else "done",
                    "error": r.get("error"), "analysis": r.get("analysis") or {}, "geojson_features": row["features"],
                    "additional_info": row["additional_info"]})
    return out


def fixture_features(name: str) -> list[dict]:
    return json.loads((FIXTURES / f"{name}.geojson").read_text())["features"]


def geojson_doc(export) -> dict:
    assert export.media_type == "application/geo+json" and len(export.files) == 1
    return json.loads(export.content())


def by_plot(doc: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in doc["features"]:
        out.setdefault(f["properties"]["plot_id"], []).append(f)
    return out


def box(w, s, e, n) -> list[list[float]]:
    return [[w, s], [e, s], [e, n], [w, n], [w, s]]


def feature(geometry: dict, **props) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


# ----------------------------------------------------------------- the geolocation file

def test_demo_plots_export_meets_the_eu_rules(demo_results):
    plots = registered(demo_plots()["features"], demo_results)
    out = eu_geojson(plots, "demo")
    content = out.content()
    assert eu_geolocation_problems(content) == []
    doc = json.loads(content)
    got = by_plot(doc)
    assert set(got) == {f"demo-0{k}" for k in range(1, 9)}  # demo-09 refused at registration, demo-10 failed
    assert [e["plot_id"] for e in out.errors] == ["demo-10"] and "no jrc_gfc2020 tile" in out.errors[0]["error"]
    assert {f["properties"]["ProducerCountry"] for f in doc["features"]} == {"CI"}
    assert got["demo-03"][0]["geometry"] == {"type": "Point", "coordinates": [-5.27, 6.812]}
    assert got["demo-03"][0]["properties"]["Area"] == 3.0 and got["demo-08"][0]["properties"]["Area"] == 1.0
    assert got["demo-07"][0]["geometry"]["type"] == "MultiPolygon"
    assert [f["properties"]["part"] for f in got["demo-04"]] == ["1/2", "2/2"]
    first = got["demo-01"][0]["properties"]
    assert list(first)[:4] == ["ProducerCountry", "ProductionPlace", "Area", "plot_id"]
    assert first["ProductionPlace"] == "Loss in 2022" and first["risk_level"] == "High"
    assert all(not isinstance(v, (dict, list)) for f in doc["features"] for v in f["properties"].values())
    assert "crs" not in doc and "analysis" not in first


def test_real_plots_export_meets_the_eu_rules():
    for name, countries in (("brazil_single_polygon", {"BR"}), ("indonesia_kalimantan_3", {"ID"}),
                            ("worldwide_150_multipolygons", None)):
        out = eu_geojson(registered(fixture_features(name), prefix=f"{name}-"), name)
        assert out.errors == [] and out.warnings == []
        content = out.content()
        assert eu_geolocation_problems(content) == [], name
        doc = json.loads(content)
        if countries:
            assert {f["properties"]["ProducerCountry"] for f in doc["features"]} == countries
    assert len(doc["features"]) == 153  # 150 plots, three with a hole written as two pieces each
    assert {"BR", "CI", "GH", "ID", "NI", "VN", "PE", "CM"} <= {f["properties"]["ProducerCountry"] for f in doc["features"]}


def test_holes_are_split_into_pieces_covering_the_same_area():
    donut = [box(10.0, 10.0, 10.01, 10.01)] + [box(*b)[::-1] for b in (
        (10.001, 10.001, 10.003, 10.003), (10.002, 10.006, 10.004, 10.008),  # overlapping lon ranges: one cut
        (10.0065, 10.002, 10.0075, 10.009), (10.008, 10.0005, 10.0095, 10.0015))]
    irregular = shapely.Polygon([(20 + 0.01 * np.cos(a), 5 + 0.008 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 40)[:-1]],
                                holes=[[(20.001 + 0.002 * np.cos(a), 5.001 + 0.002 * np.sin(a))
                                        for a in np.linspace(0, 2 * np.pi, 17)[:-1]][::-1]])
    irregular = shapely.set_precision(irregular, 1e-9)  # 9 decimals, as users send them
    holed_part = [[box(-47.0, -15.0, -46.99, -14.99), box(-46.995, -14.996, -46.993, -14.994)[::-1]],
                  [box(-46.98, -15.0, -46.97, -14.99)]]
    feats = [feature({"type": "Polygon", "coordinates": donut}, plot_id="donut"),
             feature(shapely.geometry.mapping(irregular), plot_id="irregular"),
             feature({"type": "MultiPolygon", "coordinates": holed_part}, plot_id="multi")]
    feats = json.loads(json.dumps(feats))  # tuples to lists
    out = eu_geojson(registered(feats), "holes")
    assert out.errors == [], out.errors
    content = out.content()
    assert eu_geolocation_problems(content) == []
    got = by_plot(json.loads(content))
    assert len(got["donut"]) == 4  # 4 holes, 3 cuts
    for f in feats:
        original = shape(f["geometry"])
        pieces = [shape(p["geometry"]) for p in got[f["properties"]["plot_id"]]]
        assert all(not p.interiors for q in pieces for p in shapely.get_parts(q))
        assert sum(p.area for p in pieces) - shapely.union_all(pieces).area < 1e-12  # no overlap
        geo = geodesic_areas_ha(np.array([original, *pieces], dtype=object))
        assert abs(geo[1:].sum() - geo[0]) <= 1e-4 * geo[0], (f["properties"]["plot_id"], geo[0], geo[1:].sum())
        assert shapely.union_all(pieces).symmetric_difference(original).area <= 1e-4 * original.area
        assert sum(p["properties"]["Area"] for p in got[f["properties"]["plot_id"]]) == pytest.approx(geo[0], rel=1e-4)


def test_demo_hole_keeps_its_area_to_a_hundredth_of_a_percent():
    [plot] = registered([f for f in demo_plots()["features"] if f["properties"]["plot_id"] == "demo-04"])
    doc = json.loads(eu_geojson([plot]).content())
    pieces = [shape(f["geometry"]) for f in doc["features"]]
    assert len(pieces) == 2 and all(p.geom_type == "Polygon" and not p.interiors for p in pieces)
    total = geodesic_areas_ha(np.array(pieces, dtype=object)).sum()
    assert abs(total - plot["area_ha"]) <= 1e-4 * plot["area_ha"]


def test_cuts_stab_every_hole_with_the_fewest_meridians():
    holes = [(0.0, 2.0), (1.0, 3.0), (2.5, 4.0), (5.0, 6.0)]
    cuts = cut_longitudes(holes)
    assert len(cuts) == 3 and all(any(lo < c < hi for c in cuts) for lo, hi in holes)
    assert cut_longitudes([]) == []


def test_nine_decimals_rounding_leaves_no_duplicates_and_refuses_what_it_breaks():
    # the document's example (section 6 item 7): two vertices equal once rounded to 6 decimals
    ring = [[144.2567071234, -5.8227391234], [144.2567074567, -5.8227394567], [144.2667071234, -5.8227391234],
            [144.2667071234, -5.8127391234], [144.2567071234, -5.8127391234], [144.2567071234, -5.8227391234]]
    notch = [[10.0, 10.0], [10.001, 10.0], [10.001, 10.001], [10.0006, 10.001], [10.0005, 10.0000004],
             [10.0004, 10.001], [10.0, 10.001], [10.0, 10.0]]  # the notch's tip touches the bottom edge once rounded
    tiny = [[10.1, 10.1], [10.1000001, 10.1], [10.1000001, 10.1000001], [10.1, 10.1]]
    feats = [feature({"type": "Polygon", "coordinates": [ring]}, plot_id="png"),
             feature({"type": "Polygon", "coordinates": [notch]}, plot_id="notch"),
             feature({"type": "Polygon", "coordinates": [tiny]}, plot_id="tiny")]
    plots = registered(feats)
    assert [p["plot_id"] for p in plots] == ["png", "notch", "tiny"]  # all valid as sent
    out = eu_geojson(plots, "rounding")
    content = out.content()
    assert eu_geolocation_problems(content) == []
    [png] = json.loads(content)["features"]
    assert png["properties"]["ProducerCountry"] == "PG"
    assert png["geometry"]["coordinates"][0][:2] == [[144.256707, -5.822739], [144.266707, -5.822739]]
    assert len(png["geometry"]["coordinates"][0]) == 5
    errors = {e["plot_id"]: e["error"] for e in out.errors}
    assert set(errors) == {"notch", "tiny"}
    assert "invalid after rounding" in errors["notch"] and "after rounding to 6 decimals" in errors["tiny"]


def test_a_point_below_the_stricter_minimum_is_written_as_its_circle():
    feats = [feature({"type": "Point", "coordinates": [-5.27, 6.812]}, plot_id="small", point_ha=0.05)]
    out = eu_geojson(registered(feats))
    [f] = json.loads(out.content())["features"]
    assert f["geometry"]["type"] == "Polygon" and f["properties"]["Area"] == 0.05
    assert geodesic_areas_ha(np.array([shape(f["geometry"])], dtype=object))[0] == pytest.approx(0.05, rel=1e-3)
    assert len(out.warnings) == 1 and "0.05 ha" in out.warnings[0]
    assert eu_geolocation_problems(out.content()) == []


def test_round_trip_through_geopandas(tmp_path):
    plots = registered(demo_plots()["features"]) + registered(fixture_features("indonesia_kalimantan_3"), prefix="id-")
    path = tmp_path / "export.geojson"
    path.write_bytes(eu_geojson(plots).content())
    frame = gpd.read_file(path)
    assert frame.crs.to_epsg() == 4326
    assert len(frame) == len(plots) + 1  # the demo's hole: two pieces
    assert {"ProducerCountry", "ProductionPlace", "Area", "plot_id", "risk_level"} <= set(frame.columns)
    assert set(frame.geom_type) == {"Polygon", "Point", "MultiPolygon"}
    assert frame.is_valid.all()


# ----------------------------------------------------------------- countries

def test_registered_country_names_and_codes():
    for text in ("Côte d'Ivoire", "Cote d Ivoire", "COTE D’IVOIRE", "Ivory Coast", "CI", "CIV", "384",
                 "Costa de Marfil", "Elfenbeinküste"):
        assert country_code(text) == "CI", text
    assert [country_code(t) for t in ("Brasil", "Brazil", "BRA", "Viet Nam", "Vietnam", "Perú", "DR Congo")] == [
        "BR", "BR", "BR", "VN", "VN", "PE", "CD"]
    assert [country_code(t) for t in ("xx", "Narnia", "", None, "Korea")] == [None] * 5


def test_country_layer_fixes_natural_earths_missing_codes():
    points = [shapely.Point(2.35, 48.85), shapely.Point(10.75, 59.91), shapely.Point(-5.28, 6.82),
              shapely.Point(-47.9, -15.8), shapely.Point(-30.0, 0.0), None]
    assert country_of(points) == ["FR", "NO", "CI", "BR", None, None]
    codes = country_layer().codes
    assert "-99" not in set(codes) and {"FR", "NO"} <= set(codes)


def test_a_plot_without_a_country_gets_the_one_it_lies_in():
    feats = copy.deepcopy(demo_plots()["features"][:8])
    for f in feats:
        del f["properties"]["country"]
    brazil = fixture_features("brazil_single_polygon")
    out = eu_geojson(registered(feats) + registered(brazil, prefix="br-"))
    doc = json.loads(out.content())
    countries = {f["properties"]["plot_id"]: f["properties"]["ProducerCountry"] for f in doc["features"]}
    assert countries == {**{f"demo-0{k}": "CI" for k in range(1, 9)}, "br-0": "BR"}
    assert out.warnings == [] and eu_geolocation_problems(out.content()) == []


def test_a_registered_country_that_disagrees_with_the_location_warns():
    feats = copy.deepcopy(demo_plots()["features"][:2])
    feats[0]["properties"]["country"] = "Ghana"
    feats[1]["properties"]["country"] = "Narnia"
    layer = country_layer()
    ci, gh = (layer.geoms[layer.codes == c][0] for c in ("CI", "GH"))
    spot = ci.intersection(gh.buffer(0.01)).representative_point()  # in CI by the layer, within 0.01 deg of GH
    w, s = round(spot.x, 6), round(spot.y, 6)
    feats.append(feature({"type": "Polygon", "coordinates": [box(w, s, w + 0.0005, s + 0.0005)]},
                         plot_id="border", country="GH"))
    assert country_of([shape(feats[2]["geometry"])]) == ["CI"]
    out = eu_geojson(registered(feats))
    countries = {f["properties"]["plot_id"]: f["properties"]["ProducerCountry"] for f in json.loads(out.content())["features"]}
    assert countries == {"demo-01": "CI", "demo-02": "CI", "border": "GH"}
    assert len(out.warnings) == 3
    assert "plot demo-01 (Loss in 2022)" in out.warnings[0] and "lies in CI" in out.warnings[0] and "'Ghana'" in out.warnings[0]
    assert "'Narnia' is not a country we know" in out.warnings[1]
    assert "plot border" in out.warnings[2] and "GH kept" in out.warnings[2]


def test_a_plot_with_no_country_anywhere_is_refused():
    feats = [feature({"type": "Polygon", "coordinates": [box(-30.0, 0.0, -29.999, 0.001)]}, plot_id="sea")]
    out = eu_geojson(registered(feats))
    assert json.loads(out.content())["features"] == []
    assert out.errors[0]["plot_id"] == "sea" and "no country" in out.errors[0]["error"]


# ----------------------------------------------------------------- failed plots, producers

def test_failed_plots_are_left_out_unless_asked_for(demo_results):
    plots = plots_from_results(demo_plots()["features"], demo_results)
    assert [p["status"] for p in plots].count("failed") == 2
    default = eu_geojson(plots)
    assert sorted(e["plot_id"] for e in default.errors) == ["demo-09", "demo-10"]
    everything = eu_geojson(plots, include_unanalysed=True)
    assert [e["plot_id"] for e in everything.errors] == ["demo-09"]  # self-intersecting: refused, never written
    got = by_plot(json.loads(everything.content()))
    assert got["demo-10"][0]["properties"]["analysis_status"] == "failed"
    assert "no jrc_gfc2020 tile" in got["demo-10"][0]["properties"]["analysis_error"]
    assert eu_geolocation_problems(everything.content()) == []


def test_producer_name_from_additional_info_or_properties():
    feats = demo_plots()["features"][:3]
    feats[0]["properties"]["additional_info"] = {"ProducerName": "Coopérative Kouadio"}
    feats[1]["properties"]["producer_name"] = "Awa Traoré"
    got = by_plot(json.loads(eu_geojson(registered(feats)).content()))
    assert got["demo-01"][0]["properties"]["ProducerName"] == "Coopérative Kouadio"
    assert got["demo-02"][0]["properties"]["ProducerName"] == "Awa Traoré"
    assert "ProducerName" not in got["demo-03"][0]["properties"]


# ----------------------------------------------------------------- limits

def test_a_file_over_the_limits_is_split_into_a_zip():
    plots = registered(fixture_features("worldwide_150_multipolygons"), prefix="w-")
    for k, p in enumerate(plots):
        p["additional_info"] = {"ProducerName": f"producer {k % 40}"}
        p["commodity"] = ("cocoa", "coffee")[k % 2]
    whole = eu_geojson(plots, "job")
    assert not whole.is_zip and eu_geolocation_problems(whole.content()) == []
    limits = Limits(max_bytes=len(whole.content()) // 3, max_producers_per_commodity=15, max_producers_per_statement=25)
    out = export_job({"job_id": "job", "plots": plots}, "geojson", limits=limits)
    assert out.media_type == "application/zip" and out.extension == "zip"
    with zipfile.ZipFile(io.BytesIO(out.content)) as z:
        names = z.namelist()
        files = {n: z.read(n) for n in names if n.endswith(".geojson")}
        report = json.loads(z.read("export_report.json"))
    assert len(files) >= 4 and names[0] == f"job_01_of_{len(files):02d}.geojson"
    seen = []
    for name, data in files.items():
        assert eu_geolocation_problems(data, max_bytes=limits.max_bytes, max_per_commodity=15,
                                       max_per_statement=25) == [], name
        ids = {f["properties"]["plot_id"] for f in json.loads(data)["features"]}
        seen += sorted(ids)
    assert sorted(seen) == sorted(p["plot_id"] for p in plots)  # every plot once, kept whole
    assert [f["name"] for f in report["files"]] == list(files) and report["errors"] == []


def test_the_real_producer_limit_splits_at_1000_producers():
    feats = [feature({"type": "Point", "coordinates": [-5.3 + 0.0001 * (k % 100), 6.8 + 0.0001 * (k // 100)]},
                     plot_id=f"p{k}", country="CI", commodity="cocoa", additional_info={"ProducerName": f"farmer {k}"})
             for k in range(1001)]
    out = eu_geojson(registered(feats), "farms")
    assert out.is_zip and len(out.files) == 2
    counts = [len(json.loads(b)["features"]) for _, b in out.files]
    assert counts == [1000, 1]
    assert all(eu_geolocation_problems(b) == [] for _, b in out.files)
    assert eu_geolocation_problems(out.files[0][1], max_per_commodity=999) == ["1000 producers of cocoa (over 999)"]


# ----------------------------------------------------------------- CSV, parquet, numbers

def test_csv_escapes_formula_injection_and_keeps_numbers():
    feats = demo_plots()["features"][:1]
    [plot] = registered(feats)
    cells = ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd", "plain", "a=b"]
    resp = {"job_id": "j", "plots": [{**plot, "plot_id": f"p{k}", "plot_name": c, "error": c,
                                      "analysis": {**plot["analysis"], "logging_area": -0.5, "risk_reason": c}}
                                     for k, c in enumerate(cells)]}
    table = list(csv.DictReader(io.StringIO(export_csv(resp))))
    assert list(table[0]) == CSV_COLUMNS
    for row, cell in zip(table, cells):
        expected = cell if cell in ("plain", "a=b") else "'" + cell
        assert row["plot_name"] == row["error"] == row["risk_reason"] == expected
        assert row["logging_area"] == "-0.5" and row["country_code"] == "CI"  # a number stays a number


def test_every_format_carries_the_analysis_numbers(demo_results):
    plots = registered(demo_plots()["features"], demo_results)
    resp = {"job_id": "demo", "plots": plots}
    table = {r["plot_id"]: r for r in csv.DictReader(io.StringIO(export_csv(resp)))}
    frame = gpd.read_parquet(io.BytesIO(export_parquet(resp))).set_index("plot_id")
    assert frame.crs.to_epsg() == 4326
    got = by_plot(json.loads(export_job(resp, "geojson").content))
    for p in plots:
        a = p["analysis"]
        if p["status"] != "done":
            continue
        expected = {"area_ha": p["area_ha"], "forest_area_2020": a["forest_area_2020"],
                    "deforestation_total": a["deforestation"]["total"],
                    "deforestation_total_jrc": a["deforestation"]["total_jrc"],
                    "protected_area_overlap_ha": a["protected_areas"]["protected_area_overlap_summary"]["total_overlap_area_ha"],
                    "indigenous_land_overlap_ha": a["indigenous_land"]["indigenous_land_overlap_summary"]["total_overlap_area_ha"]}
        for col, value in expected.items():
            assert float(table[p["plot_id"]][col]) == value and frame.loc[p["plot_id"], col] == value, (p["plot_id"], col)
        assert table[p["plot_id"]]["risk_level"] == frame.loc[p["plot_id"], "risk_level"] == a["risk_level"]
        assert json.loads(frame.loc[p["plot_id"], "analysis"]) == a
        props = got[p["plot_id"]][0]["properties"]
        assert (props["forest_2020_ha"], props["loss_after_2020_ha"], props["loss_after_2020_jrc_ha"]) == (
            a["forest_area_2020"], a["deforestation"]["total"], a["deforestation"]["total_jrc"])
        assert props["plot_area_ha"] == p["area_ha"] and props["analysis_version"] == a["version"]
        assert props["logging_after_2020_ha"] == a["logging_area"] and props["risk_level"] == a["risk_level"]
        registered_feature = p["geojson_features"][0]
        if registered_feature["geometry"]["type"] == "Point":
            assert props["Area"] == registered_feature["properties"].get("point_ha", 1.0) == p["area_ha"]
        elif len(got[p["plot_id"]]) == 1:
            assert props["Area"] == p["area_ha"]


def test_plots_from_results_feed_every_format(demo_results):
    plots = plots_from_results(demo_plots()["features"], demo_results)
    assert [p["plot_id"] for p in plots] == [f"demo-{k:02d}" for k in range(1, 11)]
    assert plots[0]["area_ha"] == demo_results[0]["area_ha"] and plots[0]["analysis"] == demo_results[0]["analysis"]
    assert plots[0]["commodity"] == "cocoa" and plots[1]["commodity"] == "coffee"
    resp = {"job_id": "cli", "plots": plots}
    for fmt, media in (("geojson", "application/geo+json"), ("csv", "text/csv"),
                       ("parquet", "application/vnd.apache.parquet")):
        out = export_job(resp, fmt)
        assert out.media_type == media and out.content
    assert eu_geolocation_problems(export_job(resp, "geojson").content) == []


def test_the_export_endpoint_sets_media_type_filename_and_errors(monkeypatch):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from eudr_pipeline.service import deps
    from eudr_pipeline.service.routers import results

    plots = registered(fixture_features("worldwide_150_multipolygons"), prefix="w-")
    plots[0] = {**plots[0], "status": "failed", "error": "no tile"}
    resp = {"job_id": "j1", "plots": plots}

    class State:
        def job_response(self, job):
            return resp

    monkeypatch.setattr(results, "owned_job", lambda state, user, job_id: {"job_id": job_id})
    app = FastAPI()
    app.include_router(results.router)
    app.dependency_overrides[deps.get_state] = State
    app.dependency_overrides[deps.current_user] = lambda: "ann"
    with TestClient(app) as client:
        r = client.get("/jobs/j1/export", params={"format": "geojson"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
        assert r.headers["content-disposition"] == 'attachment; filename="j1.geojson"'
        assert json.loads(r.headers["x-export-errors"]) == ["w-0"]
        assert eu_geolocation_problems(r.content) == []
        assert client.get("/jobs/j1/export", params={"format": "geojson", "include_unanalysed": True}).headers.get(
            "x-export-errors") is None
        r = client.get("/jobs/j1/export", params={"format": "csv"})
        assert r.headers["content-type"].startswith("text/csv") and r.text.startswith("plot_id,plot_name")
    from eudr_pipeline.service import exports

    small = Limits(max_bytes=100_000)
    monkeypatch.setattr(exports, "export_geojson", lambda resp, **kw: eu_geojson(resp["plots"], resp["job_id"], small))
    with TestClient(app) as client:
        r = client.get("/jobs/j1/export", params={"format": "geojson"})
        assert r.headers["content-type"] == "application/zip"
        assert r.headers["content-disposition"] == 'attachment; filename="j1.zip"'
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            parts = [n for n in z.namelist() if n.endswith(".geojson")]
            assert len(parts) >= 2 and "export_report.json" in z.namelist()
            assert all(eu_geolocation_problems(z.read(n), max_bytes=100_000) == [] for n in parts)


def test_the_validator_catches_what_the_documents_list():
    good = {"type": "Feature", "properties": {"ProducerCountry": "CI", "ProductionPlace": "A", "Area": 1.5},
            "geometry": {"type": "Polygon", "coordinates": [box(-5.3, 6.8, -5.29, 6.81)]}}
    bad = [
        ({"geometry": {"type": "Polygon", "coordinates": [box(-5.3, 6.8, -5.29, 6.81), box(-5.299, 6.801, -5.298, 6.802)]}},
         "hole"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[-5.3, 6.8], [-5.29, 6.8], [-5.29, 6.8], [-5.29, 6.81],
                                                          [-5.3, 6.8]]]}}, "duplicate consecutive"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[-5.3, 6.8], [-5.29, 6.8], [-5.29, 6.81], [-5.3, 6.81]]]}}, "open ring"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[-5.3, 6.8], [-5.29, 6.8], [-5.3, 6.8]]]}}, "at least 4"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[-5.3, 6.8], [-5.29, 6.81], [-5.29, 6.8], [-5.3, 6.81],
                                                          [-5.3, 6.8]]]}}, "invalid polygon"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[-5.3, 6.8], [-5.29, 6.8], [-5.28, 6.8], [-5.3, 6.8]]]}},
         "straight line"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[-5.3000001, 6.8], [-5.29, 6.8], [-5.29, 6.81],
                                                          [-5.3000001, 6.8]]]}}, "more than 6 decimals"),
        ({"geometry": {"type": "Point", "coordinates": [6.8, -95.0]}}, "outside"),
        ({"geometry": {"type": "Point", "coordinates": [[-5.3, 6.8]]}}, "[lon, lat] numbers"),
        ({"geometry": {"type": "LineString", "coordinates": [[-5.3, 6.8], [-5.2, 6.8]]}}, "not accepted"),
        ({"geometry": {"type": "MultiPolygon", "coordinates": [box(-5.3, 6.8, -5.29, 6.81)]}}, "ring"),
        ({"geometry": {"type": "Point", "coordinates": [-5.3, 6.8]}, "properties": {"ProducerCountry": "CI", "Area": "3"}},
         "not a non-negative number"),
        ({"geometry": {"type": "Point", "coordinates": [-5.3, 6.8]}, "properties": {"ProducerCountry": "CI", "Area": 4.5}},
         "not within"),
        ({"properties": {"ProducerCountry": "Côte d'Ivoire", "Area": 1}}, "alpha-2"),
        ({"properties": {"ProducerCountry": "CI", "productionplace": "x"}}, "should be spelled 'ProductionPlace'"),
        ({"properties": {"ProducerCountry": "CI", "analysis": {"risk_level": "Low"}}}, "nested"),
    ]
    assert eu_geolocation_problems(json.dumps({"type": "FeatureCollection", "features": [good]}).encode()) == []
    for change, text in bad:
        doc = {"type": "FeatureCollection", "features": [{**good, **change}]}
        problems = eu_geolocation_problems(json.dumps(doc).encode())
        assert problems and any(text in p for p in problems), (text, problems)
    with_crs = {"type": "FeatureCollection", "crs": {}, "features": [good]}
    assert eu_geolocation_problems(json.dumps(with_crs).encode()) == ["a crs member (RFC 7946: WGS84 only, no crs)"]
    assert eu_geolocation_problems(json.dumps({"type": "FeatureCollection", "features": [good]}).encode(), max_bytes=10)


def test_coordinates_have_exactly_six_decimals_and_no_exponent():
    feats = [feature({"type": "Polygon", "coordinates": [box(-0.00005, 6.5, 0.00095, 6.50001)]}, plot_id="meridian")]
    content = eu_geojson(registered(feats)).content()
    assert b"e-" not in content and b"[-0.000050,6.500000]" in content
    demo = json.loads(eu_geojson(registered(demo_plots()["features"])).content(), parse_float=Decimal)

    def positions(c):
        return [c] if isinstance(c[0], Decimal) else [p for x in c for p in positions(x)]

    decimals = {-v.as_tuple().exponent for f in demo["features"] for p in positions(f["geometry"]["coordinates"]) for v in p}
    assert decimals == {6}  # Regulation (EU) 2023/1115 Art. 2(28): at least six decimal digits; the EU system: at most
    assert json.loads(content)["features"][0]["properties"]["ProducerCountry"] == "GH"
    assert eu_geolocation_problems(content) == []


def test_the_real_25_mb_limit_splits_the_file():
    angles = np.linspace(0, 2 * np.pi, 80_000, endpoint=False)
    plots = []
    for k in range(16):  # 16 plots of 80,000 vertices, about 1.6 MB each
        ring = np.round(np.c_[-5.5 + 0.05 * k + 0.02 * np.cos(angles), 7.0 + 0.02 * np.sin(angles)], 6)
        plots.append({"plot_id": f"big{k}", "country": "CI", "commodity": "cocoa", "area_ha": 500.0, "status": "done",
                      "analysis": {}, "geojson_features": [{"type": "Feature", "properties": {}, "geometry": {
                          "type": "Polygon", "coordinates": [np.vstack([ring, ring[:1]]).tolist()]}}]})
    out = eu_geojson(plots, "big")
    sizes = [len(b) for _, b in out.files]
    assert out.is_zip and len(sizes) == 2 and sum(sizes) > 25_000_000 and max(sizes) <= 25_000_000
    ids = [f["properties"]["plot_id"] for _, b in out.files for f in json.loads(b)["features"]]
    assert sorted(ids) == sorted(p["plot_id"] for p in plots)  # the full validator on 25 MB takes 15 s: the
    assert eu_geolocation_problems(out.files[-1][1]) == []  # smaller file only; the rules are tested above


def test_the_commodity_limit_keeps_commodities_apart():
    plots = registered(demo_plots()["features"][:3])  # cocoa, coffee, cocoa
    out = eu_geojson(plots, "mixed", Limits(max_commodities_per_statement=1))
    assert out.is_zip and [n for n, _ in out.files] == ["mixed_01_of_02.geojson", "mixed_02_of_02.geojson"]
    commodities = [{f["properties"]["commodity"] for f in json.loads(b)["features"]} for _, b in out.files]
    assert commodities == [{"cocoa"}, {"coffee"}]
