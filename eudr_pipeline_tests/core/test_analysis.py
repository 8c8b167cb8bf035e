"""Per-plot metrics on layers whose answers are known by hand (analysis.md section 3).

Expected areas come from pyproj's geodesic area of the exact expected geometry (an
independent computation), never from the pipeline's own earlier output."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import box

from eudr_pipeline.core.analysis import AnalysisOptions, analyze_plots
from eudr_pipeline.core.intake import request_from_feature
from eudr_pipeline.errors import LayerSourceError
from eudr_pipeline.layers.source_directory import open_layer_set
from eudr_pipeline_tests.conftest import box_feature, write_tif

GEOD = Geod(ellps="WGS84")
FINE = 0.0001  # forest map cell (deg)
COARSE = 0.0003  # loss/tree cover/degradation cell (deg): 3 x 3 fine cells, same origin


def geo_ha(geom) -> float:
    geom = shapely.orient_polygons(geom, exterior_cw=False)
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e4


def close(actual: float, expected: float) -> bool:
    """The contract's tolerance: max(0.0001 ha, 0.1 %)."""
    return abs(actual - expected) <= max(1e-4, 1e-3 * abs(expected))


def make_sources(root: Path, x0: float, y0: float, size_deg: float = 0.02, forest=None, loss=None, cover=None,
                 degradation=None, gfc_tiles: int = 1, hansen_version: str = "v1.12", wdpa=None, landmark=None,
                 regulations: str | None = None, gfc_nodata=None) -> Path:
    nf = int(round(size_deg / FINE))
    nc = int(round(size_deg / COARSE))
    forest = np.ones((nf, nf), np.uint8) if forest is None else forest(nf)
    split = nf // gfc_tiles
    for t in range(gfc_tiles):
        c0, c1 = t * split, (nf if t == gfc_tiles - 1 else (t + 1) * split)
        write_tif(root / "jrc_gfc2020" / "V3" / f"gfc_{t}.tif", forest[:, c0:c1], x0 + c0 * FINE, y0, FINE, nodata=gfc_nodata)
    year = {"v1.12": 2024, "v1.11": 2023}[hansen_version]
    loss = np.zeros((nc, nc), np.uint8) if loss is None else loss(nc)
    write_tif(root / "hansen_gfc" / hansen_version / f"Hansen_GFC-{year}-{hansen_version}_lossyear_x.tif", loss, x0, y0, COARSE, nodata=255)
    if cover is not None:
        write_tif(root / "hansen_gfc" / hansen_version / f"Hansen_GFC-{year}-{hansen_version}_treecover2000_x.tif", cover(nc), x0, y0, COARSE, nodata=255)
    if degradation is not None:
        write_tif(root / "jrc_tmf" / "v1_2025" / "JRC_TMF_DegradationYear_x.tif", degradation(nc), x0, y0, COARSE)
    for name, feats in (("wdpa", wdpa), ("landmark", landmark)):
        if feats is not None:
            d = root / name / "2025-01"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{name}.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    if regulations is not None:
        (root / "wdpa" / "2025-01" / "regulations.csv").write_text(regulations)
    return root


def run(sources: Path, features: list[dict], end: dt.date = dt.date(2024, 12, 31), **opts):
    layers = open_layer_set(sources)
    try:
        reqs = [request_from_feature(f, i, harvest_date=end) for i, f in enumerate(features)]
        return analyze_plots(reqs, layers, AnalysisOptions(**opts))
    finally:
        layers.close()


@pytest.mark.parametrize("lat", [0.0, 60.0])
def test_one_hectare_square_all_forest(tmp_path, lat):
    """A 100 m x 100 m square (not grid-aligned) at the equator and at 60 deg: areaHa and
    forest area both equal pyproj's geodesic area."""
    x0, y0 = 10.0, lat + 0.01
    src = make_sources(tmp_path, x0, y0)
    lon0, lat0 = 10.00537, lat - 0.00211
    lon1 = GEOD.fwd(lon0, lat0, 90, 100.0)[0]
    lat1 = GEOD.fwd(lon0, lat0, 0, 100.0)[1]
    sq = box(lon0, lat0, lon1, lat1)
    [r] = run(src, [box_feature(*sq.bounds)])
    expected = geo_ha(sq)
    assert expected == pytest.approx(1.0, rel=0.01)
    assert r.analysis["areaHa"] == pytest.approx(expected, rel=1e-4)
    assert close(r.analysis["forest_area_2020"], expected)
    assert r.analysis["forest_percentage_2020"] == pytest.approx(100.0, abs=0.1)
    assert r.analysis["risk_level"] == "Low"


