"""The per-plot EUDR analysis (analysis.md section 3): raster metrics computed in batches
of plots with exact coverage fractions and ellipsoidal cell areas, vector overlaps, risk.

Sum over the plot of a condition = sum_c f(c) * A(c) * [condition(c)] / 10000 (ha), where
f is the exact coverage fraction and A the WGS84 area of the lat/lon cell. Metrics that
combine layers on different grids are evaluated on the finest grid, coarser layers
sampled at the centre of each fine cell.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from eudr_pipeline import __version__
from eudr_pipeline.core.coverage import CoverageCells, coverage_cells
from eudr_pipeline.core.geometry import geodesic_areas_ha
from eudr_pipeline.core.grid import Grid
from eudr_pipeline.core.indicators import FIRST_YEAR, Batch, Indicator, compute_indicators, sample_cells
from eudr_pipeline.core.overlaps import Overlap, VectorLayer, most_restrictive, overlaps
from eudr_pipeline.core.rasters import RasterLayer
from eudr_pipeline.core.risk import CommodityRules, RiskRule, assess_commodity_risk, assess_risk

if TYPE_CHECKING:  # drawn under the maps only: rasterio.warp and the rest stay off `eudr analyze`'s start
    from eudr_pipeline.core.imagery import Imagery

CHECK_TYPES = ("eudr", "protected-area", "indigenous-land")
COMMODITIES = ("wood", "soy", "cocoa", "coffee", "palm_oil", "beef", "rubber")


@dataclass
class LayerSet:
    """The layer versions an analysis reads. forest_2020 (jrc_gfc2020) and loss_year
    (hansen lossyear) are required for the eudr check; the rest are optional. ``imagery``
    is drawn under the maps only: no number reads it, so it is not among the sources."""

    forest_2020: RasterLayer | None
    loss_year: RasterLayer | None
    loss_last_year: int
    tree_cover_2000: RasterLayer | None = None
    degradation_year: RasterLayer | None = None
    protected_areas: VectorLayer | None = None
    indigenous_lands: VectorLayer | None = None
    imagery: Imagery | None = None
    extra_rasters: dict[str, RasterLayer] = field(default_factory=dict)  # "<dataset>/<band>" -> layer
    extra_vectors: dict[str, VectorLayer] = field(default_factory=dict)  # dataset -> layer
    indicators: tuple[Indicator, ...] = ()
    country_of: Callable[[list], list[str | None]] | None = None  # alpha-2 of each geometry, for national datasets

    def rasters(self) -> list[RasterLayer]:
        builtin = [r for r in (self.forest_2020, self.loss_year, self.tree_cover_2000, self.degradation_year) if r]
        return builtin + list(self.extra_rasters.values())

    def sources(self) -> list[dict[str, str]]:
        """[{layer, source_name, data_version}] of every layer in the set."""
        out = []
        for layer in [*self.rasters(), self.protected_areas, self.indigenous_lands, *self.extra_vectors.values()]:
            if layer is not None:
                out.append({"layer": layer.name, "source_name": layer.source_name or layer.name,
                            "data_version": layer.version})
        return out

    def versions(self) -> dict[str, str]:
        """{layer: version} of every layer in the set, imagery included (what a job used)."""
        out = {s["layer"]: s["data_version"] for s in self.sources()}
        return out | ({"imagery": self.imagery.version} if self.imagery is not None else {})

    def version(self) -> str:
        """Analysis version: code version and the data_version of each layer."""
        parts = [f"eudr-pipeline/{__version__}"]
        parts += [f"{s['layer']}/{s['data_version']}" for s in self.sources()]
        return " ".join(parts)

    def close(self) -> None:
        for r in self.rasters():
            r.close()


@dataclass(frozen=True)
class AnalysisOptions:
    """Tunables of the analysis. canopy_threshold is in % of tree cover 2000; batch_cells
    bounds the number of fine-grid window cells processed at once (memory)."""

    canopy_threshold: int = 10
    risk_rule: RiskRule = RiskRule()
    batch_cells: int = 4_000_000
    commodity_rules: CommodityRules | None = None  # None: the default rule for every commodity


@dataclass
class PlotRequest:
    """One plot to analyse: validated geometry (lon/lat degrees), the analysis end date in
    force, the commodity, the checks to run; or the intake error that stopped it."""

    plot_id: str
    geometry: BaseGeometry | None
    analysis_end: dt.date
    commodity: str | None = None
    checks: tuple[str, ...] = ("eudr",)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    area_ha: float | None = None  # the geodesic area of ``geometry`` when intake measured it


@dataclass
class PlotResult:
    plot_id: str
    area_ha: float | None
    analysis: dict[str, Any] | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"plot_id": self.plot_id, "error": self.error}
        return {"plot_id": self.plot_id, "area_ha": self.area_ha, "analysis": self.analysis}


# ---------------------------------------------------------------- raster metrics

@dataclass
class RasterMetrics:
    """Per-plot raster sums for one batch (ha unless stated)."""

    forest_ha: np.ndarray
    loss_hansen: np.ndarray  # (n, years)
    loss_jrc: np.ndarray  # (n, years)
    logging_ha: np.ndarray  # nan where no degradation tile covers the plot
    forest_nodata_pct: np.ndarray
    loss_nodata_pct: np.ndarray
    forest_covered: np.ndarray  # bool: some forest_2020 tile covers the plot
    loss_covered: np.ndarray


def _sum(owner: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(owner, weights=weights, minlength=n)[:n]


def _yearly(owner: np.ndarray, year: np.ndarray, weights: np.ndarray, n: int, n_years: int) -> np.ndarray:
    if n_years <= 0:
        return np.zeros((n, 0))
    idx = owner * n_years + np.clip(year - FIRST_YEAR, 0, n_years - 1)
    return np.bincount(idx, weights=weights, minlength=n * n_years)[: n * n_years].reshape(n, n_years) / 1e4


def _jrc_loss_on_forest_grid(cg: CoverageCells, wg: np.ndarray, forest: np.ndarray, end_years: np.ndarray,
                             layers: LayerSet, n: int, n_years: int) -> np.ndarray:
    """Yearly loss (ha) on 2020 forest, evaluated on the forest grid (the finer one) with
    the loss year sampled at each forest cell's centre."""
    loss = layers.loss_year
    lfv, lfcov = sample_cells(loss, layers.forest_2020.grid, cg)
    lfv = lfv.astype(np.int64)
    year = 2000 + lfv
    in_window = lfcov & (lfv != loss.fill) & (year >= FIRST_YEAR) & (year <= end_years[cg.owner]) & (
        lfv <= layers.loss_last_year - 2000)
    return _yearly(cg.owner, year, wg * (in_window & forest), n, n_years)


