"""The baseline: the same raster statistics as `eudr analyze`, computed with exactextract.

    python bench/baseline_exactextract.py PLOTS.geojson --sources bench/data/sources --loss10m bench/data/baseline/lossyear_10m.tif --out FILE

Per plot: geodesic area (pyproj), forest 2020 area, Hansen loss per year 2021-2024 with
the canopy test, JRC loss per year on the 10 m grid (from a pre-resampled 10 m copy of the
loss year, prepared outside the timing), degradation after 2020; cell areas on WGS84 from
exactextract's cell centres. This is how such numbers are commonly computed today."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
from exactextract import exact_extract
from pyproj import Geod

A, F = 6378137.0, 1 / 298.257223563
B, E = A * (1 - F), math.sqrt(F * (2 - F))


def zone(lat):
    s = np.sin(np.radians(lat))
    return (B * B / 2) * (s / (1 - (E * s) ** 2) + np.arctanh(E * s) / E)


def cell_area(center_y, d):
    return np.radians(d) * np.abs(zone(center_y + d / 2) - zone(center_y - d / 2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("plots")
    ap.add_argument("--sources", required=True)
    ap.add_argument("--loss10m", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    t0 = time.perf_counter()
    warnings.filterwarnings("ignore", message="Spatial reference system")
    src = Path(args.sources)
    gfc = str(next((src / "jrc_gfc2020").rglob("*.tif")))
    loss = str(next((src / "hansen_gfc").rglob("*lossyear*.tif")))
    tc = str(next((src / "hansen_gfc").rglob("*treecover2000*.tif")))
    tmf = str(next((src / "jrc_tmf").rglob("*DegradationYear*.tif")))
    gdf = gpd.read_file(args.plots)
    ops = ["coverage", "values", "center_y"]
    fine = exact_extract([gfc, args.loss10m], gdf, ops, output="pandas")
    coarse = exact_extract([loss, tc, tmf], gdf, ops, output="pandas")
    name = lambda path, op: f"{Path(path).stem}_{op}"  # noqa: E731
    geod = Geod(ellps="WGS84")
    fine_d, coarse_d = 8.983152841195215e-05, 0.00025
    years = range(2021, 2025)
    out = []
    for i, geom in enumerate(gdf.geometry):
        f = fine.iloc[i]
        c = coarse.iloc[i]
        fval, lval = np.asarray(f[name(gfc, "values")]), np.asarray(f[name(args.loss10m, "values")])
        wf = np.asarray(f[name(gfc, "coverage")]) * cell_area(np.asarray(f[name(gfc, "center_y")]), fine_d)
        lv, tv, dv = (np.asarray(c[name(p, "values")]) for p in (loss, tc, tmf))
        wc = np.asarray(c[name(loss, "coverage")]) * cell_area(np.asarray(c[name(loss, "center_y")]), coarse_d)
        forest = fval == 1
        out.append({
            "area_ha": abs(geod.geometry_area_perimeter(geom)[0]) / 1e4,
            "forest_area_2020": float((wf * forest).sum()) / 1e4,
            "total_yearly": {str(y): float((wc * (lv == y - 2000) * (tv > 10)).sum()) / 1e4 for y in years},
            "total_yearly_jrc": {str(y): float((wf * (lval == y - 2000) * forest).sum()) / 1e4 for y in years},
            "logging_area": float((wc * ((dv > 2020) & (dv <= 2024))).sum()) / 1e4,
        })
    Path(args.out).write_text(json.dumps(out))
    print(f"{len(out)} plots in {time.perf_counter() - t0:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
