"""Benchmark: ingesting one large raster tile into the layer store with bounded memory.

    python bench/bench_ingest.py [--size 40000]

Generates (once) a SIZE x SIZE loss-year tile shaped like a real Hansen tile (uint8,
striped rows, LZW, values 0..24), then ingests it in a fresh process (scan of the value
domain + conversion to a cloud-optimized GeoTIFF with overviews) and reports wall time and
the child's peak resident memory."""

from __future__ import annotations

import argparse
import os
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=40000)
    ap.add_argument("--data", default=str(HERE / "data" / "ingest"))
    args = ap.parse_args()
    data = Path(args.data)
    sources = data / f"sources_{args.size}"
    tile = sources / "hansen_gfc" / "v1.12" / "Hansen_GFC-2024-v1.12_lossyear_20N_090W.tif"
    t0 = time.perf_counter()
    generate(tile, args.size)
    gen_s = time.perf_counter() - t0
    store = data / f"store_{args.size}_{os.getpid()}"
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
    size_mb = tile.stat().st_size / 2**20
    print("| tile (cells) | source file MiB | ingest wall s | peak RSS MiB | result |")
    print("|---|---|---|---|---|")
    print(f"| {args.size} x {args.size} | {size_mb:.0f} | {wall:.1f} | {usage.ru_maxrss / 1024:.0f} | {out} |")
    print(f"(tile generated in {gen_s:.0f} s, once)", file=sys.stderr)


if __name__ == "__main__":
    main()
