"""Datasets added through the registry alone (no code): a generated commodity probability
map (a threshold) and a generated date-encoded alert layer (RADD-like: days since an
epoch, counted after 2020-12-31 up to the analysis end, on 2020 forest), cross-checked
against exactextract with pyproj cell areas; the TMF deforestation series; a national
dataset applied by country; and the registry's validation."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from eudr_pipeline.core.analysis import analyze_plots
from eudr_pipeline.core.intake import request_from_feature
from eudr_pipeline.demo import GFC_DX, NORTH, WEST, write_demo
from eudr_pipeline.errors import SettingsError
from eudr_pipeline.layers import reference_layers
from eudr_pipeline.layers.registry import load_registry
from eudr_pipeline.layers.source_directory import open_layer_set
from eudr_pipeline.layers.store import LayerStore
from eudr_pipeline_tests.conftest import write_tif
from eudr_pipeline_tests.core.test_exactextract_crosscheck import (
    ee_weighted,
    pyproj_cell_area_raster,
    random_plots,
    tolerance,
)

EXTRA = """
[datasets.cocoa_probability]
kind = "raster"
title = "Cocoa probability (generated)"
licence = "CC BY 4.0"
bands = [{ name = "probability", valid_range = [0, 100] }]
[[datasets.cocoa_probability.indicators]]
name = "cocoa_likely"
kind = "area_where"
min = 65

[datasets.radd_alerts]
kind = "raster"
title = "Alerts (generated, RADD encoding)"
bands = [{ name = "alert", valid_range = [20000, 39999] }]
[[datasets.radd_alerts.indicators]]
name = "radd_alerts"
kind = "area_per_year"
encoding = "days_since"
epoch = 2014-12-31
modulo = 10000
within_forest_2020 = true

