"""Plot geometry: GeoJSON intake and validation, point circles, geodesic areas.

Coordinates are [lon, lat] in EPSG:4326 degrees. Areas are hectares on the WGS84
ellipsoid, computed with pyproj's geodesic polygon area (never shapely ``.area`` on
degrees, never a sphere).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
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
    bounds = np.searchsorted(ring_of, np.arange(len(rings) + 1))
    for k in range(len(rings)):
        a, b = bounds[k], bounds[k + 1]
        area, _ = GEOD.polygon_area_perimeter(xy[a:b, 0], xy[a:b, 1])
        out[owner[ring_part[k]]] += abs(area) if first_of_part[k] else -abs(area)
    return out / 10_000.0


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


def coordinate_decimals(values: np.ndarray) -> int:
    """The fewest decimals (0..6) that write every value exactly; 6 means 6 or more."""
    def exact(d: int) -> bool:
        scaled = values * 10.0**d
        return bool(np.all(np.abs(scaled - np.round(scaled)) <= 1e-10 * np.maximum(1.0, np.abs(scaled))))

    if not exact(5):  # the common case: full precision, one test
        return 6
    return next(d for d in range(6) if exact(d))


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


def _check_size(geom: BaseGeometry, where: str) -> None:
    """Refuse a plot that crosses the antimeridian, or exceeds MAX_PLOT_EXTENT_DEG or
    MAX_PLOT_AREA_HA, saying which."""
    w, s, e, n = geom.bounds
    if e - w > 180:
        raise GeometryError(f"{where}: the polygon spans longitudes {w:g} to {e:g}: it crosses the antimeridian, "
                            "which this service does not support; split it at 180 degrees into two features")
    if e - w > MAX_PLOT_EXTENT_DEG or n - s > MAX_PLOT_EXTENT_DEG:
        raise GeometryError(f"{where}: the plot spans {e - w:.3g} x {n - s:.3g} degrees; at most "
                            f"{MAX_PLOT_EXTENT_DEG:g} degree each way")
    area = geodesic_area_ha(geom)
    if area > MAX_PLOT_AREA_HA:
        raise GeometryError(f"{where}: the plot covers {area:,.0f} ha; a plot may cover at most {MAX_PLOT_AREA_HA:,.0f} ha")


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


def parse_geometry(geometry: Any, properties: dict | None, where: str) -> PlotGeometry:
    """Validate one GeoJSON geometry (analysis.md section 2) and return it as a
    (Multi)Polygon in lon/lat. A Point becomes a circle of ``properties.point_ha`` ha
    (default 1.0, 0 < point_ha < 4). Raises GeometryError naming ``where`` and the reason."""
    properties = properties or {}
    if not isinstance(geometry, dict):
        raise GeometryError(f"{where}: missing geometry")
    gtype = geometry.get("type")
    if gtype not in SUPPORTED_TYPES:
        raise GeometryError(f"{where}: unsupported geometry type {shown(gtype)} (expected Point, Polygon or MultiPolygon)")
    coords = geometry.get("coordinates")
    if coords is None or (isinstance(coords, list) and len(coords) == 0):
        raise GeometryError(f"{where}: empty geometry")
    warnings: list[str] = []
    if gtype == "Point":
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
        geom: BaseGeometry = point_circle(lon, lat, float(point_ha))
        flat = [lon, lat]
        from_point = True
    else:
        if count_positions(coords) > MAX_VERTICES_PER_PLOT:
            raise GeometryError(f"{where}: more than {MAX_VERTICES_PER_PLOT:,} positions; simplify the polygon "
                                "(a plot boundary needs far fewer)")
        if gtype == "Polygon":
            geom = _polygon(coords, where)
        else:
            if not isinstance(coords, list):
                raise GeometryError(f"{where}: MultiPolygon coordinates must be a list of polygons")
            geom = MultiPolygon([_polygon(p, f"{where} polygon {k}") for k, p in enumerate(coords)])
        _check_valid(geom, where)
        _check_size(geom, where)
        flat = shapely.get_coordinates(geom).ravel().tolist()
        from_point = False
    most = coordinate_decimals(np.asarray(flat, dtype=np.float64))
    if most < 6:
        warnings.append(
            f"{where}: coordinates have at most {most} decimals (< 6; about {111_000 * 10 ** -most:.2g} m precision)"
        )
    return PlotGeometry(geometry=geom, warnings=warnings, from_point=from_point)


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
