"""Plot geometry: GeoJSON intake and validation, point circles, geodesic areas.

Coordinates are [lon, lat] in EPSG:4326 degrees. Areas are hectares on the WGS84
ellipsoid, computed with pyproj's geodesic polygon area (never shapely ``.area`` on
degrees, never a sphere).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import orjson
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from eudr_pipeline.errors import GeometryError, shown

GEOD = Geod(ellps="WGS84")
DEFAULT_POINT_HA = 1.0
MAX_POINT_HA = 4.0
CIRCLE_VERTICES = 64
SUPPORTED_TYPES = ("Point", "Polygon", "MultiPolygon")
# Limits of one plot (README "Limits"): what a plot may cost the analysis and its maps.
MAX_VERTICES_PER_PLOT = 50_000   # positions over all rings and parts
MAX_PLOT_AREA_HA = 10_000.0      # a farm plot: larger areas are regions, not plots
MAX_PLOT_EXTENT_DEG = 1.0        # width and height of the plot's bounding box (degrees)


@dataclass
class PlotGeometry:
    """A validated plot geometry: (Multi)Polygon in lon/lat degrees, and the warnings
    its intake raised (e.g. low coordinate precision)."""

    geometry: BaseGeometry
    warnings: list[str] = field(default_factory=list)
    from_point: bool = False
    area_ha: float | None = None  # geodesic area when intake measured it (polygons)


def geodesic_area_ha(geom: BaseGeometry) -> float:
    """Geodesic area in ha of a (Multi)Polygon in lon/lat degrees on WGS84 (holes
    subtracted)."""
    return float(geodesic_areas_ha(np.array([geom], dtype=object))[0])


def geodesic_areas_ha(geoms: np.ndarray) -> np.ndarray:
    """Geodesic areas in ha of many (Multi)Polygons (lon/lat degrees, WGS84): for each
    ring pyproj's geodesic polygon area, exteriors added and holes subtracted."""
    geoms = np.asarray(geoms, dtype=object)
    out = np.zeros(len(geoms))
    if len(geoms) == 0:
        return out
    parts, owner = shapely.get_parts(geoms, return_index=True)
    while np.isin(shapely.get_type_id(parts), (4, 5, 6, 7)).any():  # collections inside collections
        parts, sub = shapely.get_parts(parts, return_index=True)
        owner = owner[sub]
    keep = shapely.get_type_id(parts) == 3  # polygons only (drops lines/points of intersections)
    parts, owner = parts[keep], owner[keep]
    if len(parts) == 0:
        return out
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    first_of_part = np.r_[True, ring_part[1:] != ring_part[:-1]]  # get_rings lists the exterior first
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    lon, lat = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
    bounds = np.searchsorted(ring_of, np.arange(len(rings) + 1)).tolist()
    sums = out.tolist()  # Python floats: the same IEEE additions as numpy's, without its per-item cost
    for k, (o, first) in enumerate(zip(owner[ring_part].tolist(), first_of_part.tolist())):
        area, _ = GEOD.polygon_area_perimeter(lon[bounds[k]:bounds[k + 1]], lat[bounds[k]:bounds[k + 1]])
        sums[o] += abs(area) if first else -abs(area)
    return np.array(sums, dtype=np.float64) / 10_000.0


def point_circle(lon: float, lat: float, area_ha: float, vertices: int = CIRCLE_VERTICES) -> Polygon:
    """A polygon of ``vertices`` points at one geodesic distance from (lon, lat), the
    distance chosen so that the polygon's geodesic area is ``area_ha`` hectares."""
    target_m2 = area_ha * 10_000.0
    az = np.linspace(0.0, 360.0, vertices, endpoint=False)
    # regular n-gon of circumradius r has area (n/2) r^2 sin(2 pi / n)
    r = math.sqrt(target_m2 / (vertices / 2.0 * math.sin(2.0 * math.pi / vertices)))
    for _ in range(4):
        lons, lats, _ = GEOD.fwd(np.full(vertices, lon), np.full(vertices, lat), az, np.full(vertices, r))
        poly = Polygon(zip(lons, lats))
        area = geodesic_area_ha(poly) * 10_000.0
        if abs(area - target_m2) <= 1e-9 * target_m2:
            break
        r *= math.sqrt(target_m2 / area)
    return poly


