"""Indicators declared in the dataset registry (layers/datasets.toml): per-plot numbers
beyond the seed's fields, computed by the same exact core (coverage fractions of
core/coverage.py, WGS84 cell areas of core/grid.py).

Kinds:
- ``area_where``: area (ha) where the band's value is in ``values``, or within
  [``min``, ``max``]; and its share of the plot (%).
- ``area_per_year``: area (ha) per calendar year where the value encodes a date after
  2020-12-31 and on or before the plot's analysis end; ``encoding`` "year" (year = value
  + ``year_offset``, counted by year) or "days_since" (date = ``epoch`` + (value %
  ``modulo``) days, counted by day, e.g. RADD alerts).
- ``overlap``: area (ha) of the plot covered by a vector dataset's polygons (union).

``within_forest_2020`` restricts an indicator to JRC GFC2020 forest. A metric reading two
rasters is evaluated on the finer grid, the other sampled at each fine cell's centre
(analysis.md section 3). ``countries`` (alpha-2 codes) limits an indicator to plots lying
in those countries (a national map): the others get ``not_applicable``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from eudr_pipeline.core.coverage import CoverageCells, coverage_cells
from eudr_pipeline.core.grid import Grid
from eudr_pipeline.core.overlaps import VectorLayer, overlaps
from eudr_pipeline.core.rasters import RasterLayer
from eudr_pipeline.core.risk import CUTOFF_DATE

CUTOFF = dt.date.fromisoformat(CUTOFF_DATE)
FIRST_YEAR = CUTOFF.year + 1  # the first year after the EUDR cut-off


@dataclass(frozen=True)
class Indicator:
    """One registry indicator: its name, the dataset (and raster band) it reads, its kind
    and parameters (module docstring)."""

    name: str
    dataset: str
    kind: str
    band: str | None = None
    values: tuple[float, ...] | None = None
    min: float | None = None
    max: float | None = None
    encoding: str = "year"
    year_offset: int = 0
    epoch: dt.date | None = None
    modulo: int | None = None
    within_forest_2020: bool = False
    countries: tuple[str, ...] | None = None
    description: str = ""

    @property
    def raster_key(self) -> str:
        """The key of the raster it reads in LayerSet.extra_rasters: "<dataset>/<band>"."""
        return f"{self.dataset}/{self.band}"


def sample_cells(layer: RasterLayer, grid: Grid, cells: CoverageCells) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``layer`` for cells of ``grid``: the same cell when both grids share a
    lattice, else the layer cell containing the centre of each grid cell."""
    if layer.grid.same_lattice(grid):
        dr = int(round((layer.grid.y0 - grid.y0) / grid.dy))
        dc = int(round((grid.x0 - layer.grid.x0) / grid.dx))
        return layer.sample(cells.row + dr, cells.col + dc)
    return layer.sample_at(grid.col_center_lon(cells.col), grid.row_center_lat(cells.row))


@dataclass
class Batch:
    """The plots of one batch: geometries (lon/lat), areas (ha), analysis ends, countries
    (alpha-2 or None), with a cache of coverage cells per grid."""

    geoms: np.ndarray
    areas_ha: np.ndarray
    ends: list[dt.date]
    countries: list[str | None]
    cells: dict[tuple, CoverageCells]

    def cells_on(self, grid: Grid) -> CoverageCells:
        key = (grid.x0, grid.y0, grid.dx, grid.dy)
        if key not in self.cells:
            self.cells[key] = coverage_cells(self.geoms, grid)
        return self.cells[key]


def _condition(ind: Indicator, v: np.ndarray) -> np.ndarray:
    if ind.values is not None:
        return np.isin(v, np.asarray(ind.values, dtype=v.dtype if v.dtype.kind == "f" else np.float64))
    lo = -np.inf if ind.min is None else ind.min
    hi = np.inf if ind.max is None else ind.max
    return (v >= lo) & (v <= hi)


