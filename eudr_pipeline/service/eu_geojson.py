"""The geolocation file of the EU information system (TRACES, EUDR) from the plots of a job.

The rules come from the Commission's documents (where our shared spec page,
shared/spec/eu-geojson.md, says otherwise, they win):

- [GJ13] "EUDR GeoJson File Description", version 1.3, 18 Feb 2025 (annex of "EUDR - API
  EO CF-TEST2"), sections 3 Definitions, 4 File Variants, 6 Common GEOjson file errors;
- [OPREF] "EUDR Information System - Operator API Reference", documentation v1.0, API V3,
  29 May 2026: section 9 (the GeoJSON description, "version 1.3 - updated 29 May 2026"),
  section 10.3 (validation rules), section 4.1.3 DdsProducerType;
- [VR13] "EUDR system - API and UI validation rules", version 1.3, 18 Feb 2025;
- [CF4] "EUDR API specifications for Operators, Conformance Test 4", v1.3 and v1.4 (22 Jul
  2025), the error-code table.

What the file meets:

- RFC 7946 FeatureCollection, WGS84 [lon, lat] ([GJ13] 2, 3); no ``crs`` member (RFC 7946
  removed it). Coordinates are written with exactly 6 decimals (geometry_json): "at least
  six decimal digits" in the Regulation's definition of geolocation (Regulation (EU)
  2023/1115 Art. 2(28), [OPREF] 4.1.3 DdsProducerType), and no more because the system
  rounds ([VR13]) or truncates
  ([OPREF] 9.3 "Important notes" 1, 10.3) longer ones, which can make duplicate vertices and
  invalid rings ([GJ13] 6 item 7): we round to 6 decimals ourselves (so the system's
  rounding or truncation has nothing left to change), drop consecutive duplicates, and
  refuse (``errors``) a plot whose ring then has fewer than 4 positions, no area ("straight
  lines", [GJ13] 6 item 6) or crossing sides ([CF4] v1.3 ..._GEO_POLYGON_INVALID, v1.4
  ..._GEO_INVALID_GEOMETRY), never writing it.
- Only Point, Polygon, MultiPolygon are written (of the accepted Point, MultiPoint, Polygon,
  MultiPolygon, GeometryCollection; [GJ13] 3). A MultiPolygon "contains two or more polygon
  definitions" ([GJ13] 3): a one-part MultiPolygon is written as a Polygon.
- No holes ([GJ13] 3 "Important note", 6 items 3 and 15: the system keeps only the outer
  boundary): a polygon with holes is cut, the documented "two half-moon shapes" workaround,
  along meridians through the holes (one cut stabs every hole whose longitude range it
  crosses; greedy interval stabbing, cuts on the 6-decimal grid where possible). Each hole
  becomes a notch shared by the pieces left and right of its cut, so no piece has a hole,
  pieces meet only along the cuts, and their union is the polygon. Meridian segments are
  geodesics, so the cut adds no area error beyond the 6-decimal rounding of the new
  vertices; every split is checked (pieces valid and hole-free, planar overlap nil, summed
  geodesic area, core.geometry.geodesic_areas_ha, within 0.01 % of the polygon's) and a
  plot failing the check goes to ``errors``. Edge-sharing pieces would make an invalid
  MultiPolygon, so each piece is its own Polygon feature with the plot's properties and
  ``part`` = "k/n".
- Properties, exact case ([GJ13] 3, 6 item 9): ``ProducerName`` (additional_info or the
  registered properties ``ProducerName``/``producer_name``, else omitted; cut to 500
  characters, the ``name`` limit of DdsProducerType, [OPREF] 4.1.3), ``ProducerCountry``
  (ISO 3166-1 alpha-2, see below), ``ProductionPlace`` (plot_name, else plot_id; recommended
  by [GJ13] 4 note 1), ``Area`` in ha as a JSON number (a string reads as 0, [GJ13] 6 item
  14). For a Point, Area is its point_ha, always written (a point without Area counts as 4
  ha, [GJ13] 4 note 2, while our analysis used point_ha, default 1 ha); for a polygon the
  plot's area_ha as the API gives it (a cut piece: the piece's geodesic area). Then the
  analysis summary as flat scalars (``plot_id``, ``commodity``, ``risk_level``,
  ``forest_2020_ha``, ``loss_after_2020_ha``, ...): the system ignores other properties
  ([GJ13] 3), nothing is nested.
- Limits ([VR13] and [OPREF] 10.3 "Geolocation data size", "Geolocation Producers
  information", "Maximum of commodities"): 25 MB of geolocation data, 1,000 producers per
  commodity and 10,000 per statement, 100 commodities per statement. A producer is a
  (ProducerName, ProducerCountry) group ([GJ13] 4 Type II). Files over a limit are split
  (plots kept whole, sorted by commodity and producer) into files each within every limit,
  delivered as a zip; MB is taken as 10^6 bytes of the file as written (the smaller
  reading). The thresholds are ``Limits`` fields.

Decisions:

- ProducerCountry: the registered country (a name in any spelling or a code, read by
  layers.countries.country_code) is compared with the country the plot lies in (shipped
  Natural Earth layer, layers.countries.country_of). The location wins when they disagree,
  because ProducerCountry is "the country where the relevant commodity was produced"
  ([OPREF] 4.1.3 DdsProducerType.country): a fact about the place, which the geolocation in
  the same file proves, while a typed country is the usual source of error (copied across
  plots). But the layer is generalised (about 2 km near borders, layers.countries), so when
  the plot lies within BORDER_MARGIN_DEG of the registered country that one is kept. Both
  cases add a warning naming the plot. No registered country: the location's. Neither: the
  plot is refused (``errors``), as "every production place must contain a valid country"
  ([VR13]).
- Failed and pending plots are not exported by default (``include_unanalysed=True``
  exports every registered geolocation): the file goes into a due-diligence statement,
  and a plot whose analysis did not complete has no evidence of negligible risk behind it;
  each left-out plot is listed in ``errors`` so that nothing is dropped silently, and the
  officer either fixes and re-runs it or files it knowingly with the option.
- Point area: the documents disagree on the smallest point area, 0.1 ha in [VR13] (Feb
  2025) and 0.0001 ha in [CF4] and [OPREF] 10.3 (May 2026). We apply 0.1 ha, the stricter,
  so the file passes under both: a point below it is written as the polygon our analysis
  used (the geodesic circle of its area, core.geometry.point_circle), with a warning; its
  area and our numbers are unchanged. Points above 4 ha are refused (never registered:
  core.geometry requires a polygon above 4 ha; the cattle exception is not used).
- [CF4] says a polygon needs "at least 4 non-aligned points"; [GJ13] 3 says "at least four
  pairs of coordinates" with the first repeated as the last. We follow [GJ13] (a triangle
  is 4 positions) and refuse rings without area.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from eudr_pipeline.core.geometry import DEFAULT_POINT_HA, MAX_POINT_HA, geodesic_areas_ha, point_circle
from eudr_pipeline.errors import GeometryError
from eudr_pipeline.layers.countries import BORDER_MARGIN_DEG, country_code, country_layer

DECIMALS = 6
MIN_POINT_HA = 0.1  # [VR13]; [CF4]/[OPREF] 10.3 accept down to 0.0001 ha: the stricter one passes both
MAX_PRODUCER_NAME = 500  # DdsProducerType.name, [OPREF] 4.1.3
SPLIT_AREA_TOLERANCE = 1e-4  # 0.01 % of the geodesic area
GEOJSON_MEDIA_TYPE = "application/geo+json"
ZIP_MEDIA_TYPE = "application/zip"
EU_PROPERTIES = ("ProducerName", "ProducerCountry", "ProductionPlace", "Area")  # the case counts ([GJ13] 6 item 9)
_HEAD = b'{"type":"FeatureCollection","features":['
_TAIL = b"]}"


@dataclass(frozen=True)
class Limits:
    """The per-statement limits a file meets ([VR13], [OPREF] 10.3)."""

    max_bytes: int = 25_000_000
    max_producers_per_commodity: int = 1_000
    max_producers_per_statement: int = 10_000
    max_commodities_per_statement: int = 100


@dataclass
class EuGeojson:
    """The export: one file, or several (each within the limits of one statement) that
    ``content`` zips; ``errors`` the plots left out and why; ``warnings`` about plots."""

    name: str
    files: list[tuple[str, bytes]]
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def is_zip(self) -> bool:
        return len(self.files) > 1

    @property
    def media_type(self) -> str:
        return ZIP_MEDIA_TYPE if self.is_zip else GEOJSON_MEDIA_TYPE

    @property
    def extension(self) -> str:
        return "zip" if self.is_zip else "geojson"

    def report(self) -> dict[str, Any]:
        return {"files": [{"name": n, "bytes": len(b)} for n, b in self.files], "errors": self.errors,
                "warnings": self.warnings,
                "note": "each file is within the limits of one due diligence statement; file them separately"}

    def content(self) -> bytes:
        """The single file, or a zip of the files and export_report.json."""
        if not self.is_zip:
            return self.files[0][1]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for n, b in self.files:
                z.writestr(n, b)
            z.writestr("export_report.json", json.dumps(self.report(), ensure_ascii=False, indent=1))
        return buf.getvalue()


# ------------------------------------------------------------------ geometry

def clean_ring(xy: np.ndarray, where: str) -> np.ndarray:
    """A ring rounded to 6 decimals, consecutive duplicates removed, closed; GeometryError
    when a position is out of range, fewer than 4 positions remain or it encloses no area."""
    r = np.round(np.asarray(xy, dtype=np.float64)[:, :2], DECIMALS)
    if not (np.isfinite(r).all() and (np.abs(r[:, 0]) <= 180).all() and (np.abs(r[:, 1]) <= 90).all()):
        raise GeometryError(f"{where}: a position is not [lon, lat] within [-180, 180] x [-90, 90]")
    r = r[np.r_[True, np.any(r[1:] != r[:-1], axis=1)]]
    if len(r) and not np.array_equal(r[0], r[-1]):
        r = np.vstack([r, r[:1]])
    if len(r) < 4:
        raise GeometryError(f"{where}: a ring has {len(r)} positions after rounding to 6 decimals (at least 4 needed)")
    x, y = r[:, 0] - r[0, 0], r[:, 1] - r[0, 1]
    if float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])) == 0.0:
        raise GeometryError(f"{where}: a ring has no area after rounding to 6 decimals (a straight line)")
    return r


def rounded_polygon(poly: Polygon, where: str) -> Polygon:
    """``poly`` with every ring cleaned (clean_ring); GeometryError if it is not valid then."""
    rings = [clean_ring(np.asarray(poly.exterior.coords), where)]
    rings += [clean_ring(np.asarray(h.coords), f"{where} hole {k}") for k, h in enumerate(poly.interiors)]
    out = shapely.polygons(rings[0], holes=rings[1:] or None)
    if not out.is_valid:
        raise GeometryError(f"{where}: invalid after rounding to 6 decimals ({shapely.is_valid_reason(out)})")
    return out


def cut_longitudes(holes: list[tuple[float, float]]) -> list[float]:
    """Longitudes of meridians such that each hole's open longitude range (minx, maxx)
    contains one: greedy stabbing (fewest cuts), each cut in the middle of the ranges it
    serves, on the 6-decimal grid when a grid value lies inside."""
    cuts: list[float] = []
    lo = hi = None
    for minx, maxx in sorted(holes, key=lambda h: h[1]):
        if hi is not None and minx < hi:
            lo = max(lo, minx)
            continue
        if hi is not None:
            cuts.append(_inside(lo, hi))
        lo, hi = minx, maxx
    if hi is not None:
        cuts.append(_inside(lo, hi))
    return cuts


def _inside(lo: float, hi: float) -> float:
    mid = round((lo + hi) / 2.0, DECIMALS)
    return mid if lo < mid < hi else (lo + hi) / 2.0


def split_holes(poly: Polygon, where: str) -> list[Polygon]:
    """Hole-free polygons covering exactly ``poly`` (rounded, valid): ``poly`` cut along
    the meridians of cut_longitudes, pieces rounded and checked (module docstring)."""
    if not poly.interiors:
        return [poly]
    cuts = cut_longitudes([(h.bounds[0], h.bounds[2]) for h in poly.interiors])
    minx, miny, maxx, maxy = poly.bounds
    edges = [minx - 1.0, *cuts, maxx + 1.0]
    pieces: list[Polygon] = []
    for x0, x1 in zip(edges[:-1], edges[1:]):
        strip = shapely.intersection(poly, shapely.box(x0, miny - 1.0, x1, maxy + 1.0))
        parts = shapely.get_parts(strip)
        pieces += [rounded_polygon(p, where) for p in parts if p.geom_type == "Polygon" and not p.is_empty]
    check_split(poly, pieces, where)
    return pieces


def check_split(poly: Polygon, pieces: list[Polygon], where: str) -> None:
    """GeometryError unless ``pieces`` are hole-free, do not overlap, and cover ``poly``
    to SPLIT_AREA_TOLERANCE of its geodesic area."""
    if not pieces or any(p.interiors for p in pieces):
        raise GeometryError(f"{where}: splitting the polygon with holes left a hole")
    planar = sum(p.area for p in pieces)
    if planar - shapely.union_all(pieces).area > 1e-9 * poly.area:
        raise GeometryError(f"{where}: the pieces of the polygon with holes overlap")
    geo = geodesic_areas_ha(np.array([poly, *pieces], dtype=object))
    if abs(geo[1:].sum() - geo[0]) > SPLIT_AREA_TOLERANCE * geo[0]:
        raise GeometryError(f"{where}: the pieces of the polygon with holes cover {geo[1:].sum():.6f} ha, "
                            f"not its {geo[0]:.6f} ha")


def _polygon_json(p: Polygon) -> list[np.ndarray]:
    """The rings of ``p`` as (n, 2) arrays, exterior counterclockwise (RFC 7946 3.1.6)."""
    p = shapely.orient_polygons(p)
    return [shapely.get_coordinates(p.exterior)] + [shapely.get_coordinates(h) for h in p.interiors]


@dataclass
class Piece:
    """One feature's geometry (a GeoJSON dict; rings as (n, 2) arrays, geometry_json writes
    it), its Area (ha) and its part label."""

    geometry: dict
    area_ha: float
    part: str | None = None


def polygon_pieces(geom: BaseGeometry, area_ha: float | None, where: str) -> list[Piece]:
    """Pieces of a (Multi)Polygon: one feature when it has no holes (the plot's area_ha),
    else one Polygon per hole-free piece with its geodesic area."""
    polys = [rounded_polygon(p, f"{where} polygon {k}") for k, p in enumerate(shapely.get_parts(geom))]
    if not any(p.interiors for p in polys):
        whole: BaseGeometry = polys[0] if len(polys) == 1 else MultiPolygon(polys)
        if not whole.is_valid:
            raise GeometryError(f"{where}: invalid after rounding to 6 decimals ({shapely.is_valid_reason(whole)})")
        area = area_ha if area_ha is not None else float(geodesic_areas_ha(np.array([whole], dtype=object))[0])
        if len(polys) == 1:
            return [Piece({"type": "Polygon", "coordinates": _polygon_json(polys[0])}, area)]
        return [Piece({"type": "MultiPolygon", "coordinates": [_polygon_json(p) for p in polys]}, area)]
    pieces = [q for k, p in enumerate(polys) for q in split_holes(p, f"{where} polygon {k}")]
    areas = geodesic_areas_ha(np.array(pieces, dtype=object))
    return [Piece({"type": "Polygon", "coordinates": _polygon_json(q)}, round(float(a), 6), f"{k + 1}/{len(pieces)}")
            for k, (q, a) in enumerate(zip(pieces, areas))]


def point_pieces(coords: Any, props: dict, where: str) -> tuple[list[Piece], list[str]]:
    """A Point with Area = its point_ha; below MIN_POINT_HA the analysed circle polygon."""
    try:
        lon, lat = float(coords[0]), float(coords[1])
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise GeometryError(f"{where}: point coordinates {coords!r} are not [lon, lat]") from exc
    if not (math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90):
        raise GeometryError(f"{where}: point [{lon}, {lat}] is not [lon, lat] within [-180, 180] x [-90, 90]")
    ha = props.get("point_ha")
    ha = DEFAULT_POINT_HA if ha is None else ha
    if isinstance(ha, bool) or not isinstance(ha, (int, float)) or not math.isfinite(ha) or not 0 < ha <= MAX_POINT_HA:
        raise GeometryError(f"{where}: point area {ha!r} ha is not in (0, {MAX_POINT_HA}] (a polygon is required above)")
    if ha >= MIN_POINT_HA:
        return [Piece({"type": "Point", "coordinates": [round(lon, DECIMALS), round(lat, DECIMALS)]}, float(ha))], []
    pieces = polygon_pieces(point_circle(lon, lat, float(ha)), float(ha), where)
    return pieces, [f"{where}: point of {ha} ha (< {MIN_POINT_HA} ha, the smallest point area of the EU validation "
                    f"rules v1.3) written as the {ha} ha circle polygon the analysis used"]


def plot_pieces(plot: dict) -> tuple[list[Piece], list[str]]:
    """The pieces of every registered feature of ``plot``; GeometryError naming it."""
    where = f"plot {plot['plot_id']}"
    feats = plot.get("geojson_features") or []
    if not feats:
        raise GeometryError(f"{where}: no geometry")
    pieces: list[Piece] = []
    warnings: list[str] = []
    for f in feats:
        g, props = (f or {}).get("geometry") or {}, (f or {}).get("properties") or {}
        gtype = g.get("type")
        if gtype == "Point":
            ps, ws = point_pieces(g.get("coordinates") or [], props, where)
            pieces, warnings = pieces + ps, warnings + ws
        elif gtype in ("Polygon", "MultiPolygon"):
            try:
                geom = to_shapely(g)
            except (ValueError, TypeError, AttributeError, IndexError, KeyError, shapely.errors.GEOSException) as exc:
                raise GeometryError(f"{where}: unreadable {gtype} ({exc})") from exc
            pieces += polygon_pieces(geom, plot.get("area_ha") if len(feats) == 1 else None, where)
        else:
            raise GeometryError(f"{where}: geometry type {gtype!r} is not exported (Point, Polygon, MultiPolygon)")
    return pieces, warnings


def to_shapely(geometry: dict) -> BaseGeometry:
    """A GeoJSON Point, Polygon or MultiPolygon as shapely, through numpy arrays (shapely's
    shape() walks every position in Python: seconds for a million vertices); Z dropped."""
    gtype, coords = geometry.get("type"), geometry.get("coordinates")
    if gtype == "Point":
        return Point(float(coords[0]), float(coords[1]))

    def polygon(rings: list) -> Polygon:
        arrays = [np.asarray(r, dtype=np.float64)[:, :2] for r in rings]
        return shapely.polygons(arrays[0], holes=arrays[1:] or None)

    if gtype == "Polygon":
        return polygon(coords)
    if gtype == "MultiPolygon":
        return MultiPolygon([polygon(p) for p in coords])
    return shapely.geometry.shape(geometry)


def plot_shape(plot: dict) -> BaseGeometry | None:
    """The plot's registered geometry as one shapely geometry (points as points), or None."""
    try:
        geoms = [to_shapely(f["geometry"]) for f in plot.get("geojson_features") or []]
        return shapely.union_all(geoms) if len(geoms) > 1 else (geoms[0] if geoms else None)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, shapely.errors.GEOSException):
        return None