_JSON_NUMBER = re.compile(r"-?\d+(?:\.(\d+))?(?:[eE]([+-]?\d+))?")


def written_decimals(text: str) -> int | None:
    """The decimals a JSON number was **written** with: "-5.297500" has 6 (its trailing
    zeros count), "6.8" 1, "7" 0, "1.5e-3" 4; None when ``text`` is not a JSON number.

    Precision is judged from the text, never from the parsed float: the float of
    "-5.297500" is -5.2975, whose shortest form has 4 decimals, and a trailing-zero case
    cannot be told from a coarse coordinate once parsed."""
    m = _JSON_NUMBER.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None:
        return None
    return max(0, len(m.group(1) or "") - int(m.group(2) or 0))


def written_precision(written: Any) -> int | None:
    """The most decimals among the longitudes and latitudes of ``written``: the precision
    the plot was captured with (a writer that drops trailing zeros writes 6.829000 as
    6.829, so one coordinate with 6 decimals shows the plot has them); a geometry's
    coordinates as written (the same nesting, each number as its JSON text, as
    ``json.loads(text, parse_float=str, parse_int=str)`` gives them; Z values ignored).
    None when there is no text to judge (a parsed body, or anything but number texts)."""
    found: list[int] = []

    def walk(c: Any, depth: int) -> bool:
        if not isinstance(c, list) or not c or depth > 4:
            return False
        if not isinstance(c[0], list):
            ds = [written_decimals(v) for v in c[:2]]
            found.extend(d for d in ds if d is not None)
            return len(c) >= 2 and None not in ds
        return all(walk(x, depth + 1) for x in c)

    return max(found) if walk(written, 0) and found else None


def written_precisions(written: Sequence[Any]) -> list[int | None]:
    """``written_precision`` of each of many geometries' coordinates as written. Plain ones
    (the nesting of a Polygon or MultiPolygon, every value a text of a plain decimal number:
    digits, an optional point and minus sign) are judged as arrays; any other one by one."""
    out: list[int | None] = [None] * len(written)
    plain = []
    for k, w in enumerate(written):
        depth, c = 0, w
        while isinstance(c, list) and c and isinstance(c[0], list):
            c, depth = c[0], depth + 1
        nested = _rings_of(w, depth) if depth in (2, 3) else None
        if nested is not None:
            plain.append((k, nested))
        else:
            out[k] = written_precision(w)
    rings = _ring_arrays([nested for _, nested in plain], "U")
    decimals, valid = _text_decimals(rings.xy)
    position_plot = rings.position_plot()
    n = len(plain)
    texts_only = np.array(_each([written[k] for k, _ in plain], _texts_only), dtype=bool)
    ok = rings.converted & ~_plot_any(~valid.all(axis=1), position_plot, n) & texts_only
    most = np.zeros(n, dtype=np.int64)
    np.maximum.at(most, position_plot, decimals.max(axis=1, initial=0))
    for j, (k, _) in enumerate(plain):
        out[k] = int(most[j]) if ok[j] else written_precision(written[k])
    return out


