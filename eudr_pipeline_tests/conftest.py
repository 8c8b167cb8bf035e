from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

FIXTURES = Path(__file__).parent / "fixtures"


def write_tif(path: Path, data: np.ndarray, x0: float, y0: float, dx: float, dy: float | None = None,
              nodata=None, crs: str = "EPSG:4326") -> Path:
    """A north-up GeoTIFF with its top-left corner at (x0, y0) degrees."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dy = dx if dy is None else dy
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1,
                       dtype=str(data.dtype), crs=crs, transform=Affine(dx, 0.0, x0, 0.0, -dy, y0), nodata=nodata,
                       compress="deflate") as dst:
        dst.write(data, 1)
    return path


def box_feature(w: float, s: float, e: float, n: float, holes=(), **props) -> dict:
    ring = lambda a, b, c, d: [[a, b], [c, b], [c, d], [a, d], [a, b]]  # noqa: E731
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [ring(w, s, e, n)] + [ring(*h)[::-1] for h in holes]}}


@pytest.fixture
def end_2024() -> dt.date:
    return dt.date(2024, 12, 31)