def _degradation_ha(ct: CoverageCells, deg: RasterLayer, end_years: np.ndarray, n: int) -> np.ndarray:
    """Area (ha) degraded after 2020 up to the analysis end (JRC TMF DegradationYear is
    the year), NaN for plots no degradation tile covers."""
    wt = ct.fraction * deg.grid.cell_area_m2(ct.row)
    dv, dcov = deg.sample(ct.row, ct.col)
    dv = dv.astype(np.int64)
    degraded = dcov & (dv != deg.fill) & (dv > 2020) & (dv <= end_years[ct.owner])
    covered = _sum(ct.owner, wt * dcov, n) > 0
    return np.where(covered, _sum(ct.owner, wt * degraded, n) / 1e4, np.nan)


def raster_metrics(geoms: np.ndarray, end_years: np.ndarray, layers: LayerSet, opts: AnalysisOptions,
                   cache: dict[tuple, CoverageCells] | None = None) -> RasterMetrics:
    """Raster sums for plots ``geoms`` ((Multi)Polygons, lon/lat) whose analysis ends in
    ``end_years``. Loss years run from 2021 to layers.loss_last_year. ``cache``: the
    batch's coverage cells by grid, shared with its indicators (computed once a grid)."""
    n = len(geoms)
    gfc, loss = layers.forest_2020, layers.loss_year
    assert gfc is not None and loss is not None
    n_years = max(layers.loss_last_year - FIRST_YEAR + 1, 0)
    cache = {} if cache is None else cache

    def cells_on(grid: Grid) -> CoverageCells:
        key = (grid.x0, grid.y0, grid.dx, grid.dy)
        if key not in cache:
            cache[key] = coverage_cells(geoms, grid)
        return cache[key]

    # forest 2020 on its own grid
    cg = cells_on(gfc.grid)
    wg = cg.fraction * gfc.grid.cell_area_m2(cg.row)
    fv, fcov = gfc.sample(cg.row, cg.col)
    forest = fcov & (fv == 1)
    forest_valid = fcov & ((fv == 0) | (fv == 1))
    total_g = _sum(cg.owner, wg, n)
    forest_ha = _sum(cg.owner, wg * forest, n) / 1e4
    forest_nodata = _sum(cg.owner, wg * ~forest_valid, n)
    forest_covered = _sum(cg.owner, wg * fcov, n) > 0

    # Hansen series on the loss-year grid
    ch = cells_on(loss.grid)
    wh = ch.fraction * loss.grid.cell_area_m2(ch.row)
    lv, lcov = loss.sample(ch.row, ch.col)
    lv = lv.astype(np.int64)
    loss_valid = lcov & (lv != loss.fill) & (lv <= layers.loss_last_year - 2000)
    year = 2000 + lv
    in_window = loss_valid & (year >= FIRST_YEAR) & (year <= end_years[ch.owner])
    canopy_ok = np.ones(ch.fraction.size, dtype=bool)
    tc = layers.tree_cover_2000
    if tc is not None:
        tv, tcov = sample_cells(tc, loss.grid, ch)
        present = tcov & (tv != tc.fill) & (tv <= 100)
        canopy_ok = ~present | (tv.astype(np.int64) > opts.canopy_threshold)
    loss_hansen = _yearly(ch.owner, year, wh * (in_window & canopy_ok), n, n_years)
    total_h = _sum(ch.owner, wh, n)
    loss_nodata = _sum(ch.owner, wh * ~loss_valid, n)
    loss_covered = _sum(ch.owner, wh * lcov, n) > 0

    # JRC series: [loss year] and [forest 2020] on the finer of the two grids
    if gfc.grid.dx * gfc.grid.dy <= loss.grid.dx * loss.grid.dy:
        loss_jrc = _jrc_loss_on_forest_grid(cg, wg, forest, end_years, layers, n, n_years)
    else:
        gv, gcov = sample_cells(gfc, loss.grid, ch)
        loss_jrc = _yearly(ch.owner, year, wh * (in_window & gcov & (gv == 1)), n, n_years)
    deg = layers.degradation_year
    logging_ha = _degradation_ha(cells_on(deg.grid), deg, end_years, n) if deg is not None else np.full(n, np.nan)

    with np.errstate(invalid="ignore", divide="ignore"):
        return RasterMetrics(
            forest_ha=forest_ha,
            loss_hansen=loss_hansen,
            loss_jrc=loss_jrc,
            logging_ha=logging_ha,
            forest_nodata_pct=np.where(total_g > 0, 100 * forest_nodata / total_g, 100.0),
            loss_nodata_pct=np.where(total_h > 0, 100 * loss_nodata / total_h, 100.0),
            forest_covered=forest_covered,
            loss_covered=loss_covered,
        )