# ------------------------------------------------------------------ properties

def producer_countries(plots: list[dict]) -> list[tuple[str | None, str | None]]:
    """(ProducerCountry, warning) of every plot: the registered country checked against
    the location (module docstring, "Decisions")."""
    layer = country_layer()
    shapes = [plot_shape(p) for p in plots]
    located = layer.country_of(shapes)
    out: list[tuple[str | None, str | None]] = []
    for p, shape, loc in zip(plots, shapes, located):
        raw = p.get("country")
        reg = country_code(raw) if raw not in (None, "") else None
        name = f"plot {p['plot_id']}" + (f" ({p['plot_name']})" if p.get("plot_name") else "")
        if raw not in (None, "") and reg is None:
            out.append((loc, f"{name}: registered country {raw!r} is not a country we know; "
                             f"ProducerCountry {loc} from the plot's location" if loc else None))
        elif reg and loc and reg != loc:
            if shape is not None and layer.near([shape], [reg])[0]:
                out.append((reg, f"{name}: registered country {raw!r} ({reg}) but the plot's representative point "
                                 f"lies in {loc} within {BORDER_MARGIN_DEG} deg of {reg}'s border "
                                 f"(the boundary layer's error): ProducerCountry {reg} kept"))
            else:
                out.append((loc, f"{name}: registered country {raw!r} ({reg}) but the plot lies in {loc}: "
                                 f"ProducerCountry {loc} (the location wins)"))
        else:
            out.append((reg or loc, None))
    return out


