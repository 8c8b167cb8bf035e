import dagster as dg

from eudr_pipeline.config import Settings
from eudr_pipeline.defs.layers.assets import layer_assets, source_assets
from eudr_pipeline.defs.layers.checks import layer_checks
from eudr_pipeline.defs.layers.schedules import build_layer_refresh_schedule, layer_refresh_job
from eudr_pipeline.defs.layers.sensors import build_layer_observation_sensor, layer_check_sensor


def layer_definitions(settings: Settings) -> dg.Definitions:
    """The `layers` group: source observations, ingestion assets and their checks, the
    refresh job and its schedule, the observation sensor (EUDR_LAYER_OBSERVE_MINUTES) and
    the check sensor."""
    return dg.Definitions(
        assets=[*source_assets, *layer_assets],
        asset_checks=layer_checks,
        jobs=[layer_refresh_job],
        schedules=[build_layer_refresh_schedule(settings.layer_schedule_cron)],
        sensors=[build_layer_observation_sensor(settings.layer_observe_minutes), layer_check_sensor],
    )
