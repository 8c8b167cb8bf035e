"""Analysis assets: the per-plot EUDR analysis of a plots file, from the pure core.

Until job partitions exist (the service), one asset analyses a configured plots file
against a configured layer source directory (default: the embedded demo)."""


import collections
import json
from pathlib import Path

import dagster as dg

from eudr_pipeline.config import get_settings
from eudr_pipeline.core.analysis import analyze_plots
from eudr_pipeline.core.intake import request_from_feature
from eudr_pipeline.cli import read_features
from eudr_pipeline.layers.source_directory import open_layer_set


class PlotAnalysisConfig(dg.Config):
    plots_path: str = ""
    """GeoJSON FeatureCollection of plots; empty: the generated demo plots."""
    sources_path: str = ""
    """Layer source directory; empty: EUDR_LAYER_SOURCES, else the generated demo layers."""


@dg.asset(
    group_name="analysis",
    kinds={"python", "json"},
    description="Per-plot EUDR analysis (forest 2020, loss after 2020-12-31 in two series, degradation, "
    "protected-area and indigenous-land overlaps, risk) of a plots file, computed by the numpy core.",
)
def plot_analyses(context: dg.AssetExecutionContext, config: PlotAnalysisConfig) -> dg.MaterializeResult:
    settings = get_settings()
    plots, sources = config.plots_path, config.sources_path or (str(settings.layer_sources or ""))
    if not plots or not sources:
        from eudr_pipeline.demo import write_demo

        demo_sources, demo_plots = write_demo(settings.demo_dir())
        plots, sources = plots or str(demo_plots), sources or str(demo_sources)
    features = read_features(Path(plots))
    layers = open_layer_set(Path(sources))
    try:
        requests = [request_from_feature(f, i) for i, f in enumerate(features)]
        results = analyze_plots(requests, layers, settings.analysis_options())
        versions = {s["layer"]: s["data_version"] for s in layers.sources()}
    finally:
        layers.close()
    out_dir = settings.data_dir / "analyses"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{context.run.run_id}.json"
    out.write_text(json.dumps([r.to_json() for r in results], ensure_ascii=False))
    risk = collections.Counter(r.analysis["risk_level"] for r in results if r.analysis and "risk_level" in r.analysis)
    failed = sum(1 for r in results if r.error)
    return dg.MaterializeResult(
        metadata={
            "plots": len(results),
            "failed_plots": failed,
            "risk_high": risk.get("High", 0),
            "risk_medium": risk.get("Medium", 0),
            "risk_low": risk.get("Low", 0),
            "layer_versions": dg.MetadataValue.json(versions),
            "results_path": dg.MetadataValue.path(str(out)),
        },
    )
