"""The layer refresh schedule: on each tick (daily by default, EUDR_LAYER_SCHEDULE_CRON),
look for layer versions in the source that the store has not catalogued and launch one
run that observes and ingests exactly those. The run key names the versions, so a tick
never requests the same versions twice."""

import dagster as dg

from eudr_pipeline.config import get_settings
from eudr_pipeline.defs.layers.assets import source_key
from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.layers.source_directory import current_version
from eudr_pipeline.layers.store import ALL_LAYERS

layer_refresh_job = dg.define_asset_job(
    "layer_refresh",
    selection=dg.AssetSelection.assets(*[source_key(l) for l in ALL_LAYERS], *ALL_LAYERS),
    description="Observe every layer source and ingest the versions not yet in the store.",
)


def new_versions(layer_store: LayerStoreResource) -> dict[str, str]:
    """{layer: version} for each layer whose version in force is not catalogued."""
    src = layer_store.source_dir()
    store = layer_store.store()
    out = {}
    for layer in ALL_LAYERS:
        v = current_version(src, layer)
        if v is not None and store.needs_ingest(layer, v):
            out[layer] = v
    return out


@dg.schedule(job=layer_refresh_job, cron_schedule=get_settings().layer_schedule_cron,
             default_status=dg.DefaultScheduleStatus.RUNNING, execution_timezone="UTC",
             description="Pick up new releases of the reference layers.")
def layer_refresh_schedule(context: dg.ScheduleEvaluationContext, layer_store: LayerStoreResource):
    new = new_versions(layer_store)
    if not new:
        return dg.SkipReason("every layer's version in force is already in the store")
    keys = [source_key(l) for l in new] + [dg.AssetKey(l) for l in new]
    return dg.RunRequest(run_key="|".join(f"{l}@{v}" for l, v in sorted(new.items())), asset_selection=keys,
                         tags={"eudr/new_layer_versions": ",".join(f"{l}@{v}" for l, v in sorted(new.items()))})
