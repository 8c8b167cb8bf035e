"""Raster layers made of one or more GeoTIFF tiles on one lat/lon grid, sampled by cell.

Tiles are never loaded whole: cells are fetched through aligned chunks (``chunk`` x
``chunk`` cells of the layer's global grid) read by window and kept in a bounded LRU
cache, so plots that are near each other share reads and memory stays bounded whatever
the tile size.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from eudr_pipeline.core.grid import Grid
from eudr_pipeline.errors import RasterLayerError


@dataclass(frozen=True)
class Tile:
    """One GeoTIFF of a layer and its place (offsets, size in cells) on the layer grid."""

    path: str
    row0: int
    col0: int
    height: int
    width: int


@dataclass
class RasterLayer:
    """A raster layer: its name, version, grid and tiles.

    ``fill`` is the value reported for cells outside every tile; ``nodata`` is the files'
    declared nodata value (or None)."""

    name: str
    version: str
    grid: Grid
    tiles: list[Tile]
    dtype: str
    nodata: float | None
    source_name: str = ""
    chunk: int = 1024
    cache_bytes: int = 128 * 1024 * 1024
    _datasets: dict = field(default_factory=dict, repr=False)
    _cache: "OrderedDict[tuple[int, int], np.ndarray]" = field(default_factory=OrderedDict, repr=False)
    _cached_bytes: int = 0

    @property
    def fill(self) -> int:
        """Value given to cells no tile covers (the nodata value, else the dtype max)."""
        if self.nodata is not None and np.isfinite(self.nodata):
            return int(self.nodata)
        return int(np.iinfo(np.dtype(self.dtype)).max) if np.dtype(self.dtype).kind in "iu" else 0

    @classmethod
    def open(cls, name: str, version: str, paths: list[Path | str], source_name: str = "") -> "RasterLayer":
        """Read the headers of ``paths`` (GeoTIFF tiles, EPSG:4326, north-up) and place
        them on one grid. Raises RasterLayerError naming the offending file."""
        if not paths:
            raise RasterLayerError(f"layer {name} {version}: no raster files")
        grid: Grid | None = None
        headers = []
        dtype = None
        nodata = None
        for p in sorted(str(p) for p in paths):
            try:
                with rasterio.open(p) as ds:
                    crs, t, shape, dts, nd = ds.crs, ds.transform, ds.shape, ds.dtypes, ds.nodata
            except rasterio.errors.RasterioIOError as exc:
                raise RasterLayerError(f"layer {name}: cannot read {p}: {exc}") from exc
            if crs is None or crs.to_epsg() != 4326:
                raise RasterLayerError(f"layer {name}: {p} has CRS {crs}, expected EPSG:4326")
            if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
                raise RasterLayerError(f"layer {name}: {p} is rotated or not north-up ({tuple(t)[:6]})")
            tile_grid = Grid(x0=t.c, y0=t.f, dx=t.a, dy=-t.e)
            if grid is None:
                grid, dtype, nodata = tile_grid, dts[0], nd
            elif not grid.same_lattice(tile_grid):
                raise RasterLayerError(
                    f"layer {name}: {p} is not on the grid of the layer's other tiles "
                    f"(pixel {t.a} x {-t.e}, origin {t.c}, {t.f})"
                )
            headers.append((p, tile_grid, shape))
        assert grid is not None
        tiles = [
            Tile(
                path=p,
                row0=int(round((grid.y0 - g.y0) / grid.dy)),
                col0=int(round((g.x0 - grid.x0) / grid.dx)),
                height=shape[0],
                width=shape[1],
            )
            for p, g, shape in headers
        ]
        return cls(name=name, version=version, grid=grid, tiles=tiles, dtype=str(dtype), nodata=nodata,
                   source_name=source_name)

    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees of the union of the tiles' extents."""
        g = self.grid
        r0 = min(t.row0 for t in self.tiles)
        r1 = max(t.row0 + t.height for t in self.tiles)
        c0 = min(t.col0 for t in self.tiles)
        c1 = max(t.col0 + t.width for t in self.tiles)
        return (g.x0 + c0 * g.dx, g.y0 - r1 * g.dy, g.x0 + c1 * g.dx, g.y0 - r0 * g.dy)

    def _dataset(self, path: str):
        ds = self._datasets.get(path)
        if ds is None:
            ds = rasterio.open(path)
            self._datasets[path] = ds
        return ds

    def _read_chunk(self, crow: int, ccol: int) -> tuple[np.ndarray, np.ndarray]:
        """The values of chunk (crow, ccol) and a mask of the cells some tile covers."""
        key = (crow, ccol)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        c = self.chunk
        r0, c0 = crow * c, ccol * c
        values = np.full((c, c), self.fill, dtype=self.dtype)
        covered = np.zeros((c, c), dtype=bool)
        for t in self.tiles:
            rr0, rr1 = max(r0, t.row0), min(r0 + c, t.row0 + t.height)
            cc0, cc1 = max(c0, t.col0), min(c0 + c, t.col0 + t.width)
            if rr0 >= rr1 or cc0 >= cc1:
                continue
            win = Window(cc0 - t.col0, rr0 - t.row0, cc1 - cc0, rr1 - rr0)
            values[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = self._dataset(t.path).read(1, window=win)
            covered[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = True
        entry = (values, covered)
        self._cache[key] = entry
        self._cached_bytes += values.nbytes + covered.nbytes
        while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
            _, (v, m) = self._cache.popitem(last=False)
            self._cached_bytes -= v.nbytes + m.nbytes
        return entry

    def sample(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values at global cells (rows, cols) of this layer's grid, and whether a tile
        covers each cell (cells outside every tile get ``fill``)."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        values = np.full(rows.size, self.fill, dtype=self.dtype)
        covered = np.zeros(rows.size, dtype=bool)
        if rows.size == 0:
            return values, covered
        c = self.chunk
        crow = rows // c
        ccol = cols // c
        key = (crow - crow.min()) * (int(ccol.max() - ccol.min()) + 1) + (ccol - ccol.min())
        order = np.argsort(key, kind="stable")
        uniq, starts = np.unique(key[order], return_index=True)
        ends = np.append(starts[1:], order.size)
        for s, e in zip(starts, ends):
            idx = order[s:e]
            cr, cc = int(crow[idx[0]]), int(ccol[idx[0]])
            chunk_values, chunk_covered = self._read_chunk(cr, cc)
            lr = rows[idx] - cr * c
            lc = cols[idx] - cc * c
            values[idx] = chunk_values[lr, lc]
            covered[idx] = chunk_covered[lr, lc]
        return values, covered

    def window(self, row0: int, row1: int, col0: int, col1: int) -> tuple[np.ndarray, np.ndarray]:
        """Values and tile coverage of the global cells rows [row0, row1) x cols [col0, col1)."""
        h, w = row1 - row0, col1 - col0
        values = np.full((h, w), self.fill, dtype=self.dtype)
        covered = np.zeros((h, w), dtype=bool)
        c = self.chunk
        for cr in range(row0 // c, (row1 - 1) // c + 1):
            for cc in range(col0 // c, (col1 - 1) // c + 1):
                cv, cm = self._read_chunk(cr, cc)
                r0, r1 = max(row0, cr * c), min(row1, (cr + 1) * c)
                c0, c1 = max(col0, cc * c), min(col1, (cc + 1) * c)
                values[r0 - row0:r1 - row0, c0 - col0:c1 - col0] = cv[r0 - cr * c:r1 - cr * c, c0 - cc * c:c1 - cc * c]
                covered[r0 - row0:r1 - row0, c0 - col0:c1 - col0] = cm[r0 - cr * c:r1 - cr * c, c0 - cc * c:c1 - cc * c]
        return values, covered

    def sample_grid(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest-cell values on the lattice lat (rows) x lon (cols), degrees: one window
        read, then an outer index. Shapes (len(lat), len(lon))."""
        r = self.grid.row_of(lat)
        c = self.grid.col_of(lon)
        v, m = self.window(int(r.min()), int(r.max()) + 1, int(c.min()), int(c.max()) + 1)
        r, c = r - r.min(), c - c.min()
        return v.take(r, axis=0).take(c, axis=1), m.take(r, axis=0).take(c, axis=1)  # faster than np.ix_

    def sample_at(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest-cell values at points (lon, lat in degrees): the cell containing each."""
        return self.sample(self.grid.row_of(lat), self.grid.col_of(lon))

    def close(self) -> None:
        for ds in self._datasets.values():
            ds.close()
        self._datasets.clear()
        self._cache.clear()
        self._cached_bytes = 0

