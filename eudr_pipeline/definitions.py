"""The Dagster code location: every domain's definitions merged."""

import dagster as dg

from eudr_pipeline.defs.analysis.definitions import defs as analysis_defs

defs = dg.Definitions.merge(analysis_defs)
