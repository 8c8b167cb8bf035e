import dagster as dg

from eudr_pipeline.defs.analysis.assets import plot_analyses

defs = dg.Definitions(assets=[plot_analyses])