# ---------------------------------------------------------------- assembly

def _r(x: float, nd: int = 6) -> float:
    x = float(x)
    return x if x == 0.0 else float(round(x, nd))  # round() keeps 0.0 and -0.0 as they are


def _pct(part: float, whole: float) -> float:
    return _r(100.0 * part / whole, 4) if whole > 0 else 0.0


def _rounded(values: np.ndarray, nd: int = 6) -> list[float]:
    """``[_r(v, nd) for v in values]`` as arrays. round() rounds the exact value of x to nd
    decimals (half to even), then takes the float nearest that decimal; here x * 10**nd is
    rounded to an integer and divided by 10**nd, two IEEE steps that give the same float
    whenever the product's own rounding cannot have moved it across a half. The values whose
    product lies within 4 ulps of a half, and any not finite or beyond 2**52, go through
    round() itself."""
    x = np.asarray(values, dtype=np.float64).ravel()
    scale = 10.0 ** nd
    y = x * scale
    with np.errstate(invalid="ignore"):
        doubt = ~(np.abs(y) < 2.0 ** 52) | (np.abs(y - np.floor(y) - 0.5) <= 4 * np.spacing(np.abs(y)))
    out = (np.rint(y) / scale).tolist()
    for i in np.flatnonzero(doubt).tolist():
        out[i] = _r(x[i], nd)
    return out