def _event_years(ind: Indicator, v: np.ndarray, keep: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(calendar year of each cell's event, whether it counts: an event (value not 0) after
    2020-12-31 and on or before the plot's analysis end ``end`` (datetime64[D] per cell)).
    "year" compares years; "days_since" compares days."""
    v = v.astype(np.int64)
    if ind.encoding == "days_since":
        day = np.datetime64(ind.epoch, "D") + (v % ind.modulo if ind.modulo else v).astype("timedelta64[D]")
        year = day.astype("datetime64[Y]").astype(np.int64) + 1970
        return year, keep & (v != 0) & (day > np.datetime64(CUTOFF, "D")) & (day <= end)
    year = v + ind.year_offset
    end_year = end.astype("datetime64[Y]").astype(np.int64) + 1970
    return year, keep & (v != 0) & (year >= FIRST_YEAR) & (year <= end_year)


def _raster_sums(ind: Indicator, batch: Batch, layer: RasterLayer, forest: RasterLayer | None) -> dict[str, Any]:
    """Weighted sums of one raster indicator over the batch: per plot total, per year,
    covered area and no-data area (m2)."""
    grid = layer.grid
    if ind.within_forest_2020 and forest is not None and forest.grid.dx * forest.grid.dy < grid.dx * grid.dy:
        grid = forest.grid
    cells = batch.cells_on(grid)
    w = cells.fraction * grid.cell_area_m2(cells.row)
    v, cov = sample_cells(layer, grid, cells)
    valid = cov & (v != layer.fill) & ~np.isnan(v.astype(np.float64))
    keep = valid.copy()
    if ind.within_forest_2020 and forest is not None:
        fv, fcov = sample_cells(forest, grid, cells)
        keep &= fcov & (fv == 1)
    n = len(batch.geoms)
    out = {"covered": np.bincount(cells.owner, w * cov, n)[:n], "nodata": np.bincount(cells.owner, w * ~valid, n)[:n],
           "total": np.bincount(cells.owner, w, n)[:n]}
    if ind.kind == "area_where":
        out["area"] = np.bincount(cells.owner, w * (keep & _condition(ind, v)), n)[:n]
        return out
    end = np.array(batch.ends, dtype="datetime64[D]")[cells.owner]
    year, counted = _event_years(ind, np.where(keep, v, 0), keep, end)
    last = max((d.year for d in batch.ends), default=FIRST_YEAR)
    n_years = max(last - FIRST_YEAR + 1, 1)
    idx = cells.owner * n_years + np.clip(year - FIRST_YEAR, 0, n_years - 1)
    out["yearly"] = np.bincount(idx, w * counted, n * n_years)[: n * n_years].reshape(n, n_years)
    out["area"] = out["yearly"].sum(axis=1)
    return out


def _r(x: float, nd: int = 6) -> float:
    return float(round(float(x), nd))


def _plot_value(ind: Indicator, sums: dict[str, Any], k: int, area_ha: float, end: dt.date) -> dict[str, Any]:
    """The analysis entry of one raster indicator for plot ``k`` of the batch."""
    if sums["covered"][k] <= 0:
        return {"dataset": ind.dataset, "area_ha": None, "not_covered": True}
    ha = sums["area"][k] / 1e4
    entry: dict[str, Any] = {"dataset": ind.dataset, "area_ha": _r(ha),
                             "percentage": _r(100 * ha / area_ha, 4) if area_ha > 0 else 0.0,
                             "nodata_percentage": _r(100 * sums["nodata"][k] / sums["total"][k], 4)
                             if sums["total"][k] > 0 else 100.0}
    if "yearly" in sums:
        entry["yearly"] = {str(y): _r(sums["yearly"][k, y - FIRST_YEAR] / 1e4) for y in range(FIRST_YEAR, end.year + 1)}
    return entry


def compute_indicators(indicators: tuple[Indicator, ...], batch: Batch, rasters: dict[str, RasterLayer],
                       vectors: dict[str, VectorLayer], forest: RasterLayer | None) -> list[dict[str, dict]]:
    """Per plot of the batch: {indicator name: entry} for every indicator whose dataset
    is present (rasters keyed "<dataset>/<band>", vectors by dataset)."""
    out: list[dict[str, dict]] = [{} for _ in range(len(batch.geoms))]
    for ind in indicators:
        if ind.kind == "overlap":
            layer = vectors.get(ind.dataset)
            if layer is None:
                continue
            for k, ov in enumerate(overlaps(batch.geoms, layer)):
                out[k][ind.name] = {"dataset": ind.dataset, "area_ha": _r(ov.total_ha),
                                    "percentage": _r(100 * ov.total_ha / batch.areas_ha[k], 4) if batch.areas_ha[k] > 0 else 0.0,
                                    "polygons": len(ov.details)}
            continue
        layer = rasters.get(ind.raster_key)
        if layer is None:
            continue
        sums = _raster_sums(ind, batch, layer, forest)
        for k in range(len(batch.geoms)):
            out[k][ind.name] = _plot_value(ind, sums, k, float(batch.areas_ha[k]), batch.ends[k])
    for k, country in enumerate(batch.countries):
        for ind in indicators:
            if ind.countries and ind.name in out[k] and country not in ind.countries:
                out[k][ind.name] = {"dataset": ind.dataset, "area_ha": None,
                                    "not_applicable": f"plot in {country or 'no known country'}, "
                                                      f"dataset covers {', '.join(ind.countries)}"}
    return out
