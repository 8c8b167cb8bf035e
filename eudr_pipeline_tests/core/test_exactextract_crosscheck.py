"""Cross-check against exactextract, an independent exact implementation of coverage
fractions, with an ellipsoidal cell-area weight raster computed by pyproj.

Agreement is held to analysis.md's tolerance: max(0.0001 ha, 0.1 %)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from exactextract import exact_extract
from pyproj import Geod

from eudr_pipeline.core.analysis import AnalysisOptions, analyze_plots
from eudr_pipeline.core.intake import request_from_feature
from eudr_pipeline.layers.source_directory import open_layer_set
from eudr_pipeline_tests.conftest import FIXTURES, write_tif

GEOD = Geod(ellps="WGS84")
DOM_REP = FIXTURES / "hansen_dom_rep"


def pyproj_cell_area_raster(like: Path, out: Path) -> Path:
    """Per-cell WGS84 area (m2) of ``like``'s grid, each row's cell measured by pyproj as a
    polygon densified along its parallels (so geodesic chords follow the parallel)."""
    with rasterio.open(like) as ds:
        t, (h, w) = ds.transform, ds.shape
    dx, dy = t.a, -t.e
    areas = np.empty(h)
    for r in range(h):
        n, s = t.f - r * dy, t.f - (r + 1) * dy
        xs = np.linspace(0.0, dx, 64)
        lons = np.concatenate([xs, xs[::-1]])
        lats = np.concatenate([np.full(64, s), np.full(64, n)])
        areas[r] = abs(GEOD.polygon_area_perimeter(lons, lats)[0])
    return write_tif(out, np.repeat(areas[:, None], w, axis=1).astype(np.float64), t.c, t.f, dx, dy)


def random_plots(bounds, n: int, seed: int) -> list:
    """Irregular polygons (some with holes) and 1-3.9 ha point circles inside ``bounds``."""
    rng = np.random.default_rng(seed)
    w, s, e, nn = bounds
    plots = []
    for k in range(n):
        cx, cy = rng.uniform(w + 0.003, e - 0.003), rng.uniform(s + 0.003, nn - 0.003)
        if k % 5 == 4:
            plots.append({"type": "Feature", "properties": {"point_ha": float(rng.uniform(0.5, 3.9))},
                          "geometry": {"type": "Point", "coordinates": [cx, cy]}})
            continue
        m = int(rng.integers(5, 40))
        ang = np.sort(rng.uniform(0, 2 * np.pi, m))
        rad = rng.uniform(0.0005, 0.0025) * rng.uniform(0.6, 1.0, m)
        ring = [[cx + r * np.cos(a), cy + r * np.sin(a)] for r, a in zip(rad, ang)]
        g = shapely.Polygon(ring)
        if k % 3 == 0:
            g = g.difference(shapely.Point(cx, cy).buffer(0.0002))
        g = shapely.make_valid(g)
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            continue
        plots.append({"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(g)})
    return json.loads(json.dumps(plots))  # plain lists, as a GeoJSON file would give


def ee_weighted(raster: Path, weights: Path, geoms: list) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each geometry: (cell values, coverage x cell area m2) from exactextract."""
    gdf = gpd.GeoDataFrame(geometry=geoms, crs=4326)
    out = exact_extract(str(raster), gdf, ["values", "coverage", "weights"], weights=str(weights), output="pandas")
    return [(np.asarray(v), np.asarray(c) * np.asarray(wt)) for v, c, wt in zip(out["values"], out["coverage"], out["weights"])]


def tolerance(expected: float) -> float:
    return max(1e-4, 1e-3 * abs(expected))


@pytest.fixture(scope="module")
def dom_rep_sources(tmp_path_factory) -> Path:
    """A layer source directory from the real Hansen v1.11 clips, with a forest map derived
    from tree cover (> 30 %) on the same grid."""
    root = tmp_path_factory.mktemp("domrep")
    h = root / "hansen_gfc" / "v1.11"
    h.mkdir(parents=True)
    for f in DOM_REP.glob("*.tif"):
        shutil.copy(f, h / f.name)
    tc = h / "Hansen_GFC-2023-v1.11_treecover2000_clip.tif"
    with rasterio.open(tc) as ds:
        cover, t = ds.read(1), ds.transform
    write_tif(root / "jrc_gfc2020" / "V3" / "forest.tif", ((cover > 30) & (cover <= 100)).astype(np.uint8), t.c, t.f, t.a, -t.e)
    pyproj_cell_area_raster(tc, root / "weights.tif")
    return root