def _overlap_block(ov: Overlap, area_ha: float, layer: VectorLayer | None, kind: str) -> dict[str, Any]:
    """The analysis.md section 4 block of one overlap layer: ``<kind>_overlap_summary``
    (union total in ha and % of the plot), ``<kind>_details`` (per polygon), sources."""
    details = [{**rec, "overlap_area_ha": _r(ha)} for rec, ha in ov.details]
    keys = _OVERLAP_KEYS[kind]
    summary = {keys[0]: ov.total_ha > 0, "total_overlap_percentage": _pct(ov.total_ha, area_ha),
               "total_overlap_area_ha": _r(ov.total_ha)}
    if kind == "protected_area":
        summary["most_restrictive_extractive_activity_legality"] = most_restrictive(
            [d["extractive_activity_legality"] for d in details])
    return {keys[1]: summary, keys[2]: details, "sources": [layer.source()] if layer is not None else []}


_OVERLAP_KEYS = {kind: (f"{kind}_overlap", f"{kind}_overlap_summary", f"{kind}_details")
                 for kind in ("protected_area", "indigenous_land")}


def _batches(geoms: list[BaseGeometry], budget: int, grid: Grid | None) -> Iterable[list[int]]:
    """Indices of plots grouped into batches of at most ``budget`` window cells on
    ``grid`` (spatially sorted so that neighbours share raster reads)."""
    if not geoms:
        return []
    b = shapely.bounds(np.asarray(geoms, dtype=object))
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    order = np.lexsort((cx, np.floor(cy / 0.05)))
    dx, dy = (grid.dx, grid.dy) if grid else (1e-4, 1e-4)
    cells = ((b[:, 2] - b[:, 0]) / dx + 2) * ((b[:, 3] - b[:, 1]) / dy + 2)
    batch: list[int] = []
    used = 0.0
    out = []
    for i in order.tolist():
        if batch and used + cells[i] > budget:
            out.append(batch)
            batch, used = [], 0.0
        batch.append(i)
        used += cells[i]
    if batch:
        out.append(batch)
    return out


def risk_measures(a: dict[str, Any]) -> dict[str, float | None]:
    """The numbers of an analysis the commodity rules read (core/risk.py), by name, in ha."""
    d = a.get("deforestation") or {}
    pa = (a.get("protected_areas") or {}).get("protected_area_details") or []
    out = {"forest_area_2020": a.get("forest_area_2020"), "loss_after_2020": d.get("total_jrc"),
           "loss_after_2020_hansen": d.get("total"), "logging_area": a.get("logging_area"),
           "prohibited_protected_area": float(any(x.get("extractive_activity_legality") == "prohibited" for x in pa))}
    out.update({name: v.get("area_ha") for name, v in (a.get("indicators") or {}).items()})
    return out


def apply_commodity_rules(a: dict[str, Any], rules: CommodityRules) -> None:
    """Replace the default rule's risk level and reason with the commodity group's (in
    place), recording the outcome in ``risk_assessment``; plots of other commodities, and
    plots without the eudr check, keep theirs."""
    group = rules.group_of(a.get("commodity"))
    if group is None or "risk_level" not in a:
        return
    level, reason, assessment = assess_commodity_risk(rules, group, a["commodity"], risk_measures(a), a["areaHa"])
    a.update({"risk_level": level, "risk_reason": reason, "risk_assessment": assessment})


def batch_indicators(layers: LayerSet, geoms: np.ndarray, areas: np.ndarray, ends: list[dt.date],
                     cells: dict[tuple, CoverageCells] | None = None) -> list[dict[str, dict]] | None:
    """The registry indicators (core/indicators.py) of a batch of plots; None when the
    layer set has no dataset any indicator reads."""
    wanted = [i for i in layers.indicators if (i.raster_key in layers.extra_rasters if i.kind != "overlap"
                                                  else i.dataset in layers.extra_vectors)]
    if not wanted:
        return None
    national = any(i.countries for i in wanted) and layers.country_of is not None
    countries = layers.country_of(list(geoms)) if national else [None] * len(geoms)
    batch = Batch(geoms, areas, ends, countries, {} if cells is None else cells)
    return compute_indicators(tuple(wanted), batch, layers.extra_rasters, layers.extra_vectors, layers.forest_2020)