def producer_name(plot: dict) -> str | None:
    """ProducerName from additional_info or the registered properties, when present."""
    sources = [plot.get("additional_info") or {}] + [(f or {}).get("properties") or {}
                                                     for f in plot.get("geojson_features") or []]
    for src in sources:
        for key in ("ProducerName", "producer_name"):
            v = src.get(key) if isinstance(src, dict) else None
            if isinstance(v, str) and v.strip():
                return v.strip()[:MAX_PRODUCER_NAME]
    return None


def _overlap_ha(analysis: dict, block: str, summary: str) -> Any:
    return ((analysis.get(block) or {}).get(summary) or {}).get("total_overlap_area_ha")


def analysis_summary(plot: dict) -> dict[str, Any]:
    """The plot's analysis as flat scalar properties, numbers as the API gives them."""
    a = plot.get("analysis") or {}
    d = a.get("deforestation") or {}
    out = {
        "plot_id": plot["plot_id"], "commodity": a.get("commodity") or plot.get("commodity"),
        "analysis_status": plot.get("status"), "risk_level": a.get("risk_level"), "risk_reason": a.get("risk_reason"),
        "plot_area_ha": plot.get("area_ha"), "forest_2020_ha": a.get("forest_area_2020"),
        "loss_after_2020_ha": d.get("total"), "loss_after_2020_jrc_ha": d.get("total_jrc"),
        "logging_after_2020_ha": a.get("logging_area"),
        "protected_area_overlap_ha": _overlap_ha(a, "protected_areas", "protected_area_overlap_summary"),
        "indigenous_land_overlap_ha": _overlap_ha(a, "indigenous_land", "indigenous_land_overlap_summary"),
        "analysis_end": a.get("analysis_end"), "analysis_version": a.get("version"),
    }
    if plot.get("error"):
        out["analysis_error"] = plot["error"]
    return out


