"""Imagery scenes: dated by file name, chosen by date, and warped onto a map frame at the
right place (checked on a sharp checkerboard against its own definition)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import rasterio
from affine import Affine

from eudr_pipeline.core.imagery import Imagery, Scene, read_rgb, scene_date
from eudr_pipeline.errors import LayerSourceError

BLOCK = 0.001  # degrees per checkerboard square
X0, Y0 = -5.30, 6.84
COLOURS = np.array([[200, 60, 20], [30, 90, 200]], np.uint8)


def checkerboard(path, cells_per_block: int = 10, blocks: int = 20, crs: str = "EPSG:4326") -> str:
    n = cells_per_block * blocks
    rows, cols = np.indices((n, n)) // cells_per_block
    rgb = COLOURS[(rows + cols) % 2]
    dx = BLOCK / cells_per_block
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=3, dtype="uint8", crs=crs,
                       transform=Affine(dx, 0, X0, 0, -dx, Y0)) as dst:
        dst.write(np.moveaxis(rgb, -1, 0))
    return str(path)


def expected_colour(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    col, row = np.floor((lon - X0) / BLOCK).astype(int), np.floor((Y0 - lat) / BLOCK).astype(int)
    return COLOURS[(row + col) % 2]


def test_scenes_are_dated_by_name_and_chosen_by_date():
    assert scene_date("S2_2020-12-15_rgb.tif") == dt.date(2020, 12, 15) and scene_date("2020-13-01.tif") is None
    imagery = Imagery.from_files("v1", ["b/2024-10-20.tif", "a/2019-06-01.tif", "c/2020-12-15_x.tif"])
    assert [s.date.isoformat() for s in imagery.scenes] == ["2019-06-01", "2020-12-15", "2024-10-20"]
    assert imagery.scene_for(dt.date(2020, 12, 31)).date == dt.date(2020, 12, 15)
    assert imagery.scene_for(dt.date(2024, 11, 1)).date == dt.date(2024, 10, 20)
    assert imagery.scene_for(dt.date(2018, 1, 1)).date == dt.date(2019, 6, 1)  # none before: the earliest
    with pytest.raises(LayerSourceError, match="two scenes dated 2024-10-20"):
        Imagery.from_files("v1", ["2024-10-20.tif", "2024-10-20_b.tif"])
    with pytest.raises(LayerSourceError, match="no date"):
        Imagery.from_files("v1", ["latest.tif"])


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:32630"])
def test_a_scene_is_warped_onto_the_frame_at_the_right_place(tmp_path, crs):
    path = checkerboard(tmp_path / "2021-01-01.tif")
    if crs != "EPSG:4326":  # the same board in UTM 30N: GDAL warps it back
        from rasterio.warp import calculate_default_transform, reproject

        utm = tmp_path / "utm.tif"
        with rasterio.open(path) as src:
            transform, w, h = calculate_default_transform(src.crs, crs, src.width, src.height, *src.bounds,
                                                          resolution=5.0)
            with rasterio.open(utm, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8", crs=crs,
                               transform=transform) as dst:
                for k in (1, 2, 3):
                    reproject(rasterio.band(src, k), rasterio.band(dst, k), resampling=rasterio.enums.Resampling.nearest)
        path = str(utm)
    bounds = (X0 + 0.0031, Y0 - 0.0157, X0 + 0.0131, Y0 - 0.0057)  # 10 x 10 squares, off their corners
    rgba = read_rgb(Scene(dt.date(2021, 1, 1), path), bounds, 250, 250)
    lon = bounds[0] + (np.arange(250) + 0.5) * 0.01 / 250
    lat = bounds[3] - (np.arange(250) + 0.5) * 0.01 / 250
    want = expected_colour(*np.meshgrid(lon, lat))
    close = (np.abs(rgba[..., :3].astype(int) - want).max(axis=2) <= 12)
    assert (rgba[..., 3] == 255).all()
    assert close.mean() > 0.7  # all but the bilinear band (about a source cell, 2.5 px) along each edge


def test_a_frame_outside_the_scene_is_none(tmp_path):
    scene = Scene(dt.date(2021, 1, 1), checkerboard(tmp_path / "2021-01-01.tif"))
    assert read_rgb(scene, (10.0, 10.0, 10.01, 10.01), 50, 50) is None
    half = read_rgb(scene, (X0 - 0.005, Y0 - 0.005, X0 + 0.005, Y0 + 0.005), 100, 100)  # a corner of the board
    assert (half[60:, 60:, 3] == 255).all() and (half[:40, :, 3] == 0).all() and (half[:, :40, 3] == 0).all()