def analyze_plots(
    requests: list[PlotRequest],
    layers: LayerSet,
    opts: AnalysisOptions = AnalysisOptions(),
    progress: Callable[[int], None] | None = None,
) -> list[PlotResult]:
    """Analyse every plot request; results in the order of ``requests``. A plot that fails
    (intake error, no forest/loss tile covers it) gets an error; the others are analysed."""
    results: list[PlotResult | None] = [None] * len(requests)
    ok = []
    for i, req in enumerate(requests):
        if req.error is not None or req.geometry is None:
            results[i] = PlotResult(req.plot_id, None, None, req.error or "no geometry")
        else:
            ok.append(i)
    raster_idx = [i for i in ok if "eudr" in requests[i].checks]
    missing = [name for name, lyr in (("jrc_gfc2020", layers.forest_2020), ("hansen_gfc lossyear", layers.loss_year)) if lyr is None]
    if raster_idx and missing:
        for i in raster_idx:
            results[i] = PlotResult(requests[i].plot_id, None, None, f"layer source has no {', '.join(missing)}")
        ok = [i for i in ok if i not in set(raster_idx)]
        raster_idx = []
    sources = layers.sources()
    version = layers.version()
    fine = None
    if layers.forest_2020 is not None and layers.loss_year is not None:
        fine = min((layers.forest_2020.grid, layers.loss_year.grid), key=lambda g: g.dx * g.dy)
    for batch_pos in _batches([requests[i].geometry for i in ok], opts.batch_cells, fine):
        idx = [ok[k] for k in batch_pos]
        geoms = np.array([requests[i].geometry for i in idx], dtype=object)
        areas = _areas([requests[i] for i in idx], geoms)
        eudr_mask = np.array(["eudr" in requests[i].checks for i in idx])
        metrics, cells = None, {}  # coverage cells by grid, computed once for the metrics and the indicators
        end_years = np.array([requests[i].analysis_end.year for i in idx], dtype=np.int64)
        if eudr_mask.any():
            metrics = raster_metrics(geoms, end_years, layers, opts, cells)
        pa = overlaps(geoms, layers.protected_areas)
        il = overlaps(geoms, layers.indigenous_lands)
        extra = batch_indicators(layers, geoms, areas, [requests[i].analysis_end for i in idx], cells)
        numbers = _batch_numbers(metrics, areas, end_years, layers.loss_last_year)
        for k, i in enumerate(idx):
            results[i] = _assemble(requests[i], numbers, metrics, k, pa[k], il[k], layers, opts, sources, version)
            if extra is not None and results[i].analysis is not None:
                results[i].analysis["indicators"] = extra[k]
            if opts.commodity_rules is not None and results[i].analysis is not None:
                apply_commodity_rules(results[i].analysis, opts.commodity_rules)
        if progress:
            progress(len(idx))
    return [r for r in results if r is not None]


def _areas(requests: list[PlotRequest], geoms: np.ndarray) -> np.ndarray:
    """Geodesic areas (ha) of a batch's plots: what intake measured, the others computed."""
    areas = np.array([np.nan if r.area_ha is None else r.area_ha for r in requests], dtype=np.float64)
    missing = np.isnan(areas)
    if missing.any():
        areas[missing] = geodesic_areas_ha(geoms[missing])
    return areas


def _batch_numbers(m: RasterMetrics | None, areas: np.ndarray, end_years: np.ndarray, last_year: int) -> dict[str, Any]:
    """The numbers of a batch's analyses as ``_assemble`` writes them, computed as arrays:
    each plot's value is what the per-plot expression gives (the same IEEE operations in the
    same order; Python floats, rounded as ``_r`` rounds). A plot's loss totals add its years
    from 2021 up to its last one (``years``) one after the other, as ``sum()`` does."""
    out: dict[str, Any] = {"area": areas.tolist(), "area_r": _rounded(areas)}
    if m is None:
        return out
    n, n_years = m.loss_hansen.shape
    years = np.clip(np.minimum(end_years, last_year) - FIRST_YEAR + 1, 0, n_years)
    total, total_jrc = np.zeros(n), np.zeros(n)
    for j in range(n_years):
        total = np.where(j < years, total + m.loss_hansen[:, j], total)
        total_jrc = np.where(j < years, total_jrc + m.loss_jrc[:, j], total_jrc)
    positive = areas > 0
    whole = np.where(positive, areas, 1.0)
    loss_pct = np.where(positive, 100.0 * total_jrc / whole, 0.0)
    logging = _rounded(np.nan_to_num(m.logging_ha))
    out.update({
        "years": years.tolist(), "n_years": n_years, "yearly": _rounded(m.loss_hansen),
        "yearly_jrc": _rounded(m.loss_jrc), "total_r": _rounded(total), "total_jrc": total_jrc.tolist(),
        "total_jrc_r": _rounded(total_jrc), "loss_pct": loss_pct.tolist(), "loss_pct_r": _rounded(loss_pct, 4),
        "forest_r": _rounded(m.forest_ha),
        "forest_pct": np.where(positive, _rounded(100.0 * m.forest_ha / whole, 4), 0.0).tolist(),
        "logging": [None if np.isnan(v) else r for v, r in zip(m.logging_ha.tolist(), logging)],
        "forest_nodata": _rounded(m.forest_nodata_pct, 4), "loss_nodata": _rounded(m.loss_nodata_pct, 4),
    })
    return out