def test_plot_half_on_forest(tmp_path):
    x0, y0 = -60.0, -3.0
    half = lambda n: np.concatenate([np.ones((n, n // 2), np.uint8), np.zeros((n, n - n // 2), np.uint8)], axis=1)  # noqa: E731
    src = make_sources(tmp_path, x0, y0, forest=half)
    edge = x0 + 100 * FINE  # forest is west of this longitude
    plot = box(edge - 0.00123, y0 - 0.0157, edge + 0.00123, y0 - 0.0111)
    [r] = run(src, [box_feature(*plot.bounds)])
    expected = geo_ha(box(plot.bounds[0], plot.bounds[1], edge, plot.bounds[3]))
    assert close(r.analysis["forest_area_2020"], expected)
    assert r.analysis["forest_percentage_2020"] == pytest.approx(50.0, abs=0.05)


def test_hole_and_multipolygon_across_two_tiles(tmp_path):
    x0, y0 = 20.0, 5.0
    one = make_sources(tmp_path / "one", x0, y0, gfc_tiles=1)
    two = make_sources(tmp_path / "two", x0, y0, gfc_tiles=2)
    tile_edge = x0 + 100 * FINE
    outer = (tile_edge - 0.0031, y0 - 0.0123, tile_edge + 0.0027, y0 - 0.0071)
    hole = (tile_edge - 0.0011, y0 - 0.0101, tile_edge + 0.0013, y0 - 0.0089)
    other = (tile_edge + 0.0041, y0 - 0.0191, tile_edge + 0.0052, y0 - 0.0170)
    f = box_feature(*outer, holes=[hole])
    f["geometry"] = {"type": "MultiPolygon", "coordinates": [f["geometry"]["coordinates"],
                                                             box_feature(*other)["geometry"]["coordinates"]]}
    [a] = run(one, [f])
    [b] = run(two, [f])
    expected = geo_ha(box(*outer)) - geo_ha(box(*hole)) + geo_ha(box(*other))
    assert a.analysis["areaHa"] == pytest.approx(expected, rel=1e-6)
    assert close(a.analysis["forest_area_2020"], expected)
    assert b.analysis["forest_area_2020"] == pytest.approx(a.analysis["forest_area_2020"], abs=1e-6)


def _loss_block(nc: int, year_of_row=lambda r: 22) -> np.ndarray:
    a = np.zeros((nc, nc), np.uint8)
    for r in range(10, 20):
        a[r, 10:20] = year_of_row(r)
    return a


def test_two_loss_series_on_different_grids(tmp_path):
    """Hansen series on the 0.0003 grid with the canopy test; JRC series on the 0.0001 grid
    with [forest 2020], loss sampled at fine-cell centres."""
    x0, y0 = 30.0, 1.0
    # loss 2022 in coarse rows 10-14, 2023 in rows 15-19, cols 10-19
    loss = lambda nc: _loss_block(nc, lambda r: 22 if r < 15 else 23)  # noqa: E731
    # tree cover 50 in coarse cols < 15, 5 elsewhere
    cover = lambda nc: np.where(np.arange(nc)[None, :] < 15, 50, 5).astype(np.uint8).repeat(nc, 0)  # noqa: E731
    # forest 2020 only in fine rows < 42 (i.e. the northern 12 of the 30 fine rows of the block)
    forest = lambda nf: (np.arange(nf)[:, None] < 42).astype(np.uint8).repeat(nf, 1)  # noqa: E731
    src = make_sources(tmp_path, x0, y0, loss=loss, cover=cover, forest=forest)
    lat = lambda row, cell: y0 - row * cell  # noqa: E731
    lon = lambda col, cell: x0 + col * cell  # noqa: E731
    plot = box(lon(8, COARSE) + 0.00005, lat(22, COARSE) + 0.00007, lon(17, COARSE) + 0.00011, lat(8, COARSE) - 0.00003)
    [r] = run(src, [box_feature(*plot.bounds)])
    d = r.analysis["deforestation"]
    block22 = box(lon(10, COARSE), lat(15, COARSE), lon(20, COARSE), lat(10, COARSE))
    block23 = box(lon(10, COARSE), lat(20, COARSE), lon(20, COARSE), lat(15, COARSE))
    canopy = box(lon(0, COARSE), lat(60, COARSE), lon(15, COARSE), lat(0, COARSE))
    forest_geom = box(x0, lat(42, FINE), x0 + 0.02, y0)
    assert close(d["total_yearly"]["2022"], geo_ha(plot & block22 & canopy))
    assert close(d["total_yearly"]["2023"], geo_ha(plot & block23 & canopy))
    assert close(d["total_yearly_jrc"]["2022"], geo_ha(plot & block22 & forest_geom))
    assert close(d["total_yearly_jrc"]["2023"], geo_ha(plot & block23 & forest_geom))
    assert d["total_yearly"]["2021"] == 0.0 and d["total_yearly"]["2024"] == 0.0
    assert d["total"] == pytest.approx(sum(d["total_yearly"].values()), abs=1e-6)
    assert d["total_jrc"] == pytest.approx(sum(d["total_yearly_jrc"].values()), abs=1e-6)
    assert r.analysis["deforestation_percentage"] == pytest.approx(100 * d["total_jrc"] / r.analysis["areaHa"], rel=1e-3)
    # a higher canopy threshold removes the Hansen loss (cover 50) but not the JRC series
    [r60] = run(src, [box_feature(*plot.bounds)], canopy_threshold=60)
    assert r60.analysis["deforestation"]["total"] == 0.0
    assert r60.analysis["deforestation"]["total_jrc"] == d["total_jrc"]


def test_years_follow_the_analysis_end_and_the_layer(tmp_path):
    loss = lambda nc: _loss_block(nc, lambda r: 21 + (r - 10) // 3)  # 2021, 2022, 2023, 2024  # noqa: E731
    src = make_sources(tmp_path / "a", 30.0, 1.0, loss=loss, hansen_version="v1.11")
    plot = box_feature(30.0 + 9 * COARSE, 1.0 - 21 * COARSE, 30.0 + 21 * COARSE, 1.0 - 9 * COARSE)
    [mid] = run(src, [plot], end=dt.date(2022, 6, 30))
    assert list(mid.analysis["deforestation"]["total_yearly"]) == ["2021", "2022"]
    assert mid.analysis["deforestation"]["total_yearly"]["2022"] > 0
    [late] = run(src, [plot], end=dt.date(2026, 1, 1))  # v1.11 ends in 2023
    assert list(late.analysis["deforestation"]["total_yearly"]) == ["2021", "2022", "2023"]
    [before] = run(src, [plot], end=dt.date(2020, 12, 31))
    assert before.analysis["deforestation"]["total_yearly"] == {} and before.analysis["deforestation"]["total"] == 0.0


def test_nodata_counts_as_not_forest_and_is_reported(tmp_path):
    def forest(nf):
        a = np.ones((nf, nf), np.uint8)
        a[:, : nf // 4] = 255
        return a
    src = make_sources(tmp_path, 0.0, 0.0, forest=forest, gfc_nodata=255)
    quarter = 0.005
    plot = box(quarter - 0.001, -0.015, quarter + 0.001, -0.005)
    [r] = run(src, [box_feature(*plot.bounds)])
    assert close(r.analysis["forest_area_2020"], geo_ha(box(quarter, -0.015, quarter + 0.001, -0.005)))
    assert r.analysis["nodata_percentage"]["jrc_gfc2020"] == pytest.approx(50.0, abs=0.01)
    assert r.analysis["nodata_percentage"]["hansen_lossyear"] == 0.0


def test_plot_outside_every_tile_fails_alone(tmp_path):
    src = make_sources(tmp_path, 0.0, 0.0)
    good = box_feature(0.001, -0.009, 0.004, -0.002, plot_id="good")
    away = box_feature(50.0, 50.0, 50.001, 50.001, plot_id="away")
    bad = box_feature(0.001, -0.009, 0.004, -0.002, plot_id="bad")
    bad["geometry"]["coordinates"][0][2] = [0.0, 0.0]
    bad["geometry"]["coordinates"][0] = bad["geometry"]["coordinates"][0][:4] + [[0.001, -0.009]]
    bad["geometry"]["coordinates"][0][1], bad["geometry"]["coordinates"][0][2] = [0.004, -0.002], [0.004, -0.009]
    results = run(src, [away, good, bad])
    assert [r.plot_id for r in results] == ["away", "good", "bad"]
    assert "no jrc_gfc2020 tile covers this plot" in results[0].error
    assert results[1].error is None and results[1].analysis["forest_area_2020"] > 0
    assert "self-intersecting" in results[2].error


def test_degradation_after_the_cutoff(tmp_path):
    def deg(nc):
        a = np.zeros((nc, nc), np.uint16)
        a[10:15, 10:20] = 2022
        a[15:20, 10:20] = 2019
        return a
    x0, y0 = 30.0, 1.0
    src = make_sources(tmp_path, x0, y0, degradation=deg)
    plot = box(x0 + 8 * COARSE, y0 - 22 * COARSE, x0 + 22 * COARSE, y0 - 8 * COARSE)
    far = box(x0 + 0.03, y0 - 0.01, x0 + 0.031, y0 - 0.009)  # beyond the TMF tile and the others
    [r, f] = run(src, [box_feature(*plot.bounds), box_feature(*far.bounds)])
    assert close(r.analysis["logging_area"], geo_ha(box(x0 + 10 * COARSE, y0 - 15 * COARSE, x0 + 20 * COARSE, y0 - 10 * COARSE)))
    assert f.error is not None  # no forest/loss tile either
    # a plot inside the forest/loss tiles but with no TMF tile: logging_area is null
    src2 = make_sources(tmp_path / "no_tmf", x0, y0)
    [n] = run(src2, [box_feature(*plot.bounds)])
    assert n.analysis["logging_area"] is None


def _pa(wdpaid, name, cat, bounds):
    f = box_feature(*bounds, WDPAID=wdpaid, NAME=name, ORIG_NAME=name + " (orig)", DESIG_ENG="Reserve",
                    IUCN_CAT=cat, STATUS="Designated", ISO3="XXX", MANG_AUTH="Authority " + name)
    return f


def test_protected_area_overlaps_union_not_sum(tmp_path):
    x0, y0 = 30.0, 1.0
    plot = (x0 + 0.002, y0 - 0.012, x0 + 0.010, y0 - 0.004)
    pa1 = (x0 + 0.006, y0 - 0.020, x0 + 0.020, y0 - 0.000)  # strict (II)
    pa2 = (x0 + 0.004, y0 - 0.008, x0 + 0.015, y0 - 0.001)  # landscape (V), overlaps pa1
    src = make_sources(tmp_path, x0, y0, wdpa=[_pa(1, "Strict", "II", pa1), _pa(2, "Landscape", "V", pa2),
                                                _pa(3, "Far", "Ia", (x0 + 0.5, y0 - 0.5, x0 + 0.6, y0 - 0.4))],
                       regulations="WDPAID,regulation_name,regulation_url\n1,Decree 1,https://example.org/1\n1,Law 2,https://example.org/2\n",
                       landmark=[box_feature(*pa2, id="IL-1", name="Community", land_status="Community",
                                             government_acknowledged=True)])
    [r] = run(src, [box_feature(*plot)])
    pa = r.analysis["protected_areas"]
    p = box(*plot)
    details = {d["area_id"]: d for d in pa["protected_area_details"]}
    assert set(details) == {"1", "2"}
    assert close(details["1"]["overlap_area_ha"], geo_ha(p & box(*pa1)))
    assert close(details["2"]["overlap_area_ha"], geo_ha(p & box(*pa2)))
    union = geo_ha(p & box(*pa1)) + geo_ha(p & box(*pa2)) - geo_ha(p & box(*pa1) & box(*pa2))
    s = pa["protected_area_overlap_summary"]
    assert close(s["total_overlap_area_ha"], union)
    assert s["total_overlap_area_ha"] < details["1"]["overlap_area_ha"] + details["2"]["overlap_area_ha"] - 0.1
    assert s["protected_area_overlap"] is True
    assert s["total_overlap_percentage"] == pytest.approx(100 * union / r.analysis["areaHa"], rel=1e-3)
    assert s["most_restrictive_extractive_activity_legality"] == "prohibited"
    assert details["1"]["iucn_category"] == "II" and details["1"]["extractive_activity_legality"] == "prohibited"
    assert details["2"]["extractive_activity_legality"] == "limited"
    assert details["1"]["regulation_names"] == ["Decree 1", "Law 2"]
    assert details["1"]["regulation_urls"] == ["https://example.org/1", "https://example.org/2"]
    assert details["1"]["source_name"] == "Authority Strict" and details["1"]["local_name"] == "Strict (orig)"
    assert pa["sources"] == [{"source_name": pa["sources"][0]["source_name"], "data_version": "2025-01"}]
    assert sorted(r.analysis["protectedAreas"]) == sorted([[d["area_name"], d["overlap_area_ha"]] for d in details.values()])
    assert r.analysis["risk_level"] == "Medium" and "Strict" in r.analysis["risk_reason"]
    il = r.analysis["indigenous_land"]
    assert close(il["indigenous_land_overlap_summary"]["total_overlap_area_ha"], geo_ha(p & box(*pa2)))
    assert il["indigenous_land_details"][0]["id"] == "IL-1"
    assert il["indigenous_land_details"][0]["government_acknowledged"] is True
    assert r.analysis["indigenous_overlap"]["overlapping_territories"] == ["Community"]


def test_wdpa_file_missing_columns_is_a_clear_error(tmp_path):
    feats = [box_feature(0.0, 0.0, 1.0, 1.0, NAME="no id")]
    src = make_sources(tmp_path, 0.0, 0.0, wdpa=feats)
    with pytest.raises(LayerSourceError, match=r"lacks columns \['WDPAID'\]"):
        open_layer_set(src)


def test_risk_levels_from_loss(tmp_path):
    """High at >= 1 ha, Medium at >= 0.5 ha, else Low: all from the JRC series."""
    x0, y0 = 30.0, 1.0
    loss = lambda nc: _loss_block(nc)  # noqa: E731  10 x 10 coarse cells (~33 m) of 2022 loss, ~11 ha
    src = make_sources(tmp_path, x0, y0, loss=loss)
    lat = lambda r: y0 - r * COARSE  # noqa: E731
    lon = lambda c: x0 + c * COARSE  # noqa: E731
    big = box(lon(0), lat(40), lon(40), lat(0))  # the whole block: 11 ha, 6 % of the plot
    some = box(lon(0), lat(60), lon(10.7), lat(0))  # 7 loss cells: ~0.78 ha, ~1 %
    little = box(lon(0), lat(60), lon(10.1), lat(0))  # 1 loss cell: ~0.11 ha
    rs = run(src, [box_feature(*g.bounds) for g in (big, some, little)])
    assert [r.analysis["risk_level"] for r in rs] == ["High", "Medium", "Low"]
    assert rs[0].analysis["risk_reason"].startswith("High: 11.")
    assert rs[1].analysis["risk_reason"].startswith("Medium: 0.7")
    # thresholds are configurable and echoed
    [r] = run(src, [box_feature(*some.bounds)], risk_rule=__import__("eudr_pipeline.core.risk", fromlist=["RiskRule"]).RiskRule(medium_loss_ha=0.8, medium_loss_pct=90))
    assert r.analysis["risk_level"] == "Low" and "0.8 ha" in r.analysis["risk_reason"]
