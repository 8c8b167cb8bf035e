"""Benchmark: `eudr analyze` on a million plots, streamed (issue 12, target 3).

    python bench/bench_stream.py [--plots 1000000] [--repeat 1] [--mid 100000]

Plots: the real plots of shared/data/real/plots/nicaragua_coffee_1124.geojson, copied with
deterministic offsets inside their extent (bench/generate.py --sequence: a GeoJSON text
sequence, one Feature per line; its first 10,000 plots are those of plots_10000.geojson),
over the layers of the first benchmark. Each run is a fresh process:

- ``stream``: ``--format ndjson`` of the whole file, chunks of 10,000 plots (the default);
- at ``--mid`` plots, the same streamed run, and the same plots in **one chunk** (what the
  whole file read and analysed in memory costs): the baseline for memory.

Reports wall time (process start to exit), plots per second and peak resident memory
(ru_maxrss of the child); checks that the streamed output has one object per plot, that
its first 10,000 objects equal the in-memory analysis of plots_10000.geojson, and that the
mid-size streamed file is byte-identical to the one-chunk file."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from itertools import islice
from pathlib import Path

from bench_analyze import DEFAULT_PLOTS, HERE, run


def generate(n: int, data: Path, sequence: bool) -> Path:
    subprocess.run([sys.executable, str(HERE / "generate.py"), "--plots", str(DEFAULT_PLOTS), "--out", str(data),
                    "--n-plots", str(n), *(["--sequence"] if sequence else [])], check=True, stdout=subprocess.DEVNULL)
    return data / f"plots_{n}.geojson{'l' if sequence else ''}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plots", type=int, default=1_000_000)
    ap.add_argument("--mid", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--data", default=str(HERE / "data"))
    args = ap.parse_args()
    data = Path(args.data)
    out = data / "results"
    out.mkdir(parents=True, exist_ok=True)
    eudr = [str(Path(sys.executable).parent / "eudr"), "analyze"]
    common = ["--sources", str(data / "sources"), "--harvest-date", "2024-12-31"]
    small, mid, big = generate(10_000, data, False), generate(args.mid, data, True), generate(args.plots, data, True)
    run([*eudr, str(small), *common, "--out", str(out / "stream_10000.json")])
    rows = []
    for label, name, plots, extra in [
        (f"{args.mid:,}, one chunk (in memory)", f"{args.mid}_one_chunk", mid, ["--chunk-plots", str(args.mid)]),
        (f"{args.mid:,}, streamed", f"{args.mid}_streamed", mid, []),
        (f"{args.plots:,}, streamed", f"{args.plots}_streamed", big, []),
    ]:
        target = out / f"stream_{name}.ndjson"
        cmd = [*eudr, str(plots), *common, "--format", "ndjson", "--out", str(target), *extra]
        runs = [run(cmd) for _ in range(args.repeat if plots == big else max(args.repeat, 3))]
        wall = statistics.median(r[0] for r in runs)
        n = int(plots.name.split("_")[1].split(".")[0])
        rows.append((label, len(runs), wall, n / wall, max(r[2] for r in runs), target))
    checks = verify(out / "stream_10000.json", rows[2][5], args.plots, rows[0][5], rows[1][5])
    print("| plots | runs | wall s (median) | plots per s | peak MiB |")
    print("|---|---|---|---|---|")
    for label, runs, wall, rate, peak, _ in rows:
        print(f"| {label} | {runs} | {wall:.1f} | {rate:,.0f} | {peak:.0f} |")
    print(checks)


def verify(small: Path, big: Path, n: int, one_chunk: Path, chunked: Path) -> str:
    expected = json.loads(small.read_text())
    with open(big, encoding="utf-8") as fh:
        first = [json.loads(line) for line in islice(fh, len(expected))]
    with open(big, "rb") as fh:
        lines = sum(1 for _ in fh)
    if first != expected:
        raise SystemExit("the streamed run's first plots differ from the in-memory analysis of plots_10000.geojson")
    if lines != n:
        raise SystemExit(f"{lines} objects written for {n} plots")
    if one_chunk.read_bytes() != chunked.read_bytes():
        raise SystemExit("the streamed mid-size output differs from the one-chunk output")
    return (f"checked: {lines:,} objects for {n:,} plots; the first {len(expected):,} equal the in-memory analysis "
            f"of plots_10000.geojson; streamed and one-chunk outputs byte-identical")


if __name__ == "__main__":
    main()
