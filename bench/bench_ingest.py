"""Benchmark: ingesting one large raster tile into the layer store with bounded memory.

    python bench/bench_ingest.py [--size 40000] [--repeat 3]

Generates (once, cached under bench/data/, not committed) a SIZE x SIZE loss-year tile
shaped like a real Hansen tile (uint8, one-row strips, LZW, values 0..24), then ingests it
REPEAT times, each in a fresh process into a fresh store (one pass over the source that
counts its values and stages a tiled copy, then GDAL's COG driver: 512 px tiles, deflate,
overviews), and reports the median wall time, the largest peak resident memory of the
children and the size of the stored COG. Each store is deleted after its run."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

HERE = Path(__file__).resolve().parent


def generate(path: Path, size: int) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint8", crs="EPSG:4326",
                   transform=Affine(0.00025, 0, -90.0, 0, -0.00025, 20.0), nodata=255, compress="lzw",
                   BIGTIFF="YES", blockysize=1)
    rows = 256
    cols = np.arange(size)
    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, size, rows):
            r1 = min(size, r0 + rows)
            r = np.arange(r0, r1)[:, None]
            patch = ((r // 97 + cols[None, :] // 89) % 11 == 0) & (rng.random((r1 - r0, size)) < 0.6)
            years = ((r // 400 + cols[None, :] // 400) % 24 + 1).astype(np.uint8)
            dst.write(np.where(patch, years, 0).astype(np.uint8), 1, window=rasterio.windows.Window(0, r0, size, r1 - r0))


def ingest_once(sources: Path, store: Path) -> tuple[float, float, float, str]:
    """Ingest the tile in a fresh process: (wall s, peak RSS MiB, stored COG MiB, result)."""
    code = ("import sys; from eudr_pipeline.layers.store import LayerStore; "
            f"r = LayerStore({str(store)!r}).ingest({str(sources)!r}, 'hansen_gfc'); "
            "print(r.status, r.tile_count, r.details['lossyear_values'])")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out = proc.stdout.read().strip()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ingestion failed: {out}")
    cog_mb = sum(f.stat().st_size for f in store.rglob("*.tif")) / 2**20
    return wall, usage.ru_maxrss / 1024, cog_mb, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=40000)
    ap.add_argument("--repeat", type=int, default=1, help="ingestions to run; the median wall time is reported")
    ap.add_argument("--data", default=str(HERE / "data" / "ingest"))
    args = ap.parse_args()
    data = Path(args.data)
    sources = data / f"sources_{args.size}"
    tile = sources / "hansen_gfc" / "v1.12" / "Hansen_GFC-2024-v1.12_lossyear_20N_090W.tif"
    t0 = time.perf_counter()
    generate(tile, args.size)
    gen_s = time.perf_counter() - t0
    runs = []
    for i in range(args.repeat):
        store = data / f"store_{args.size}_{os.getpid()}_{i}"
        try:
            runs.append(ingest_once(sources, store))
        finally:
            shutil.rmtree(store, ignore_errors=True)
        print(f"run {i + 1}: {runs[-1][0]:.1f} s, {runs[-1][1]:.0f} MiB", file=sys.stderr)
    walls = [r[0] for r in runs]
    size_mb = tile.stat().st_size / 2**20
    print("| tile (cells) | source file MiB | runs | ingest wall s (median) | peak RSS MiB | COG MiB | result |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.size} x {args.size} | {size_mb:.0f} | {len(runs)} | {statistics.median(walls):.1f} "
          f"| {max(r[1] for r in runs):.0f} | {runs[-1][2]:.1f} | {runs[-1][3]} |")
    print(f"(tile generated in {gen_s:.0f} s, once; wall s per run: {', '.join(f'{w:.1f}' for w in walls)})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
