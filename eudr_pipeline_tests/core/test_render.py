"""Maps that show what the analysis found: the pixels of a rendered plot map against the
demo rasters read independently (rasterio at each pixel centre), the plot outline in
yellow along the plot's boundary, sizes, and nothing blank."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from PIL import Image

from eudr_pipeline.core.analysis import analyze_plots
from eudr_pipeline.core.intake import request_from_feature
from eudr_pipeline.core.render import (BASELINE, CLASS_OPACITY, FOREST, LAND, LOSS_YEARS, OUTLINE, PALETTE, Frame,
                                       PlotMap, class_index, locator_bounds, loss_colour, map_panel, render_overview,
                                       render_plot_map, render_thumbnail)
from eudr_pipeline.layers.countries import country_layer
from eudr_pipeline.demo import write_demo
from eudr_pipeline.layers.source_directory import open_layer_set


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    sources, plots = write_demo(tmp_path_factory.mktemp("render"))
    layers = open_layer_set(sources)
    features = {f["properties"]["plot_id"]: f for f in json.loads(plots.read_text())["features"]}
    yield sources, layers, features
    layers.close()


def plot_map(features, layers, plot_id: str) -> PlotMap:
    request = request_from_feature(features[plot_id], 0)
    [result] = analyze_plots([request], layers)
    a = result.analysis
    return PlotMap(request.geometry, plot_id, request.analysis_end, result.area_ha, request.commodity,
                   a["risk_level"], a["risk_reason"], {s["layer"]: s["data_version"] for s in a["sources"]})


def raster_at(path: Path, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Values of a single-band raster at points, read by rasterio (not our chunk cache)."""
    with rasterio.open(path) as ds:
        return np.array([v[0] for v in ds.sample(zip(lon.ravel(), lat.ravel()))]).reshape(lon.shape)


def test_loss_pixels_are_exactly_where_the_rasters_have_loss_on_2020_forest(demo):
    sources, layers, features = demo
    plot = plot_map(features, layers, "demo-01")  # High: 2022 loss inside 2020 forest
    frame = Frame.around(plot.geometry.bounds, 300, 300)
    panel = np.asarray(map_panel(plot, layers, frame, plot.analysis_end.year, decorations=False))
    lon, lat = np.meshgrid(frame.lon_centres(), frame.lat_centres())
    forest = np.any([raster_at(t, lon, lat) == 1 for t in (sources / "jrc_gfc2020").rglob("*.tif")], axis=0)
    loss_year = 2000 + raster_at(next((sources / "hansen_gfc").rglob("*lossyear*.tif")), lon, lat).astype(int)
    expected_loss = forest & (loss_year >= 2021) & (loss_year <= plot.analysis_end.year)
    is_loss = np.isin(panel.reshape(-1, 3).view([("", np.uint8)] * 3).ravel(),
                      np.array(LOSS_YEARS, np.uint8).view([("", np.uint8)] * 3).ravel()).reshape(panel.shape[:2])
    outline = (np.abs(panel.astype(int) - OUTLINE).sum(axis=2) == 0) | (panel.sum(axis=2) < 80)
    outline[[0, -1], :] = outline[:, [0, -1]] = True  # the panel's frame line
    assert expected_loss.sum() > 1000  # the demo's 2022 clearing, many pixels
    assert (is_loss == expected_loss)[~outline].all(), "loss drawn where the rasters have none, or missing"
    colour_2022 = (panel[expected_loss & ~outline] == loss_colour(2022)).all(axis=1)
    assert colour_2022.all() and loss_colour(2022) != loss_colour(2023)
    assert (panel[forest & ~expected_loss & ~outline] == FOREST).all(axis=1).all()


def test_the_outline_is_yellow_along_the_plot_boundary(demo):
    _, layers, features = demo
    plot = plot_map(features, layers, "demo-04")  # a polygon with a hole: both rings drawn
    frame = Frame.around(plot.geometry.bounds, 300, 300)
    panel = np.asarray(map_panel(plot, layers, frame, plot.analysis_end.year, decorations=False))
    yellow = np.argwhere((panel == OUTLINE).all(axis=2))
    assert len(yellow) > 300
    # every yellow pixel lies within 3 px of the plot's boundary (exterior or hole)
    sx, sy = (frame.east - frame.west) / frame.width, (frame.north - frame.south) / frame.height
    points = shapely.points(frame.west + (yellow[:, 1] + 0.5) * sx, frame.north - (yellow[:, 0] + 0.5) * sy)
    assert (shapely.distance(points, plot.geometry.boundary) <= 3 * sx).all()
    hole = shapely.Polygon(plot.geometry.interiors[0])
    assert (shapely.distance(points, hole.exterior) <= 3 * sx).any()  # the hole's ring is drawn too


