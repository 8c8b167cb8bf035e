"""Benchmark: `eudr analyze` against the exactextract baseline, in one run.

    python bench/bench_analyze.py --plots 1124 [--repeat 5]
    python bench/bench_analyze.py --plots 10000 [--repeat 3]

Generates the layers over the extent of shared/data/real/plots/nicaragua_coffee_1124.geojson
(bench/generate.py) on first use, then runs both commands alternately as fresh processes,
measuring wall time (process start to exit, imports included), the time each reports for
its own work, and peak resident memory (ru_maxrss of the child). Prints a Markdown table
of medians and the speed ratio baseline/ours (> 1 means ours is faster), and checks that
both computed the same numbers (within the contract's tolerance)."""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_PLOTS = ROOT.parent / "shared" / "data" / "real" / "plots" / "nicaragua_coffee_1124.geojson"


def run(cmd: list[str]) -> tuple[float, float, float, str]:
    """(wall s, self-reported s, peak RSS MiB, stderr) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{err}")
    m = re.search(r"in ([0-9.]+) s", err)
    return wall, float(m.group(1)) if m else float("nan"), usage.ru_maxrss / 1024.0, err


def agreement(ours: Path, base: Path) -> float:
    """Worst deviation over every plot and number, in units of the contract's tolerance
    max(0.0001 ha, 0.1 %): below 1 means within tolerance."""
    a, b = json.loads(ours.read_text()), json.loads(base.read_text())
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        an = x["analysis"]
        pairs = [(an["areaHa"], y["area_ha"]), (an["forest_area_2020"], y["forest_area_2020"]),
                 (an["logging_area"], y["logging_area"])]
        for yr in y["total_yearly"]:
            pairs.append((an["deforestation"]["total_yearly"][yr], y["total_yearly"][yr]))
            pairs.append((an["deforestation"]["total_yearly_jrc"][yr], y["total_yearly_jrc"][yr]))
        for u, v in pairs:
            worst = max(worst, abs(u - v) / max(1e-4, 1e-3 * abs(v)))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plots", type=int, default=1124)
    ap.add_argument("--repeat", type=int, default=0)
    ap.add_argument("--source-plots", default=str(DEFAULT_PLOTS))
    ap.add_argument("--data", default=str(HERE / "data"))
    ap.add_argument("--env-bin", default=str(Path(sys.executable).parent),
                    help="the bin folder of the Python environment both commands run in (default: this one). A "
                         "user's installation (`pip install .` plus exactextract for the baseline) has no test "
                         "extras: this project's test extra installs boto3, which rasterio then imports at start")
    args = ap.parse_args()
    repeat = args.repeat or (5 if args.plots <= 2000 else 3)
    data = Path(args.data)
    bin_dir = Path(args.env_bin)
    subprocess.run([sys.executable, str(HERE / "generate.py"), "--plots", args.source_plots, "--out", str(data),
                    "--n-plots", str(args.plots)], check=True, stdout=subprocess.DEVNULL)
    plots = data / f"plots_{args.plots}.geojson"
    out = data / "results"
    out.mkdir(exist_ok=True)
    ours_cmd = [str(bin_dir / "eudr"), "analyze", str(plots), "--sources", str(data / "sources"),
                "--harvest-date", "2024-12-31", "--out", str(out / f"ours_{args.plots}.json")]
    base_cmd = [str(bin_dir / "python"), str(HERE / "baseline_exactextract.py"), str(plots), "--sources", str(data / "sources"),
                "--loss10m", str(data / "baseline" / "lossyear_10m.tif"), "--out", str(out / f"base_{args.plots}.json")]
    ours, base = [], []
    run(ours_cmd), run(base_cmd)  # warm the page cache
    for _ in range(repeat):
        ours.append(run(ours_cmd))
        base.append(run(base_cmd))
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    dev = agreement(out / f"ours_{args.plots}.json", out / f"base_{args.plots}.json")
    print("| plots | runs | ours wall s | baseline wall s | ratio (wall) | ours work s | baseline work s | ratio (work) "
          "| ours peak MiB | baseline peak MiB | worst deviation / tolerance |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.plots} | {repeat} | {med(ours, 0):.2f} | {med(base, 0):.2f} | {med(base, 0) / med(ours, 0):.2f} "
          f"| {med(ours, 1):.2f} | {med(base, 1):.2f} | {med(base, 1) / med(ours, 1):.2f} "
          f"| {max(r[2] for r in ours):.0f} | {max(r[2] for r in base):.0f} | {dev:.3f} |")


if __name__ == "__main__":
    main()
