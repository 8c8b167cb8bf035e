"""Benchmark: the job report's PDF (and HTML) for large jobs, laid out in parts (the
default, service/reports.py render_pdf) against one WeasyPrint document (the baseline),
each measured in a fresh process: wall time and peak memory (the process's own peak and
its largest worker's).

    python bench/bench_report.py [--plots 1000 10000] [--baseline-plots 1000] [--repeat 1]

The response object is synthetic (every field a report shows, High/Medium/Low in turn,
every 7th plot failed); each analysed plot has a real 200 px thumbnail drawn by
core/render.py over the demo layers (50 distinct plots, copied), as a job's run writes them."""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def synthetic_response(n: int) -> dict:
    from eudr_pipeline.core.risk import RiskRule

    rule = RiskRule().describe()
    sources = [{"layer": "jrc_gfc2020", "source_name": "jrc_gfc2020", "data_version": "V3"},
               {"layer": "hansen_gfc", "source_name": "hansen_gfc", "data_version": "v1.12"}]
    plots = []
    for i in range(n):
        level, loss = (("High", 2.5), ("Medium", 0.7), ("Low", 0.01))[i % 3]
        failed = i % 7 == 6
        analysis = {"analysis_end": "2024-12-31", "areaHa": 10.0, "sources": sources, "commodity": "cocoa",
                    "forest_area_2020": 8.0, "deforestation": {"total": loss * 1.1, "total_jrc": loss},
                    "logging_area": 0.25, "risk_level": level, "canopy_threshold": 10,
                    "risk_reason": f"{level}: {loss:.2f} ha of 2020 forest lost; {rule}"}
        plots.append({"plot_id": str(uuid.uuid4()), "plot_name": f"Plot {i + 1:05d}", "username": "bench",
                      "country": "CI", "commodity": "cocoa", "area_ha": 10.0, "status": "failed" if failed else "done",
                      "error": "no jrc_gfc2020 tile covers this plot" if failed else None,
                      "analysis": {} if failed else analysis})
    return {"job_id": str(uuid.uuid4()), "job_name": f"Bench {n}", "username": "bench", "notes": None,
            "status": "done-with-errors", "created_at": "2025-03-01T09:00:00+00:00",
            "updated_at": "2025-03-01T09:05:00+00:00", "finished_at": "2025-03-01T09:05:00+00:00", "dry_run": False,
            "token_cost": n, "harvest_date": None, "layer_versions": {s["layer"]: s["data_version"] for s in sources},
            "plots": plots}


def write_thumbnails(resp: dict, results: Path) -> None:
    """Real thumbnails of 50 demo-area plots, copied to every analysed plot of ``resp``."""
    import datetime as dt

    import numpy as np
    import shapely

    from eudr_pipeline.core.render import PlotMap, render_overview, render_thumbnail
    from eudr_pipeline.demo import write_demo
    from eudr_pipeline.layers.source_directory import open_layer_set

    sources, _ = write_demo(results / "demo")
    layers = open_layer_set(sources)
    rng = np.random.default_rng(1)
    boxes = [shapely.box(x, y, x + 0.002, y + 0.0015) for x, y in
             zip(rng.uniform(-5.298, -5.265, 50), rng.uniform(6.803, 6.836, 50))]
    thumbs = [render_thumbnail(PlotMap(b, "p", dt.date(2024, 12, 31), risk_level="High"), layers, 200) for b in boxes]
    folder = results / resp["job_id"] / "images"
    (folder / "thumbs").mkdir(parents=True)
    for i, p in enumerate(resp["plots"]):
        if p["status"] == "done":
            (folder / "thumbs" / f"{p['plot_id']}.png").write_bytes(thumbs[i % len(thumbs)])
    (folder / "overview.png").write_bytes(render_overview(boxes, ["High"] * 50, "Bench", layers))
    layers.close()


def child(n: int, fmt: str, parts: bool, results: Path) -> None:
    from eudr_pipeline.core.analysis import AnalysisOptions
    from eudr_pipeline.service import reports

    resp = json.loads((results / f"response_{n}.json").read_text())
    if not parts:
        reports.PDF_PAGES_PER_PART = 10 ** 9  # the baseline: one WeasyPrint document
    start = time.perf_counter()
    report = reports.build_report(resp, results, fmt, options=AnalysisOptions())
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "bytes": len(report.data),
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "worker_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def measure(n: int, fmt: str, parts: bool, results: Path) -> dict:
    for f in (results / json.loads((results / f"response_{n}.json").read_text())["job_id"]).glob("report.*"):
        f.unlink()  # never the cache
    out = subprocess.run([sys.executable, __file__, "--child", str(n), fmt, "parts" if parts else "one", str(results)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plots", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--baseline-plots", type=int, nargs="*", default=[1000])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        n, fmt, mode, results = args.child
        return child(int(n), fmt, mode == "parts", Path(results))
    results = Path(tempfile.mkdtemp(prefix="bench_report_"))
    try:
        for n in sorted(set(args.plots) | set(args.baseline_plots)):
            resp = synthetic_response(n)
            (results / f"response_{n}.json").write_text(json.dumps(resp))
            write_thumbnails(resp, results)
        print("| plots | format | layout | runs | seconds (median) | peak RSS MiB (process / largest worker) | MB |")
        print("|---|---|---|---|---|---|---|")
        cases = [(n, "html", True) for n in args.plots] + [(n, "pdf", True) for n in args.plots]
        cases += [(n, "pdf", False) for n in args.baseline_plots]
        for n, fmt, parts in cases:
            runs = [measure(n, fmt, parts, results) for _ in range(args.repeat)]
            layout = "-" if fmt == "html" else ("parts, 2 processes" if parts else "one document (baseline)")
            print(f"| {n:,} | {fmt} | {layout} | {len(runs)} | {statistics.median(r['seconds'] for r in runs):.1f} | "
                  f"{max(r['rss_mib'] for r in runs):,.0f} / {max(r['worker_rss_mib'] for r in runs):,.0f} | "
                  f"{runs[0]['bytes'] / 1e6:.1f} |", flush=True)
    finally:
        shutil.rmtree(results, ignore_errors=True)


if __name__ == "__main__":
    main()
