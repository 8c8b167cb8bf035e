"""Exact coverage fractions against shapely's cell-by-cell polygon intersection."""

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from eudr_pipeline.core.coverage import coverage_cells
from eudr_pipeline.core.grid import Grid

GRID = Grid(x0=0.0, y0=1.0, dx=0.1, dy=0.1)


def oracle(geom, grid: Grid) -> dict[tuple[int, int], float]:
    """Every cell's fraction by brute-force polygon intersection (planar, grid units)."""
    w, s, e, n = geom.bounds
    out = {}
    for r in range(int(np.floor((grid.y0 - n) / grid.dy)) - 1, int(np.ceil((grid.y0 - s) / grid.dy)) + 1):
        for c in range(int(np.floor((w - grid.x0) / grid.dx)) - 1, int(np.ceil((e - grid.x0) / grid.dx)) + 1):
            cell = box(grid.x0 + c * grid.dx, grid.y0 - (r + 1) * grid.dy, grid.x0 + (c + 1) * grid.dx, grid.y0 - r * grid.dy)
            f = geom.intersection(cell).area / cell.area
            if f > 1e-12:
                out[(r, c)] = f
    return out


def as_dict(cells, owner=0):
    out: dict[tuple[int, int], float] = {}
    for o, r, c, f in zip(cells.owner, cells.row, cells.col, cells.fraction):
        if o == owner:
            out[(int(r), int(c))] = out.get((int(r), int(c)), 0.0) + float(f)
    return out


def assert_same(ours: dict, ref: dict, tol=1e-9):
    keys = set(ours) | set(ref)
    worst = max(abs(ours.get(k, 0.0) - ref.get(k, 0.0)) for k in keys)
    assert worst < tol, worst


@pytest.mark.parametrize(
    "geom",
    [
        box(0.05, 0.05, 0.25, 0.15),  # straddles cells
        box(0.1, 0.2, 0.3, 0.4),  # exactly on grid lines
        Polygon([(0.05, 0.05), (0.35, 0.05), (0.05, 0.35)]),  # diagonal
        box(0.0, 0.0, 0.3, 0.3).difference(box(0.1, 0.1, 0.2, 0.2)),  # hole on grid lines
        box(0.0, 0.0, 0.5, 0.5).difference(box(0.13, 0.17, 0.31, 0.33)),  # hole off grid
        MultiPolygon([box(0.01, 0.01, 0.04, 0.04), box(0.52, 0.61, 0.77, 0.93)]),  # far-apart parts
        box(0.21, 0.31, 0.2101, 0.7),  # thinner than a cell
        Polygon([(0.11, 0.11), (0.19, 0.12), (0.18, 0.19)]),  # inside one cell
        box(0.05, 0.05, 0.25, 0.15).reverse(),  # clockwise input
    ],
)
def test_fractions_match_brute_force(geom):
    cells = coverage_cells(np.array([geom], dtype=object), GRID)
    assert_same(as_dict(cells), oracle(geom, GRID))
    assert np.all((cells.fraction > 0) & (cells.fraction <= 1.0))


def test_many_random_polygons_at_once():
    rng = np.random.default_rng(7)
    geoms = []
    for _ in range(60):
        c = shapely.Point(rng.uniform(0, 1.5), rng.uniform(-0.5, 1.0))
        g = shapely.buffer(c, rng.uniform(0.005, 0.25), quad_segs=int(rng.integers(1, 9)))
        if rng.random() < 0.3:
            g = g.difference(shapely.buffer(c, rng.uniform(0.001, 0.004)))
        geoms.append(g)
    geoms = np.array(geoms, dtype=object)
    cells = coverage_cells(geoms, GRID)
    for k in (0, 13, 29, 59):
        assert_same(as_dict(cells, k), oracle(geoms[k], GRID))
    # the fractions add up to each polygon's area in cells, every one
    total = np.bincount(cells.owner, cells.fraction, minlength=len(geoms)) * GRID.dx * GRID.dy
    np.testing.assert_allclose(total, shapely.area(geoms), rtol=1e-10, atol=1e-15)


def test_real_grid_float_noise():
    """On a real 10 m grid far from the origin, a grid-aligned square has fraction 1 per cell."""
    g = Grid(x0=-10.0, y0=10.0, dx=8.983152841195215e-05, dy=8.983152841195215e-05)
    c0, r0 = 52345, 36789
    sq = box(g.x0 + c0 * g.dx, g.y0 - (r0 + 10) * g.dy, g.x0 + (c0 + 10) * g.dx, g.y0 - r0 * g.dy)
    cells = coverage_cells(np.array([sq], dtype=object), g)
    full = cells.fraction > 0.5
    assert full.sum() == 100
    np.testing.assert_allclose(cells.fraction[full], 1.0, atol=1e-6)
    assert cells.fraction[~full].sum() < 1e-5
    assert set(zip(cells.row[full].tolist(), cells.col[full].tolist())) == {
        (r0 + i, c0 + j) for i in range(10) for j in range(10)}