def test_map_thumbnail_and_overview_sizes_and_content(demo):
    _, layers, features = demo
    plot = plot_map(features, layers, "demo-02")
    full = Image.open(io.BytesIO(render_plot_map(plot, dataclasses.replace(layers, imagery=None))))
    assert full.width == 1200 and 750 <= full.height <= 1100
    pixels = np.asarray(full.convert("RGB"))
    assert (pixels == OUTLINE).all(axis=2).sum() > 500 and (pixels == FOREST).all(axis=2).sum() > 50_000
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text, classes, lines: not blank
    thumb = Image.open(io.BytesIO(render_thumbnail(plot, layers, 200)))
    assert thumb.size == (200, 200)
    overview = Image.open(io.BytesIO(render_overview([plot.geometry], [plot.risk_level], "Job", layers)))
    assert overview.size == (1200, 800)


def test_a_plot_without_layers_is_an_outline_on_plain_ground():
    plot = PlotMap(shapely.box(-5.3, 6.8, -5.29, 6.81), "dry run", dt.date(2024, 1, 1), 121.0, "cocoa", "Low", "dry run")
    img = np.asarray(Image.open(io.BytesIO(render_thumbnail(plot, None, 200))).convert("RGB"))
    assert (img == OUTLINE).all(axis=2).sum() > 100 and not (img == FOREST).all(axis=2).any()


def scene_at(path: str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """RGB of a scene at points, nearest cell, read by rasterio's sample (not our warp)."""
    with rasterio.open(path) as ds:
        return np.array(list(ds.sample(zip(lon.ravel(), lat.ravel()), indexes=[1, 2, 3]))).reshape(*lon.shape, 3)


def test_panels_show_the_imagery_of_their_date_under_translucent_classes(demo):
    _, layers, features = demo
    plot = plot_map(features, layers, "demo-01")  # 2022 loss: soil in the later scene
    frame = Frame.around(plot.geometry.bounds, 300, 300)
    baseline, harvest = layers.imagery.scene_for(BASELINE), layers.imagery.scene_for(plot.analysis_end)
    assert baseline.date.isoformat() == "2020-12-15" and harvest.date.isoformat() == "2024-10-20"
    panel = np.asarray(map_panel(plot, layers, frame, plot.analysis_end.year, decorations=False, scene=harvest))
    idx = class_index(frame, layers, plot.analysis_end.year)
    lon, lat = np.meshgrid(frame.lon_centres(), frame.lat_centres())
    scene = scene_at(harvest.path, lon, lat).astype(float)
    opacity = CLASS_OPACITY[idx][..., None]
    expected = PALETTE[idx] * opacity + scene * (1 - opacity)
    error = np.abs(panel.astype(float) - expected).max(axis=2)
    inner = np.zeros_like(error, bool)
    inner[10:-10, 10:-10] = True
    inner &= ~(np.abs(panel.astype(int) - OUTLINE).sum(axis=2) < 60) & (panel.sum(axis=2) > 80)  # off the outline
    # bilinear against nearest on a textured image: close, not equal
    assert np.median(error[inner]) < 6 and np.percentile(error[inner], 95) < 25
    loss = (idx >= 4) & inner
    assert loss.sum() > 1000 and (np.abs(panel[loss].astype(int) - loss_colour(2022)).max(axis=1) < 40).all()
    before = np.asarray(map_panel(plot, layers, frame, None, decorations=False, scene=baseline))
    assert np.abs(before[loss].astype(int) - panel[loss].astype(int)).sum(axis=1).mean() > 60


def test_the_locator_shows_the_country_and_its_neighbours(demo):
    _, layers, features = demo
    plot = plot_map(features, layers, "demo-02")
    region = country_layer().within(locator_bounds(plot.geometry))
    assert {"Côte d'Ivoire", "Ghana", "Liberia"} <= {name for _, name in region}
    full = np.asarray(Image.open(io.BytesIO(render_plot_map(plot, layers, region=region))).convert("RGB"))
    corner = full[:200, -300:]  # the locator, top right of the title block
    assert (corner == LAND).all(axis=2).sum() > 10_000 and (corner == OUTLINE).all(axis=2).sum() > 40