def test_hansen_clip_all_metrics_match_exactextract(dom_rep_sources):
    root = dom_rep_sources
    h = root / "hansen_gfc" / "v1.11"
    loss_tif = h / "Hansen_GFC-2023-v1.11_lossyear_clip.tif"
    with rasterio.open(loss_tif) as ds:
        b = ds.bounds
    feats = random_plots((b.left, b.bottom, b.right, b.top), 120, seed=11)
    layers = open_layer_set(root)
    try:
        reqs = [request_from_feature(f, i, harvest_date=dt.date(2023, 12, 31)) for i, f in enumerate(feats)]
        results = analyze_plots(reqs, layers, AnalysisOptions())
    finally:
        layers.close()
    geoms = [r.geometry for r in reqs]
    weights = root / "weights.tif"
    loss = ee_weighted(loss_tif, weights, geoms)
    cover = ee_weighted(h / "Hansen_GFC-2023-v1.11_treecover2000_clip.tif", weights, geoms)
    forest = ee_weighted(root / "jrc_gfc2020" / "V3" / "forest.tif", weights, geoms)
    checked_loss = 0
    for r, req, (lv, lw), (tv, _), (fv, fw) in zip(results, reqs, loss, cover, forest):
        a = r.analysis
        assert r.error is None
        expected_forest = float((fw * (fv == 1)).sum()) / 1e4
        assert abs(a["forest_area_2020"] - expected_forest) <= tolerance(expected_forest)
        geodesic = abs(GEOD.geometry_area_perimeter(shapely.orient_polygons(req.geometry))[0]) / 1e4
        assert abs(a["areaHa"] - geodesic) <= 1e-4 * geodesic
        for y in (2021, 2022, 2023):
            exp_h = float((lw * (lv == y - 2000) * (tv > 10)).sum()) / 1e4
            exp_j = float((lw * (lv == y - 2000) * (fv == 1)).sum()) / 1e4
            assert abs(a["deforestation"]["total_yearly"][str(y)] - exp_h) <= tolerance(exp_h), (r.plot_id, y)
            assert abs(a["deforestation"]["total_yearly_jrc"][str(y)] - exp_j) <= tolerance(exp_j), (r.plot_id, y)
            checked_loss += exp_j > 0
    assert checked_loss >= 5  # the clip has real post-2020 loss under several plots


def test_whisp_10m_clip_every_value_class_matches(tmp_path):
    """On the real 10 m band stack: the coverage-weighted area of every value of each layer."""
    from eudr_pipeline.core.coverage import coverage_cells

    src = FIXTURES / "whisp_civ_10m" / "sources"
    layers = open_layer_set(src)
    plot = json.loads((FIXTURES / "whisp_civ_10m" / "plot_10ha.geojson").read_text())["features"][0]
    with rasterio.open(next((src / "hansen_gfc").rglob("*.tif"))) as ds:
        b = ds.bounds
    feats = [plot] + random_plots((b.left, b.bottom, b.right, b.top), 12, seed=5)
    geoms = np.array([request_from_feature(f, i).geometry for i, f in enumerate(feats)], dtype=object)
    weights = pyproj_cell_area_raster(next((src / "hansen_gfc").rglob("*.tif")), tmp_path / "w.tif")
    try:
        for layer in (layers.forest_2020, layers.loss_year, layers.degradation_year):
            cells = coverage_cells(geoms, layer.grid)
            values, _ = layer.sample(cells.row, cells.col)
            w = cells.fraction * layer.grid.cell_area_m2(cells.row)
            oracle = ee_weighted(Path(layer.tiles[0].path), weights, list(geoms))
            for k, (ev, ew) in enumerate(oracle):
                mine = cells.owner == k
                for v in np.unique(ev):
                    exp = float(ew[ev == v].sum()) / 1e4
                    got = float(w[mine & (values == v)].sum()) / 1e4
                    assert abs(got - exp) <= tolerance(exp), (layer.name, k, v)
    finally:
        layers.close()
