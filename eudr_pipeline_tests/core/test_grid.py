"""Ellipsoidal cell areas against known numbers, GFW's area raster and pyproj."""

import numpy as np
import rasterio
from pyproj import Geod

from eudr_pipeline.core.grid import Grid, cell_area_m2
from eudr_pipeline_tests.conftest import FIXTURES


def test_known_cell_areas():
    # shared/data/real/README.md: 0.00025 deg cell = 769.317 m2 at the equator, 388.549 m2 at 60 deg
    assert abs(cell_area_m2(0.0, 0.00025, 0.00025) - 769.317) < 1e-3
    assert abs(cell_area_m2(60.0, 60.00025, 0.00025) - 388.549) < 1e-3


def test_matches_gfw_area_raster():
    """Global Forest Watch's per-pixel area raster of the Hansen grid is an independent oracle."""
    with rasterio.open(FIXTURES / "gfw_riau" / "10N_100E_area_cols1000-1003.tif") as ds:
        gfw = ds.read(1).astype(np.float64)
        t = ds.transform
    grid = Grid(t.c, t.f, t.a, -t.e)
    ours = grid.cell_area_m2(np.arange(gfw.shape[0]))
    ok = np.isfinite(gfw[:, 0])
    assert ok.sum() > 2000
    # the raster is float32: ~1e-4 m2 resolution at 770 m2
    assert np.abs(gfw[ok, 0] - ours[ok]).max() < 2e-4


def test_matches_pyproj_geodesic_area_of_densified_cells():
    geod = Geod(ellps="WGS84")
    for lat in (-45.0, 0.0, 12.3, 59.9, 75.0):
        s, n, w, width = lat, lat + 0.01, 10.0, 0.01
        lons = np.concatenate([np.linspace(w, w + width, 200), np.full(50, w + width), np.linspace(w + width, w, 200), np.full(50, w)])
        lats = np.concatenate([np.full(200, s), np.linspace(s, n, 50), np.full(200, n), np.linspace(n, s, 50)])
        # edges along parallels must follow the parallel: densify heavily so geodesic chords hug it
        area, _ = geod.polygon_area_perimeter(lons, lats)
        assert abs(abs(area) - cell_area_m2(s, n, width)) / abs(area) < 1e-6


def test_same_lattice():
    g = Grid(-5.0, 7.0, 0.00025, 0.00025)
    assert g.same_lattice(Grid(-5.0 + 7 * 0.00025, 7.0 - 3 * 0.00025, 0.00025, 0.00025))
    assert not g.same_lattice(Grid(-5.0 + 0.0001, 7.0, 0.00025, 0.00025))
    assert not g.same_lattice(Grid(-5.0, 7.0, 0.0001, 0.0001))