[datasets.brazil_forest]
kind = "raster"
title = "A national map of Brazil (generated)"
bands = [{ name = "classes", valid_range = [0, 9] }]
[[datasets.brazil_forest.indicators]]
name = "brazil_forest"
kind = "area_where"
values = [3]
countries = ["BR"]
"""
EPOCH = dt.date(2014, 12, 31)
END = dt.date(2024, 6, 30)
COCOA_DX = 0.0003  # a coarser grid on another lattice than the demo's 10 m forest map


@pytest.fixture()
def registry(tmp_path):
    """The shipped registry plus EXTRA, in force for the test, then the shipped one again."""
    override = tmp_path / "datasets.toml"
    override.write_text(EXTRA)
    reference_layers.use_registry(load_registry(override))
    yield
    reference_layers.use_registry(load_registry())


def alert_values(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """RADD-style alerts: confidence digit 2 or 3, then days since 2014-12-31 (0: none),
    in blocks, dated 2019..2025 so that some fall before the cut-off and after END."""
    blocks = rng.integers(0, 7, (shape[0] // 20 + 1, shape[1] // 20 + 1))
    days = np.array([0, 1500, 2300, 2700, 3100, 3500, 3700])[blocks]  # 2019-02 .. 2025-02
    days = np.repeat(np.repeat(days, 20, 0), 20, 1)[: shape[0], : shape[1]]
    days = days + rng.integers(0, 30, shape) * (days > 0)
    return np.where(days > 0, rng.choice([20000, 30000], shape) + days, 0).astype(np.uint16)


def counted(values: np.ndarray, end: dt.date) -> np.ndarray:
    """Which alert values count (decoded with the datetime module, not numpy)."""
    out = np.zeros(values.shape, bool)
    for v in np.unique(values[values > 0]).tolist():
        day = EPOCH + dt.timedelta(days=v % 10000)
        out[values == v] = dt.date(2020, 12, 31) < day <= end
    return out


@pytest.fixture()
def sources(tmp_path, registry) -> Path:
    src, _ = write_demo(tmp_path / "demo")
    src = src.parent / "sources"
    rng = np.random.default_rng(5)
    n = int(0.04 / COCOA_DX)
    cocoa = np.repeat(np.repeat(rng.integers(0, 101, (n // 4 + 1, n // 4 + 1)), 4, 0), 4, 1)[:n, :n].astype(np.uint8)
    write_tif(src / "cocoa_probability" / "v1" / "cocoa.tif", cocoa, WEST, NORTH, COCOA_DX)
    with rasterio.open(next((src / "jrc_gfc2020" / "V3").glob("*_W.tif"))) as ds:
        width = ds.width * 2  # the demo's forest grid: two tiles
    alerts = alert_values(rng, (width, width))
    write_tif(src / "radd_alerts" / "v2025" / "radd.tif", alerts, WEST, NORTH, GFC_DX)
    forest = np.zeros((width, width), np.uint8)
    for f in sorted((src / "jrc_gfc2020" / "V3").glob("*.tif")):
        with rasterio.open(f) as ds:
            col0 = round((ds.transform.c - WEST) / GFC_DX)
            forest[:, col0:col0 + ds.width] = ds.read(1)
    write_tif(src.parent / "check" / "alerts_counted.tif", (counted(alerts, END) & (forest == 1)).astype(np.uint8),
              WEST, NORTH, GFC_DX)
    write_tif(src / "brazil_forest" / "v1" / "classes.tif", np.full((100, 100), 3, np.uint8), WEST, NORTH, 0.0004)
    pyproj_cell_area_raster(src / "cocoa_probability" / "v1" / "cocoa.tif", src.parent / "check" / "w_cocoa.tif")
    pyproj_cell_area_raster(src.parent / "check" / "alerts_counted.tif", src.parent / "check" / "w_gfc.tif")
    return src


def analyse(layers, feats):
    try:
        reqs = [request_from_feature(f, i, harvest_date=END) for i, f in enumerate(feats)]
        return reqs, analyze_plots(reqs, layers)
    finally:
        layers.close()


def test_registry_datasets_match_exactextract(sources):
    feats = random_plots((-5.299, 6.801, -5.261, 6.839), 60, seed=3)
    reqs, results = analyse(open_layer_set(sources), feats)
    check = sources.parent / "check"
    geoms = [r.geometry for r in reqs]
    cocoa = ee_weighted(sources / "cocoa_probability" / "v1" / "cocoa.tif", check / "w_cocoa.tif", geoms)
    alerts = ee_weighted(check / "alerts_counted.tif", check / "w_gfc.tif", geoms)
    seen_alerts = 0
    for r, (cv, cw), (av, aw) in zip(results, cocoa, alerts):
        ind = r.analysis["indicators"]
        expected = float((cw * (cv >= 65)).sum()) / 1e4
        assert abs(ind["cocoa_likely"]["area_ha"] - expected) <= tolerance(expected), r.plot_id
        expected = float((aw * (av == 1)).sum()) / 1e4
        got = ind["radd_alerts"]
        assert abs(got["area_ha"] - expected) <= tolerance(expected), r.plot_id
        assert set(got["yearly"]) == {"2021", "2022", "2023", "2024"}
        assert abs(sum(got["yearly"].values()) - got["area_ha"]) <= 1e-5
        seen_alerts += expected > 0.01
        assert ind["brazil_forest"]["area_ha"] is None and "not_applicable" in ind["brazil_forest"]
    assert seen_alerts >= 10
    layers = {s["layer"]: s["data_version"] for s in results[0].analysis["sources"]}
    assert layers["cocoa_probability"] == "v1" and layers["radd_alerts"] == "v2025"


def test_registry_datasets_through_the_store_give_the_same_numbers(sources, tmp_path):
    store = LayerStore(tmp_path / "store")
    for layer in reference_layers.ALL_LAYERS:
        assert store.ingest(sources, layer).status == "ok", layer
    feats = random_plots((-5.299, 6.801, -5.261, 6.839), 20, seed=4)
    _, raw = analyse(open_layer_set(sources), feats)
    _, stored = analyse(store.open_layer_set(), feats)
    assert [r.analysis["indicators"] for r in stored] == [r.analysis["indicators"] for r in raw]


def test_a_national_dataset_applies_in_its_country(sources):
    brazil = {"type": "Feature", "properties": {},
              "geometry": {"type": "Polygon", "coordinates": [[[-47.9, -15.8], [-47.89, -15.8], [-47.89, -15.79],
                                                               [-47.9, -15.79], [-47.9, -15.8]]]}}
    layers = open_layer_set(sources)
    layers.extra_rasters["brazil_forest/classes"].close()
    layers.extra_rasters["brazil_forest/classes"] = type(layers.extra_rasters["brazil_forest/classes"]).open(
        "brazil_forest_classes", "v1", [str(write_tif(sources.parent / "br.tif", np.full((100, 100), 3, np.uint8),
                                                      -47.95, -15.75, 0.001))])
    layers.forest_2020 = layers.loss_year = None  # only the indicator: the plot lies outside the demo rasters
    reqs = [request_from_feature(brazil, 0, harvest_date=END)]
    reqs[0].checks = ("protected-area",)
    [result] = analyze_plots(reqs, layers)
    layers.close()
    got = result.analysis["indicators"]["brazil_forest"]
    assert got["area_ha"] == pytest.approx(result.area_ha, rel=1e-6) and got["percentage"] == pytest.approx(100.0)


def test_the_tmf_deforestation_series_comes_with_its_band(tmp_path):
    """TMF DeforestationYear (30 m) on 2020 forest (10 m): evaluated on the forest grid with
    the year sampled at each forest cell's centre, checked against exactextract over a
    raster of that condition built here cell by cell."""
    from eudr_pipeline.demo import HANSEN_DX

    src, plots = write_demo(tmp_path / "demo")
    with rasterio.open(next((src / "jrc_tmf" / "v1_2025").glob("*DegradationYear*"))) as ds:
        profile, data = ds.profile, ds.read(1)
    deforested = np.where(data == 2022, 2022, 0).astype(data.dtype)
    with rasterio.open(src / "jrc_tmf" / "v1_2025" / "JRC_TMF_DeforestationYear_v1_2025_demo.tif", "w", **profile) as ds:
        ds.write(deforested, 1)
    forest = np.hstack([rasterio.open(f).read(1) for f in sorted((src / "jrc_gfc2020" / "V3").glob("*.tif"))[::-1]])
    centres = (np.arange(forest.shape[1]) + 0.5) * GFC_DX
    cols = np.minimum((centres // HANSEN_DX).astype(int), deforested.shape[1] - 1)
    rows = np.minimum((centres // HANSEN_DX).astype(int), deforested.shape[0] - 1)
    year_at_centre = deforested[rows][:, cols]
    condition = write_tif(tmp_path / "cond.tif", ((year_at_centre == 2022) & (forest == 1)).astype(np.uint8),
                          WEST, NORTH, GFC_DX)
    weights = pyproj_cell_area_raster(condition, tmp_path / "w.tif")
    feats = json.loads(plots.read_text())["features"]
    reqs, results = analyse(open_layer_set(src), feats)
    reqs = [q for q in reqs if q.geometry is not None]  # the demo's self-intersecting drawing is refused
    expected = {r.plot_id: float((w * (v == 1)).sum()) / 1e4
                for r, (v, w) in zip(reqs, ee_weighted(condition, weights, [q.geometry for q in reqs]))}
    checked = 0
    for r in results:
        if r.analysis is None or "indicators" not in r.analysis:
            continue
        series = r.analysis["indicators"]["tmf_deforestation"]
        assert series["dataset"] == "jrc_tmf" and set(series["yearly"]) == {"2021", "2022", "2023", "2024"}
        assert abs(series["yearly"]["2022"] - expected[r.plot_id]) <= tolerance(expected[r.plot_id]), r.plot_id
        checked += expected[r.plot_id] > 1.0
    assert checked >= 1  # demo-05's 2022 degradation patch, here as deforestation


def test_the_registry_is_validated(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[datasets.x]\nkind = "raster"\ntitle = "x"\nbands = [{ name = "b" }]\n'
                   '[[datasets.x.indicators]]\nname = "i"\nkind = "area_where"\n')
    with pytest.raises(SettingsError, match="area_where indicator needs values, min or max"):
        load_registry(bad)
    bad.write_text('[datasets.x]\nkind = "mesh"\ntitle = "x"\n')
    with pytest.raises(SettingsError, match="datasets.x.kind"):
        load_registry(bad)
    bad.write_text('[datasets.Bad-Name]\nkind = "vector"\ntitle = "x"\n')
    with pytest.raises(SettingsError, match="Bad-Name"):
        load_registry(bad)
    good = tmp_path / "good.toml"
    good.write_text('[datasets.wdpa]\nkind = "vector"\nbuiltin = true\ntitle = "My WDPA mirror"\n')
    assert load_registry(good).datasets["wdpa"].title == "My WDPA mirror"  # an entry replaced
    assert "hansen_gfc" in load_registry(good).datasets
