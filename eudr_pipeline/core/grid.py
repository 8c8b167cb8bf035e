"""Lat/lon raster grids and the ellipsoidal area of their cells.

A grid is the lattice of a north-up EPSG:4326 raster: column ``c`` spans longitudes
``[x0 + c*dx, x0 + (c+1)*dx]`` and row ``r`` spans latitudes ``[y0 - (r+1)*dy, y0 - r*dy]``
(degrees; rows count southward). Every tile of one layer lies on the same grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# WGS84 ellipsoid
WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563
WGS84_B = WGS84_A * (1 - WGS84_F)
WGS84_E2 = WGS84_F * (2 - WGS84_F)
WGS84_E = math.sqrt(WGS84_E2)


@dataclass(frozen=True)
class Grid:
    """A north-up lat/lon grid: origin (x0 = west edge lon, y0 = north edge lat) and
    cell size (dx, dy > 0), all in degrees."""

    x0: float
    y0: float
    dx: float
    dy: float

    def same_lattice(self, other: "Grid", tol: float = 1e-6) -> bool:
        """True when both grids have the same cell size and aligned cell edges."""
        if abs(self.dx - other.dx) > tol * self.dx or abs(self.dy - other.dy) > tol * self.dy:
            return False
        cx = (other.x0 - self.x0) / self.dx
        cy = (self.y0 - other.y0) / self.dy
        return abs(cx - round(cx)) < 1e-4 and abs(cy - round(cy)) < 1e-4

    def col_of(self, lon: np.ndarray | float) -> np.ndarray:
        """Global column index of the cell containing longitude ``lon`` (degrees)."""
        return np.floor((np.asarray(lon, dtype=np.float64) - self.x0) / self.dx).astype(np.int64)

    def row_of(self, lat: np.ndarray | float) -> np.ndarray:
        """Global row index of the cell containing latitude ``lat`` (degrees)."""
        return np.floor((self.y0 - np.asarray(lat, dtype=np.float64)) / self.dy).astype(np.int64)

    def col_center_lon(self, col: np.ndarray) -> np.ndarray:
        """Longitude (degrees) of the centre of global column ``col``."""
        return self.x0 + (np.asarray(col, dtype=np.float64) + 0.5) * self.dx

    def row_center_lat(self, row: np.ndarray) -> np.ndarray:
        """Latitude (degrees) of the centre of global row ``row``."""
        return self.y0 - (np.asarray(row, dtype=np.float64) + 0.5) * self.dy

    def cell_area_m2(self, row: np.ndarray) -> np.ndarray:
        """Ellipsoidal (WGS84) area in m2 of the cells of global rows ``row``."""
        row = np.asarray(row, dtype=np.float64)
        north = self.y0 - row * self.dy
        south = north - self.dy
        return cell_area_m2(south, north, self.dx)


def _authalic_zone(lat_deg: np.ndarray) -> np.ndarray:
    """Area in m2 per radian of longitude of the WGS84 zone between the equator and
    latitude ``lat_deg`` (degrees), signed (negative south of the equator)."""
    s = np.sin(np.radians(lat_deg))
    es = WGS84_E * s
    return (WGS84_B**2 / 2.0) * (s / (1.0 - es * es) + np.arctanh(es) / WGS84_E)


def cell_area_m2(south_deg: np.ndarray, north_deg: np.ndarray, width_deg: float) -> np.ndarray:
    """Exact area in m2 on the WGS84 ellipsoid of the lat/lon rectangle between latitudes
    ``south_deg`` and ``north_deg`` and ``width_deg`` degrees of longitude wide."""
    north = np.asarray(north_deg, dtype=np.float64)
    south = np.asarray(south_deg, dtype=np.float64)
    return np.radians(width_deg) * np.abs(_authalic_zone(north) - _authalic_zone(south))
