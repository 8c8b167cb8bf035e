"""Imagery: an optional layer of RGB scenes, one per date, shown under the classes of a
plot's map so that a reader sees the land itself at the 2020 baseline and at the
analysis end (the reference service's three-date imagery).

    SOURCES/imagery/<version>/<YYYY-MM-DD>[_anything].tif   one scene per date

A scene is a GeoTIFF (cloud-optimized in the store) with at least three bands read as
red, green, blue (uint8, 0..255), in EPSG:4326 or any CRS GDAL can warp; its date is the
first ISO date (YYYY-MM-DD) of its file name. Imagery never changes a number: it is
evidence for the eye only, and the analysis reads none of it."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from eudr_pipeline.errors import LayerSourceError

DATE_IN_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def scene_date(name: str) -> dt.date | None:
    """The first ISO date (YYYY-MM-DD) in a file name, or None."""
    m = DATE_IN_NAME.search(name)
    if m is None:
        return None
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


@dataclass(frozen=True)
class Scene:
    """One RGB image of the imagery layer: its date and file (path or GDAL URI)."""

    date: dt.date
    path: str


@dataclass(frozen=True)
class Imagery:
    """An imagery layer version: its scenes, oldest first."""

    version: str
    scenes: tuple[Scene, ...]
    source_name: str = "imagery"

    @classmethod
    def from_files(cls, version: str, paths: list[Path | str], source_name: str = "imagery") -> "Imagery":
        """The scenes of ``paths``, dated by their file names (LayerSourceError for a file
        without a date, or two files of the same date)."""
        scenes: dict[dt.date, Scene] = {}
        for p in paths:
            date = scene_date(Path(str(p)).name)
            if date is None:
                raise LayerSourceError(f"imagery/{version}: {Path(str(p)).name} has no date YYYY-MM-DD in its name")
            if date in scenes:
                raise LayerSourceError(f"imagery/{version}: two scenes dated {date}: {scenes[date].path} and {p}")
            scenes[date] = Scene(date, str(p))
        return cls(version, tuple(scenes[d] for d in sorted(scenes)), source_name)

    def scene_for(self, date: dt.date) -> Scene | None:
        """The scene that shows the land as of ``date``: the latest on or before it, else
        the earliest after it (None when the layer has no scene)."""
        before = [s for s in self.scenes if s.date <= date]
        if before:
            return before[-1]
        return self.scenes[0] if self.scenes else None


def read_rgb(scene: Scene, bounds: tuple[float, float, float, float], width: int, height: int) -> np.ndarray | None:
    """The scene warped onto a north-up lon/lat frame (west, south, east, north degrees)
    of ``width`` x ``height`` px, bilinear: uint8 RGBA (height, width, 4), alpha 255
    where the scene has data (black 0,0,0 is read as no data). None when the scene does
    not meet the frame. GDAL reads only the source windows the frame needs."""
    west, south, east, north = bounds
    transform = Affine((east - west) / width, 0.0, west, 0.0, -(north - south) / height, north)
    out = np.zeros((4, height, width), np.uint8)
    with rasterio.open(scene.path) as ds:
        if ds.count < 3:
            raise LayerSourceError(f"{scene.path}: {ds.count} band(s), an imagery scene needs red, green and blue")
        left, bottom, right, top = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
        if left >= east or right <= west or bottom >= north or top <= south:
            return None
        for k in range(3):
            reproject(rasterio.band(ds, k + 1), out[k], dst_transform=transform, dst_crs="EPSG:4326",
                      resampling=Resampling.bilinear, dst_nodata=0)
    out[3] = np.where(out[:3].any(axis=0), 255, 0)
    return np.moveaxis(out, 0, -1)