# ------------------------------------------------------------------ files

def to_json(obj: Any) -> str:
    """Compact JSON with every number in positional notation (5e-05 is written 0.00005:
    coordinates near the equator or the prime meridian keep a plain decimal form, whatever
    the EU system's parser makes of exponents); NaN and infinities refused."""
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{to_json(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in obj) + "]"
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{obj} is not a JSON number")
        return np.format_float_positional(obj, trim="-")
    return json.dumps(obj, ensure_ascii=False)


_DEPTH = {"Point": 0, "Polygon": 2, "MultiPolygon": 3}  # nesting above the positions


def _coordinates_json(coords: Any, depth: int) -> str:
    if depth == 0:
        return "[%.6f,%.6f]" % (coords[0], coords[1])
    if depth == 1:
        rows = np.asarray(coords, dtype=np.float64)[:, :2].tolist()
        return "[" + ",".join(map("[%.6f,%.6f]".__mod__, map(tuple, rows))) + "]"
    return "[" + ",".join(_coordinates_json(c, depth - 1) for c in coords) + "]"


def geometry_json(geometry: dict) -> str:
    """A Point, Polygon or MultiPolygon as compact JSON, every coordinate with exactly 6
    decimals: at most 6 for the EU system ([GJ13] 6 item 7), "at least six decimal digits"
    for the Regulation's geolocation (Regulation (EU) 2023/1115 Art. 2(28); [OPREF] 4.1.3
    DdsProducerType), never an exponent (values are rounded to 6 decimals before)."""
    return f'{{"type":"{geometry["type"]}","coordinates":{_coordinates_json(geometry["coordinates"], _DEPTH[geometry["type"]])}}}'


@dataclass
class _Item:
    commodity: str
    producer: tuple[str, str]
    features: list[bytes]

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.features) + len(self.features)  # a comma each (one too many: safe)


