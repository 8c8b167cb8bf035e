"""The Dagster code location: every domain's definitions merged (one Definitions object
at module scope, as `dagster dev -w workspace.yaml` requires)."""

import dagster as dg

from eudr_pipeline.defs.analysis import definitions as analysis
from eudr_pipeline.defs.jobs import definitions as jobs
from eudr_pipeline.defs.layers import definitions as layers

defs = dg.Definitions.merge(layers.defs, analysis.defs, jobs.defs)
