"""The layer refresh: one Dagster job observing every layer source and ingesting the
versions the store lacks, and a schedule (EUDR_LAYER_SCHEDULE_CRON, daily by default)
that launches it for exactly those versions. The run key names the versions, so a tick
never requests the same versions twice. Operators launch it at once from the UI (Jobs ->
layer_refresh -> Materialize all) or with `eudr layers refresh`.

The job's steps run one after the other in the run's process (in-process executor): with
Dagster's default multiprocess executor each of its ~20 steps (observations, ingestions,
checks) started a process importing the whole pipeline, and ingesting the demo layers at
`make serve` took 118 s instead of 9 s. Ingestion itself is I/O and GDAL work, and the
catalogue takes one writer at a time, so steps in parallel gained nothing."""

import dagster as dg

from eudr_pipeline.defs.layers.assets import source_key
from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.layers.reference_layers import ALL_LAYERS
from eudr_pipeline.layers.refresh import pending_versions

layer_refresh_job = dg.define_asset_job(
    "layer_refresh",
    selection=dg.AssetSelection.assets(*[source_key(layer) for layer in ALL_LAYERS], *ALL_LAYERS),
    description="Observe every layer source and ingest the versions not yet in the store.",
    executor_def=dg.in_process_executor,
)


def refresh_request(layer_store: LayerStoreResource) -> dg.RunRequest | dg.SkipReason:
    """A run of layer_refresh for the versions in force not yet in the store."""
    new = pending_versions(layer_store.source_dir(), layer_store.store())
    if not new:
        return dg.SkipReason("every layer's version in force is already in the store")
    versions = "|".join(f"{layer}@{v}" for layer, v in sorted(new.items()))
    keys = [source_key(layer) for layer in new] + [dg.AssetKey(layer) for layer in new]
    return dg.RunRequest(run_key=versions, asset_selection=keys, tags={"eudr/new_layer_versions": versions.replace("|", ",")})


def build_layer_refresh_schedule(cron: str) -> dg.ScheduleDefinition:
    @dg.schedule(name="layer_refresh_schedule", job=layer_refresh_job, cron_schedule=cron,
                 default_status=dg.DefaultScheduleStatus.RUNNING, execution_timezone="UTC",
                 description="Pick up new releases of the reference layers.")
    def layer_refresh_schedule(context: dg.ScheduleEvaluationContext, layer_store: LayerStoreResource):
        return refresh_request(layer_store)

    return layer_refresh_schedule