def _eudr_numbers(nums: dict[str, Any], k: int, prohibited: list[str], opts: AnalysisOptions) -> dict[str, Any]:
    """The eudr check's part of plot ``k``'s analysis (analysis.md section 3), risk included."""
    first, n = k * nums["n_years"], nums["years"][k]
    names = [str(y) for y in range(FIRST_YEAR, FIRST_YEAR + n)]
    level, reason = assess_risk(nums["total_jrc"][k], nums["loss_pct"][k], prohibited, opts.risk_rule)
    return {
        "forest_area_2020": nums["forest_r"][k],
        "forest_percentage_2020": nums["forest_pct"][k],
        "deforestation": {"total_yearly": dict(zip(names, nums["yearly"][first:first + n])),
                          "total_yearly_jrc": dict(zip(names, nums["yearly_jrc"][first:first + n])),
                          "total": nums["total_r"][k], "total_jrc": nums["total_jrc_r"][k]},
        "deforestation_percentage": nums["loss_pct_r"][k],
        "logging_area": nums["logging"][k],
        "risk_level": level,
        "risk_reason": reason,
        "canopy_threshold": opts.canopy_threshold,
        "nodata_percentage": {"jrc_gfc2020": nums["forest_nodata"][k], "hansen_lossyear": nums["loss_nodata"][k]},
    }


def _assemble(req: PlotRequest, nums: dict[str, Any], m: RasterMetrics | None, k: int, pa: Overlap, il: Overlap,
              layers: LayerSet, opts: AnalysisOptions, sources: list[dict], version: str) -> PlotResult:
    area_ha = nums["area"][k]
    end = req.analysis_end.isoformat()
    a: dict[str, Any] = {"analysisEnd": end, "analysis_end": end, "areaHa": nums["area_r"][k], "version": version,
                         "sources": sources, "commodity": req.commodity, "checks": list(req.checks)}
    if req.warnings:
        a["warnings"] = list(req.warnings)
    prohibited: list[str] = []
    if "eudr" in req.checks or "protected-area" in req.checks:
        a["protected_areas"] = _overlap_block(pa, area_ha, layers.protected_areas, "protected_area")
        a["protectedAreas"] = [[d["area_name"], d["overlap_area_ha"]] for d in a["protected_areas"]["protected_area_details"]]
        prohibited = [d["area_name"] or d["area_id"] for d in a["protected_areas"]["protected_area_details"]
                      if d["extractive_activity_legality"] == "prohibited"]
    if "eudr" in req.checks or "indigenous-land" in req.checks:
        a["indigenous_land"] = _overlap_block(il, area_ha, layers.indigenous_lands, "indigenous_land")
        a["indigenous_overlap"] = {
            "total_overlap_area": _r(il.total_ha),
            "overlapping_territories": [rec.get("name") for rec, _ in il.details],
            "overlap_percentage": _pct(il.total_ha, area_ha),
        }
    if "eudr" in req.checks:
        assert m is not None
        if not m.forest_covered[k]:
            return PlotResult(req.plot_id, nums["area_r"][k], None,
                              f"no jrc_gfc2020 tile covers this plot (layer covers {_fmt_bounds(layers.forest_2020)})")
        if not m.loss_covered[k]:
            return PlotResult(req.plot_id, nums["area_r"][k], None,
                              f"no hansen_gfc lossyear tile covers this plot (layer covers {_fmt_bounds(layers.loss_year)})")
        a.update(_eudr_numbers(nums, k, prohibited, opts))
    return PlotResult(req.plot_id, nums["area_r"][k], a)


def _fmt_bounds(layer: RasterLayer | None) -> str:
    if layer is None:
        return "nothing"
    w, s, e, n = layer.bounds()
    return f"lon {w:.4f}..{e:.4f}, lat {s:.4f}..{n:.4f}"