def _text_decimals(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(decimals written, whether it is a plain decimal number text -?\\d+(.\\d+)?) of
    each of ``texts`` (a numpy text array): what ``written_decimals`` gives for those."""
    if texts.size == 0:
        return np.zeros(texts.shape, dtype=np.int64), np.zeros(texts.shape, dtype=bool)
    body = np.strings.lstrip(texts, "-")
    length = np.strings.str_len(body)
    point = np.strings.find(body, ".")
    valid = ((np.strings.count(texts, "-") == np.strings.startswith(texts, "-"))
             & np.strings.isdecimal(np.strings.replace(body, ".", "", 1))
             & ((point < 0) | ((point > 0) & (point < length - 1))))
    return np.where(point >= 0, length - point - 1, 0).astype(np.int64), valid


def _each(values: list, plain: Callable[[Any], bool]) -> list[bool]:
    """``plain`` of each of ``values``, asked once of all of them first (one orjson pass
    when every one is plain, the usual case)."""
    return [True] * len(values) if plain(values) else [plain(v) for v in values]


def _texts_only(value: Any) -> bool:
    """Whether ``value`` is nested lists of texts only (numpy turns numbers into texts too,
    so this is asked of the values themselves): outside its texts, its orjson text holds
    only brackets and commas."""
    try:
        text = orjson.dumps(value)
    except TypeError:
        return False
    return b"\\" not in text and not b"".join(text.split(b'"')[0::2]).translate(None, b"[],")


def _position(pos: Any, where: str) -> tuple[float, float]:
    if not isinstance(pos, (list, tuple)) or len(pos) < 2:
        raise GeometryError(f"{where}: a position must be [lon, lat], got {shown(pos)}")
    lon, lat = pos[0], pos[1]
    for name, val in (("longitude", lon), ("latitude", lat)):
        if isinstance(val, bool) or not isinstance(val, (int, float)) or (isinstance(val, float) and not math.isfinite(val)):
            raise GeometryError(f"{where}: {name} {shown(val)} is not a finite number")
    if not -180.0 <= lon <= 180.0:
        raise GeometryError(f"{where}: longitude {shown(lon)} outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise GeometryError(f"{where}: latitude {shown(lat)} outside [-90, 90] (coordinates are [lon, lat])")
    return float(lon), float(lat)


def count_positions(coords: Any, depth: int = 0) -> int:
    """How many positions the nested coordinate lists hold (a position: a list whose first
    item is not a list), at most 4 levels deep (MultiPolygon); stops counting past the limit."""
    if not isinstance(coords, list) or not coords or depth > 3:
        return 0
    if not isinstance(coords[0], list):
        return 1
    total = 0
    for c in coords:
        total += count_positions(c, depth + 1)
        if total > MAX_VERTICES_PER_PLOT:
            break
    return total


def _check_extent(bounds: tuple[float, float, float, float], where: str) -> None:
    """Refuse a plot that crosses the antimeridian or exceeds MAX_PLOT_EXTENT_DEG, saying which."""
    w, s, e, n = bounds
    if e - w > 180:
        raise GeometryError(f"{where}: the polygon spans longitudes {w:g} to {e:g}: it crosses the antimeridian, "
                            "which this service does not support; split it at 180 degrees into two features")
    if e - w > MAX_PLOT_EXTENT_DEG or n - s > MAX_PLOT_EXTENT_DEG:
        raise GeometryError(f"{where}: the plot spans {e - w:.3g} x {n - s:.3g} degrees; at most "
                            f"{MAX_PLOT_EXTENT_DEG:g} degree each way")


def _check_area(area: float, where: str) -> float:
    """``area`` (ha), or GeometryError when it exceeds MAX_PLOT_AREA_HA."""
    if area > MAX_PLOT_AREA_HA:
        raise GeometryError(f"{where}: the plot covers {area:,.0f} ha; a plot may cover at most {MAX_PLOT_AREA_HA:,.0f} ha")
    return area


def _ring(coords: Any, where: str) -> np.ndarray:
    """A validated ring as an (n, 2) array of lon, lat (Z dropped)."""
    if not isinstance(coords, list):
        raise GeometryError(f"{where}: a ring must be a list of positions")
    if len(coords) < 4:
        raise GeometryError(f"{where}: ring has {len(coords)} positions, at least 4 needed")
    arr = np.empty((0, 2))
    try:
        ok = all(isinstance(p, (list, tuple)) and len(p) >= 2 for p in coords)
        if ok:
            arr = np.array([p[:2] for p in coords], dtype=np.float64)
            ok = not any(isinstance(v, bool) for p in coords for v in p[:2])
    except (ValueError, TypeError, OverflowError):
        ok = False
    if not ok or not np.isfinite(arr).all() or np.abs(arr[:, 0]).max() > 180 or np.abs(arr[:, 1]).max() > 90:
        for k, p in enumerate(coords):  # slow path, only to name the bad position
            _position(p, f"{where} position {k}")
        raise GeometryError(f"{where}: positions must be [lon, lat] numbers")
    ring = arr
    if not np.array_equal(ring[0], ring[-1]):
        raise GeometryError(f"{where}: ring is not closed (first position {ring[0].tolist()} != last {ring[-1].tolist()})")
    return ring


def _polygon(coords: Any, where: str) -> Polygon:
    if not isinstance(coords, list) or not coords:
        raise GeometryError(f"{where}: empty polygon")
    rings = [_ring(r, f"{where} ring {k}") for k, r in enumerate(coords)]
    return shapely.polygons(rings[0], holes=rings[1:] or None)


def _check_valid(geom: BaseGeometry, where: str) -> None:
    if geom.is_empty:
        raise GeometryError(f"{where}: empty geometry")
    if isinstance(geom, MultiPolygon) and not geom.is_valid:
        parts = list(geom.geoms)
        for k, part in enumerate(parts):
            _check_valid(part, f"{where} polygon {k}")
        tree = shapely.STRtree(parts)
        a, b = tree.query(parts, predicate="intersects")
        for i, j in zip(a.tolist(), b.tolist()):
            if i < j and not parts[i].touches(parts[j]) or i < j and parts[i].intersection(parts[j]).length > 0:
                raise GeometryError(f"{where}: polygons {i} and {j} of the MultiPolygon overlap or share an edge")
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        if reason.startswith("Self-intersection") or reason.startswith("Ring Self-intersection"):
            raise GeometryError(f"{where}: self-intersecting polygon ({reason})")
        raise GeometryError(f"{where}: invalid polygon ({reason})")


def parse_geometry(geometry: Any, properties: dict | None, where: str, written: Any = None) -> PlotGeometry:
    """Validate one GeoJSON geometry (docs/analysis.md, "Plot geometry") and return it as a
    (Multi)Polygon in lon/lat. A Point becomes a circle of ``properties.point_ha`` ha
    (default 1.0, 0 < point_ha < 4). Raises GeometryError naming ``where`` and the reason.

    ``written``: the geometry's coordinates as written (``written_precision``), when the
    text is known (``eudr analyze`` reads the file): coordinates written with fewer than 6
    decimals get a warning. Without it (the API hands over parsed JSON), precision is not
    judged: a float does not say how it was written, and JSON writers drop trailing zeros."""
    [parsed] = parse_geometries([(geometry, properties, where)], None if written is None else lambda k: written)
    if isinstance(parsed, GeometryError):
        raise parsed
    return parsed


def parse_geometries(items: Sequence[tuple[Any, dict | None, str]],
                     written: Callable[[int], Any] | None = None) -> list[PlotGeometry | GeometryError]:
    """``parse_geometry`` of many geometries at once: for each (geometry, properties, where),
    its PlotGeometry or the GeometryError parse_geometry raises for it. Plain polygonal
    geometries (lists of [lon, lat] numbers) are checked, built, validated and measured as
    arrays (``_plain_polygons``); any other goes the one-by-one path, which names the first
    bad position. ``written(k)``: item k's coordinates as written, asked only for the plots
    whose parsed coordinates could have been written with fewer than 6 decimals."""
    out: list[Any] = [None] * len(items)
    coarse = [True] * len(items)  # may have been written with fewer than 6 decimals
    polygonal: list[int] = []
    for k, (geometry, properties, where) in enumerate(items):
        try:
            gtype, coords = _geometry_head(geometry, where)
            if gtype == "Point":
                out[k] = PlotGeometry(_point_geometry(coords, properties or {}, where), from_point=True)
            else:
                polygonal.append(k)
        except GeometryError as exc:
            out[k] = exc
    built = _plain_polygons([items[k][0]["type"] for k in polygonal], [items[k][0]["coordinates"] for k in polygonal],
                            [items[k][2] for k in polygonal])
    for k, (parsed, maybe_coarse) in zip(polygonal, built):
        out[k], coarse[k] = parsed, maybe_coarse
    judged = [k for k, p in enumerate(out) if isinstance(p, PlotGeometry) and coarse[k]] if written else []
    for k, most in zip(judged, written_precisions([written(k) for k in judged]) if judged else []):
        if most is not None and most < 6:
            out[k].warnings.append(f"{items[k][2]}: coordinates written with {most} decimal{'' if most == 1 else 's'} "
                                   f"(fewer than 6: about {round(111_000 * 10 ** -most, 1):,g} m precision)")
    return out


_NUMBER_LIST_BYTES = b"0123456789.eE+-,[]"  # all orjson writes for nested lists of numbers


def _rings_of(nested: Any, depth: int) -> list[list] | None:
    """The polygons (lists of rings) of coordinates nested ``depth`` levels above the
    positions (2: a Polygon's, 3: a MultiPolygon's) when plain: non-empty lists of rings that
    are lists of at least 4 items; else None."""
    polygons = [nested] if depth == 2 else nested
    if not isinstance(polygons, list):
        return None
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            return None
        for ring in polygon:
            if not isinstance(ring, list) or len(ring) < 4:
                return None
    return polygons


def _numbers_only(value: Any) -> bool:
    """Whether ``value`` is nested lists of JSON numbers only (no bool, null, NaN, string,
    mapping), judged from its orjson text."""
    try:
        return not orjson.dumps(value).translate(None, _NUMBER_LIST_BYTES)
    except TypeError:  # integers beyond 64 bits, nesting too deep, other types
        return False


def _positions_array(positions: list, kind: str) -> np.ndarray | None:
    """``positions`` (lists of one length >= 2) as a 2-D array of ``kind`` ("f": float64,
    "U": texts), or None when they are not that."""
    try:
        arr = np.array(positions, dtype=np.float64) if kind == "f" else np.array(positions)
    except (ValueError, TypeError, OverflowError):
        return None
    if arr.ndim != 2 or arr.shape[1] < 2 or arr.dtype.kind != kind:
        return None
    return arr


@dataclass
class _Rings:
    """Positions of many plots' rings as arrays: lon/lat (or their texts) of every position
    (the first two values), each ring's length and plot, each plot's polygons' rings
    (``ring_polygon``: index of the ring's polygon over all plots)."""

    xy: np.ndarray
    length: np.ndarray
    plot: np.ndarray
    polygon: np.ndarray
    converted: np.ndarray  # per plot: its positions made the arrays

    def position_plot(self) -> np.ndarray:
        return np.repeat(self.plot, self.length)


def _ring_arrays(nested: list[list[list]], kind: str) -> _Rings:
    """The rings of plots (each: its polygons, each a list of rings of positions) as arrays
    (``_Rings``): one conversion over every position when they all have one length, else one
    a plot; a plot whose positions do not convert is left out (``converted`` False)."""
    plot, length, polygon, flat = [], [], [], []
    n_polygons = 0
    for k, polygons in enumerate(nested):
        for rings in polygons:
            for r in rings:
                plot.append(k)
                length.append(len(r))
                polygon.append(n_polygons)
                flat.extend(r)
            n_polygons += 1
    rings_ = _Rings(np.zeros((0, 2)), np.array(length, dtype=np.int64), np.array(plot, dtype=np.int64),
                    np.array(polygon, dtype=np.int64), np.ones(len(nested), dtype=bool))
    arr = _positions_array(flat, kind) if flat else None
    if arr is None:  # positions of several lengths (2-D and 3-D plots), or some not plain
        parts = []
        for k, polygons in enumerate(nested):
            a = _positions_array([pos for rings in polygons for r in rings for pos in r], kind)
            rings_.converted[k] = a is not None
            parts += [a[:, :2]] if a is not None else []
        keep = rings_.converted[rings_.plot]
        rings_.length, rings_.plot, rings_.polygon = rings_.length[keep], rings_.plot[keep], rings_.polygon[keep]
        arr = np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.float64 if kind == "f" else "U1")
    rings_.xy = np.ascontiguousarray(arr[:, :2])
    return rings_


def _plot_any(flags: np.ndarray, plot: np.ndarray, n: int) -> np.ndarray:
    """Per plot: whether any of ``flags`` (one per item, ``plot`` its plot) is set."""
    return np.bincount(plot, weights=flags, minlength=n)[:n] > 0


def _plain_polygons(types: list[str], coords: list[Any], wheres: list[str]) -> list[tuple[Any, bool]]:
    """(PlotGeometry or GeometryError, whether it may have been written with fewer than 6
    decimals) of polygonal geometries. Plain ones (lists of rings of [lon, lat(, z)] numbers
    within the limits) are checked (finite, in range, closed), built, validated and measured
    as arrays; the rest, and any that fails those checks, go ``_polygonal_geometry`` one by
    one, which names the first bad position as it always did."""
    nested = [_rings_of(c, 2 if t == "Polygon" else 3) for t, c in zip(types, coords)]
    fast = [k for k, rings in enumerate(nested)
            if rings is not None and sum(len(r) for polygon in rings for r in polygon) <= MAX_VERTICES_PER_PLOT]
    fast = [k for k, plain in zip(fast, _each([coords[k] for k in fast], _numbers_only)) if plain]
    rings = _ring_arrays([nested[k] for k in fast], "f")
    n = len(fast)
    ok = rings.converted.copy()
    x, y = rings.xy[:, 0], rings.xy[:, 1]
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(rings.xy).all(axis=1) | (np.abs(x) > 180) | (np.abs(y) > 90)
    ends = np.cumsum(rings.length)
    starts = ends - rings.length
    open_ = (rings.xy[starts] != rings.xy[ends - 1]).any(axis=1) if len(ends) else np.zeros(0, dtype=bool)
    ok &= ~_plot_any(bad, rings.position_plot(), n) & ~_plot_any(open_, rings.plot, n)
    scaled = rings.xy * 1e5  # within 1e-6 of an integer: maybe 5 decimals or fewer (the text decides)
    fine = ~(np.abs(scaled - np.rint(scaled)) <= 1e-6).all(axis=1)  # a position with 6 decimals or more
    coarse = ~_plot_any(fine, rings.position_plot(), n)  # a plot is judged by its most precise position
    geoms = _build_polygons(rings, ok, [types[k] for k in fast])
    out: list[Any] = [None] * len(types)
    for j, k in enumerate(fast):
        if ok[j]:
            out[k] = (geoms[j], bool(coarse[j]))
    for k in range(len(types)):
        if out[k] is None:
            try:
                out[k] = (_polygonal_geometry(types[k], coords[k], wheres[k]), True)
            except GeometryError as exc:
                out[k] = (exc, True)
    return _validated([o[0] for o in out], wheres, [o[1] for o in out])


def _build_polygons(rings: _Rings, ok: np.ndarray, types: list[str]) -> list[BaseGeometry | None]:
    """The (Multi)Polygon of each plot whose ``ok`` is set (None for the others): rings,
    polygons and multipolygons made by shapely's array constructors."""
    keep = ok[rings.plot]
    if not keep.any():
        return [None] * len(ok)
    length, plot, polygon = rings.length[keep], rings.plot[keep], rings.polygon[keep]
    xy = rings.xy[np.repeat(keep, rings.length)]
    ring_geoms = shapely.linearrings(xy, indices=np.repeat(np.arange(len(length)), length))
    first = np.r_[True, polygon[1:] != polygon[:-1]]
    polygon_dense = np.cumsum(first) - 1
    polygons = shapely.polygons(ring_geoms, indices=polygon_dense)
    polygon_plot = plot[first]
    out: list[BaseGeometry | None] = [None] * len(ok)
    multi = np.array([types[k] == "MultiPolygon" for k in polygon_plot], dtype=bool)
    for j, k in enumerate(polygon_plot[~multi].tolist()):
        out[k] = polygons[~multi][j]
    if multi.any():
        mp_plot = polygon_plot[multi]
        mp_first = np.r_[True, mp_plot[1:] != mp_plot[:-1]]
        multis = shapely.multipolygons(polygons[multi], indices=np.cumsum(mp_first) - 1)
        for j, k in enumerate(mp_plot[mp_first].tolist()):
            out[k] = multis[j]
    return out


def _validated(parsed: list[Any], wheres: list[str], coarse: list[bool]) -> list[tuple[Any, bool]]:
    """Built geometries (or an error already found) checked as ``_polygonal_geometry`` checks
    them, validity and size as arrays: PlotGeometry with its area, or GeometryError."""
    built = [k for k, g in enumerate(parsed) if isinstance(g, BaseGeometry)]
    geoms = np.array([parsed[k] for k in built], dtype=object)
    if len(built):
        good = shapely.is_valid(geoms) & ~shapely.is_empty(geoms)
        bounds = shapely.bounds(geoms)
    out = [(g, c) for g, c in zip(parsed, coarse)]
    sized = []
    for j, k in enumerate(built):
        try:
            if not good[j]:
                _check_valid(geoms[j], wheres[k])
            _check_extent(tuple(bounds[j]), wheres[k])
            sized.append(j)
        except GeometryError as exc:
            out[k] = (exc, coarse[k])
    areas = geodesic_areas_ha(geoms[sized]) if sized else []
    for j, area in zip(sized, areas):
        k = built[j]
        try:
            out[k] = (PlotGeometry(geometry=geoms[j], area_ha=_check_area(float(area), wheres[k])), coarse[k])
        except GeometryError as exc:
            out[k] = (exc, coarse[k])
    return out


def _geometry_head(geometry: Any, where: str) -> tuple[str, Any]:
    """(type, coordinates) of a GeoJSON geometry of a supported type with coordinates."""
    if not isinstance(geometry, dict):
        raise GeometryError(f"{where}: missing geometry")
    gtype = geometry.get("type")
    if gtype not in SUPPORTED_TYPES:
        raise GeometryError(f"{where}: unsupported geometry type {shown(gtype)} (expected Point, Polygon or MultiPolygon)")
    coords = geometry.get("coordinates")
    if coords is None or (isinstance(coords, list) and len(coords) == 0):
        raise GeometryError(f"{where}: empty geometry")
    return gtype, coords


def _point_geometry(coords: Any, properties: dict, where: str) -> Polygon:
    """A Point's circle of ``point_ha`` ha (analysis.md), or GeometryError."""
    lon, lat = _position(coords, f"{where} point")
    point_ha = properties.get("point_ha", DEFAULT_POINT_HA)
    if point_ha is None:
        point_ha = DEFAULT_POINT_HA
    if isinstance(point_ha, bool) or not isinstance(point_ha, (int, float)) or (
            isinstance(point_ha, float) and not math.isfinite(point_ha)):
        raise GeometryError(f"{where}: point_ha {shown(point_ha)} is not a number")
    if point_ha > MAX_POINT_HA:
        raise GeometryError(
            f"{where}: point_ha {shown(point_ha)} ha > {MAX_POINT_HA} ha: EUDR requires a polygon for plots above 4 ha"
        )
    if not 0.0 < point_ha < MAX_POINT_HA:
        raise GeometryError(f"{where}: point_ha {shown(point_ha)} out of range (0 < point_ha < {MAX_POINT_HA})")
    return point_circle(lon, lat, float(point_ha))


def _polygonal_geometry(gtype: str, coords: Any, where: str) -> PlotGeometry:
    """A (Multi)Polygon checked one position at one time (the path naming the first bad one)."""
    if count_positions(coords) > MAX_VERTICES_PER_PLOT:
        raise GeometryError(f"{where}: more than {MAX_VERTICES_PER_PLOT:,} positions; simplify the polygon "
                            "(a plot boundary needs far fewer)")
    if gtype == "Polygon":
        geom: BaseGeometry = _polygon(coords, where)
    else:
        if not isinstance(coords, list):
            raise GeometryError(f"{where}: MultiPolygon coordinates must be a list of polygons")
        geom = MultiPolygon([_polygon(p, f"{where} polygon {k}") for k, p in enumerate(coords)])
    _check_valid(geom, where)
    _check_extent(geom.bounds, where)
    return PlotGeometry(geometry=geom, area_ha=_check_area(geodesic_area_ha(geom), where))


def plot_geometry(features: list[tuple[Any, dict | None, str]]) -> PlotGeometry:
    """A plot made of several features: the union of their validated geometries."""
    parsed = [parse_geometry(g, p, w) for g, p, w in features]
    if len(parsed) == 1:
        return parsed[0]
    union = shapely.union_all([p.geometry for p in parsed])
    return PlotGeometry(
        geometry=union,
        warnings=[w for p in parsed for w in p.warnings],
        from_point=all(p.from_point for p in parsed),
    )


def centroid_lonlat(geom: BaseGeometry) -> tuple[float, float]:
    """A representative (lon, lat) of the plot: its centroid in degrees."""
    c = geom.centroid
    return float(c.x), float(c.y)
