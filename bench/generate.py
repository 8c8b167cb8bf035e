"""Generate benchmark layers over the extent of a plots file, and more plots.

    python bench/generate.py --plots PLOTS.geojson --out bench/data [--n-plots 10000] [--sequence]

Writes bench/data/sources/ (a layer source directory: 10 m jrc_gfc2020, 30 m Hansen loss
year and tree cover, 30 m TMF degradation year, WDPA-schema protected areas), a 10 m
nearest-neighbour copy of the loss year for the exactextract baseline, and, with
--n-plots, a plots file of that many plots (the input plots, copied with deterministic
offsets inside the extent). Deterministic: same inputs, same files."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine

FINE = 8.983152841195215e-05  # JRC GFC2020 cell (deg)
COARSE = 0.00025  # Hansen / TMF cell (deg)
ROWS_PER_CHUNK = 512


def snapped_grid(bounds, cell, anchor_x=-90.0, anchor_y=20.0, pad=0.01):
    """Origin and size of a grid on the lattice of real 10 x 10 deg tiles covering bounds."""
    w, s, e, n = bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad
    c0 = math.floor((w - anchor_x) / cell)
    r0 = math.floor((anchor_y - n) / cell)
    x0, y0 = anchor_x + c0 * cell, anchor_y - r0 * cell
    return x0, y0, math.ceil((e - x0) / cell), math.ceil((y0 - s) / cell)


def forest_field(lon, lat):
    """A smooth deterministic 'forestness' field in [-3, 3]."""
    return (np.sin(lon * 157.0 + 1.3) + np.sin(lat * 211.0 + 0.7) + np.sin((lon + lat) * 97.0 + 2.1)
            + 0.5 * np.sin(lon * 1013.0) * np.sin(lat * 877.0))


def open_writer(path: Path, x0, y0, cell, width, height, dtype, nodata=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    return rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype=dtype,
                         crs="EPSG:4326", transform=Affine(cell, 0, x0, 0, -cell, y0), nodata=nodata,
                         tiled=True, blockxsize=512, blockysize=512, compress="deflate", BIGTIFF="IF_SAFER")


def write_forest(path: Path, x0, y0, w, h) -> None:
    with open_writer(path, x0, y0, FINE, w, h, "uint8") as dst:
        lon = x0 + (np.arange(w) + 0.5) * FINE
        for r0 in range(0, h, ROWS_PER_CHUNK):
            r1 = min(h, r0 + ROWS_PER_CHUNK)
            lat = y0 - (np.arange(r0, r1) + 0.5) * FINE
            f = forest_field(lon[None, :], lat[:, None]) > 0.2
            dst.write(f.astype(np.uint8), 1, window=rasterio.windows.Window(0, r0, w, r1 - r0))


def coarse_layers(x0, y0, w, h, seed=1):
    rng = np.random.default_rng(seed)
    lon = x0 + (np.arange(w) + 0.5) * COARSE
    lat = y0 - (np.arange(h) + 0.5) * COARSE
    field = forest_field(lon[None, :], lat[:, None])
    cover = np.clip(np.where(field > 0.2, 85, 8) + rng.integers(-10, 11, (h, w)), 0, 100).astype(np.uint8)
    loss = np.zeros((h, w), np.uint8)
    deg = np.zeros((h, w), np.uint16)
    n_patches = int(w * h / 400)
    for arr, years in ((loss, (1, 25)), (deg, (2000, 2025))):
        rs = rng.integers(0, h, n_patches)
        cs = rng.integers(0, w, n_patches)
        rad = rng.integers(1, 7, n_patches)
        ys = rng.integers(*years, n_patches)
        for r, c, k, y in zip(rs, cs, rad, ys):
            arr[max(r - k, 0): r + k, max(c - k, 0): c + k] = y
    return loss, cover, deg


def protected_areas(bounds, n=40, seed=2) -> dict:
    rng = np.random.default_rng(seed)
    w, s, e, nn = bounds
    cats = ["Ia", "Ib", "II", "III", "IV", "V", "VI", "Not Reported"]
    feats = []
    for k in range(n):
        c = shapely.Point(rng.uniform(w, e), rng.uniform(s, nn))
        g = shapely.buffer(c, rng.uniform(0.005, 0.05), quad_segs=6)
        feats.append({"type": "Feature", "geometry": shapely.geometry.mapping(g), "properties": {
            "WDPAID": 900000 + k, "WDPA_PID": str(900000 + k), "NAME": f"Bench area {k}", "ORIG_NAME": f"Área {k}",
            "DESIG_ENG": "Reserve", "IUCN_CAT": cats[k % len(cats)], "STATUS": "Designated", "ISO3": "NIC",
            "MANG_AUTH": "Bench authority"}})
    return {"type": "FeatureCollection", "features": feats}


def _moved_plots(plots: dict, n: int, bounds, seed=3):
    """(k, plot_id, shapely geometry) of ``n`` plots: the input plots repeated, each copy
    after the first round shifted by a deterministic offset that keeps it inside ``bounds``."""
    rng = np.random.default_rng(seed)
    geoms = [shapely.geometry.shape(f["geometry"]) for f in plots["features"]]
    w, s, e, nn = bounds
    for k in range(n):
        g = geoms[k % len(geoms)]
        if k >= len(geoms):
            gw, gs, ge, gn = g.bounds
            dx = rng.uniform(w - gw, e - ge)
            dy = rng.uniform(s - gs, nn - gn)
            g = shapely.affinity.translate(g, dx, dy)
        yield k, f"p{k:05d}", g


def more_plots(plots: dict, n: int, bounds, seed=3) -> dict:
    """``n`` plots (``_moved_plots``) as a FeatureCollection."""
    out = [{"type": "Feature", "properties": {"plot_id": pid}, "geometry": shapely.geometry.mapping(g)}
           for _, pid, g in _moved_plots(plots, n, bounds, seed)]
    return {"type": "FeatureCollection", "features": json.loads(json.dumps(out))}


def write_plot_sequence(path: Path, plots: dict, n: int, bounds, seed=3) -> None:
    """The same ``n`` plots as ``more_plots`` (the first 10,000 equal to plots_10000.geojson's),
    written as a GeoJSON text sequence, one Feature per line, without holding them all."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        batch = []
        for k, pid, g in _moved_plots(plots, n, bounds, seed):
            batch.append(json.dumps({"type": "Feature", "properties": {"plot_id": pid},
                                     "geometry": shapely.geometry.mapping(g)}))
            if len(batch) == 10_000 or k == n - 1:
                fh.write("\n".join(batch) + "\n")
                batch = []
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plots", required=True)
    ap.add_argument("--out", default="bench/data")
    ap.add_argument("--n-plots", type=int, default=0)
    ap.add_argument("--sequence", action="store_true", help="write PLOTS as a GeoJSON text sequence (.geojsonl)")
    args = ap.parse_args()
    out = Path(args.out)
    plots = json.loads(Path(args.plots).read_text())
    geoms = [shapely.geometry.shape(f["geometry"]) for f in plots["features"]]
    bounds = shapely.total_bounds(geoms)
    src = out / "sources"
    gfc = src / "jrc_gfc2020" / "V3" / "JRC_GFC2020_V3_N20_W90.tif"
    if not gfc.exists():
        x0, y0, w, h = snapped_grid(bounds, FINE)
        write_forest(gfc, x0, y0, w, h)
        cx0, cy0, cw, ch = snapped_grid(bounds, COARSE)
        loss, cover, deg = coarse_layers(cx0, cy0, cw, ch)
        for name, arr, nd in (("Hansen_GFC-2024-v1.12_lossyear_20N_090W.tif", loss, 255),
                              ("Hansen_GFC-2024-v1.12_treecover2000_20N_090W.tif", cover, 255)):
            with open_writer(src / "hansen_gfc" / "v1.12" / name, cx0, cy0, COARSE, cw, ch, "uint8", nd) as dst:
                dst.write(arr, 1)
        with open_writer(src / "jrc_tmf" / "v1_2025" / "JRC_TMF_DegradationYear_v1_2025_N20_W90.tif",
                         cx0, cy0, COARSE, cw, ch, "uint16") as dst:
            dst.write(deg, 1)
        # baseline only: loss year resampled (nearest, at fine-cell centres) onto the 10 m grid
        with open_writer(out / "baseline" / "lossyear_10m.tif", x0, y0, FINE, w, h, "uint8", 255) as dst:
            cols = np.floor((x0 + (np.arange(w) + 0.5) * FINE - cx0) / COARSE).astype(int).clip(0, cw - 1)
            for r0 in range(0, h, ROWS_PER_CHUNK):
                r1 = min(h, r0 + ROWS_PER_CHUNK)
                rows = np.floor((cy0 - (y0 - (np.arange(r0, r1) + 0.5) * FINE)) / COARSE).astype(int).clip(0, ch - 1)
                dst.write(loss[rows][:, cols], 1, window=rasterio.windows.Window(0, r0, w, r1 - r0))
        (src / "wdpa" / "bench").mkdir(parents=True, exist_ok=True)
        (src / "wdpa" / "bench" / "wdpa_bench.geojson").write_text(json.dumps(protected_areas(bounds)))
    n = args.n_plots or len(plots["features"])
    target = out / f"plots_{n}.geojson{'l' if args.sequence else ''}"
    if not target.exists() and args.sequence:
        write_plot_sequence(target, plots, n, bounds)
    elif not target.exists():
        target.write_text(json.dumps(more_plots(plots, n, bounds)))
    print(f"sources: {src}\nplots:   {target}")


if __name__ == "__main__":
    main()