@dataclass
class _Bin:
    items: list[_Item] = field(default_factory=list)
    size: int = len(_HEAD) + len(_TAIL)
    producers: set = field(default_factory=set)  # (commodity, producer): each commodity lists its producers
    per_commodity: Counter = field(default_factory=Counter)

    def fits(self, it: _Item, limits: Limits) -> bool:
        if self.items and self.size + it.size > limits.max_bytes:
            return False
        if (it.commodity, it.producer) in self.producers:
            return True
        new_commodity = it.commodity not in self.per_commodity
        return (len(self.producers) < limits.max_producers_per_statement
                and self.per_commodity[it.commodity] < limits.max_producers_per_commodity
                and len(self.per_commodity) + new_commodity <= limits.max_commodities_per_statement)

    def add(self, it: _Item) -> None:
        self.items.append(it)
        self.size += it.size
        if (it.commodity, it.producer) not in self.producers:
            self.producers.add((it.commodity, it.producer))
            self.per_commodity[it.commodity] += 1

    def content(self) -> bytes:
        return _HEAD + b",".join(b for it in self.items for b in it.features) + _TAIL


def pack(items: list[_Item], limits: Limits) -> list[_Bin]:
    """Plots (kept whole) into files within ``limits``: one file in the plots' order when
    all fit, else files filled in order of commodity and producer."""
    whole = _Bin()
    for it in items:
        if not whole.fits(it, limits):
            break
        whole.add(it)
    else:
        return [whole] if items else []
    bins: list[_Bin] = []
    for it in sorted(items, key=lambda i: (i.commodity, i.producer)):
        if not bins or not bins[-1].fits(it, limits):
            bins.append(_Bin())
        bins[-1].add(it)
    return bins


