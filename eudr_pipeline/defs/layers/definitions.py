import dagster as dg

from eudr_pipeline.defs.layers.assets import layer_assets, source_assets
from eudr_pipeline.defs.layers.checks import layer_checks
from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.defs.layers.schedules import layer_refresh_job, layer_refresh_schedule

defs = dg.Definitions(
    assets=[*source_assets, *layer_assets],
    asset_checks=layer_checks,
    jobs=[layer_refresh_job],
    schedules=[layer_refresh_schedule],
    resources={"layer_store": LayerStoreResource()},
)
