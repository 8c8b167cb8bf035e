"""Plot maps as small PNGs: forest 2020 (green), JRC-forest loss after 2020 (red), other
land (pale), the plot outline (black), sampled at output-pixel centres."""

from __future__ import annotations

import io

import numpy as np
import shapely
from PIL import Image, ImageDraw
from shapely.geometry.base import BaseGeometry

from eudr_pipeline.core.analysis import FIRST_YEAR, LayerSet

PALETTE = [245, 242, 230,   # 0 other land / no data
           46, 125, 50,     # 1 forest 2020
           211, 47, 47,     # 2 forest lost after 2020
           0, 0, 0]         # 3 outline


def _frame(geom: BaseGeometry, size: int, margin: float = 0.15) -> tuple[float, float, float, float, int, int]:
    w, s, e, n = geom.bounds
    dx, dy = max(e - w, 1e-6), max(n - s, 1e-6)
    w, e, s, n = w - margin * dx, e + margin * dx, s - margin * dy, n + margin * dy
    k = np.cos(np.radians((s + n) / 2))  # keep metres square
    width_m, height_m = (e - w) * k, n - s
    if width_m >= height_m:
        return w, s, e, n, size, max(1, int(round(size * height_m / width_m)))
    return w, s, e, n, max(1, int(round(size * width_m / height_m))), size


def render_plot_png(geom: BaseGeometry, layers: LayerSet | None, end_year: int, size: int = 160) -> bytes:
    """PNG bytes of the plot over its forest and loss map (``layers`` None: outline only)."""
    w, s, e, n, cols, rows = _frame(geom, size)
    lon = w + (np.arange(cols) + 0.5) * (e - w) / cols
    lat = n - (np.arange(rows) + 0.5) * (n - s) / rows
    classes = np.zeros((rows, cols), np.uint8)
    if layers is not None and layers.forest_2020 is not None:
        fv, fcov = layers.forest_2020.sample_grid(lon, lat)
        forest = fcov & (fv == 1)
        classes[forest] = 1
        if layers.loss_year is not None:
            lv, lcov = layers.loss_year.sample_grid(lon, lat)
            year = 2000 + lv.astype(np.int64)
            lost = lcov & (lv != layers.loss_year.fill) & (year >= FIRST_YEAR) & (year <= end_year)
            classes[forest & lost] = 2
    img = Image.fromarray(classes, mode="P")
    img.putpalette(PALETTE)
    draw = ImageDraw.Draw(img)
    sx, sy = cols / (e - w), rows / (n - s)
    for ring in shapely.get_rings(shapely.get_parts(geom)):
        xy = shapely.get_coordinates(ring)
        pts = [((x - w) * sx, (n - y) * sy) for x, y in xy]
        draw.line(pts, fill=3, width=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=3)
    return buf.getvalue()