def _features(plot: dict, country: str, analysis_properties: bool) -> tuple[list[bytes], list[str], int]:
    pieces, warnings = plot_pieces(plot)
    props: dict[str, Any] = {}
    name = producer_name(plot)
    if name:
        props["ProducerName"] = name
    props["ProducerCountry"] = country
    props["ProductionPlace"] = plot.get("plot_name") or str(plot["plot_id"])
    summary = analysis_summary(plot) if analysis_properties else {"plot_id": plot["plot_id"]}
    feats = []
    for piece in pieces:
        p = {**props, "Area": piece.area_ha, **summary, **({"part": piece.part} if piece.part else {})}
        feats.append(f'{{"type":"Feature","properties":{to_json(p)},"geometry":{geometry_json(piece.geometry)}}}'.encode())
    return feats, warnings, sum(len(f) for f in feats)


def eu_geojson(plots: list[dict], name: str = "plots", limits: Limits = Limits(), include_unanalysed: bool = False,
               analysis_properties: bool = True) -> EuGeojson:
    """The geolocation file(s) of ``plots`` (response-like plot dicts, job_response.py):
    every rule and decision in the module docstring. ``errors`` lists the plots left out."""
    out = EuGeojson(name, [])
    chosen = []
    for p in plots:
        if p.get("status") != "done" and not include_unanalysed:
            out.errors.append({"plot_id": p["plot_id"], "plot_name": p.get("plot_name"),
                               "error": f"not exported: analysis {p.get('status') or 'missing'}"
                                        + (f" ({p['error']})" if p.get("error") else "")})
        else:
            chosen.append(p)
    items = []
    for p, (country, warning) in zip(chosen, producer_countries(chosen)):
        out.warnings += [warning] if warning else []
        try:
            if country is None:
                raise GeometryError(f"plot {p['plot_id']}: no country registered and none found at its location")
            feats, warnings, size = _features(p, country, analysis_properties)
            if size + len(feats) + len(_HEAD) + len(_TAIL) > limits.max_bytes:
                raise GeometryError(f"plot {p['plot_id']}: {size} bytes alone, over the {limits.max_bytes} bytes limit")
        except GeometryError as exc:
            out.errors.append({"plot_id": p["plot_id"], "plot_name": p.get("plot_name"), "error": str(exc)})
            continue
        out.warnings += warnings
        commodity = (p.get("analysis") or {}).get("commodity") or p.get("commodity") or ""
        items.append(_Item(commodity, (producer_name(p) or "", country), feats))
    bins = pack(items, limits) or [_Bin()]
    out.files = [(f"{name}.geojson", bins[0].content())] if len(bins) == 1 else [
        (f"{name}_{k + 1:02d}_of_{len(bins):02d}.geojson", b.content()) for k, b in enumerate(bins)]
    return out
