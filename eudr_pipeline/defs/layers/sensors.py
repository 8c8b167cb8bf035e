"""The layer sensors.

``layer_check_sensor`` reacts to a failed asset check on a layer version in use by
demoting that version in the catalogue (status "rejected"), so analyses fall back to the
previous accepted version. The checks themselves only look (checks.py).

``layer_observation_sensor`` observes the layer source directory every
EUDR_LAYER_OBSERVE_MINUTES: when the version in force of a layer differs from the last
observed data version of `<layer>_source`, it reports a new observation (a runless asset
event, as an external asset's sensor does), and Dagster then shows `<layer>` stale: a new
version is available but not ingested yet. It ingests nothing: the `layer_refresh` job
does (its schedule, a launch from the UI, or `eudr layers refresh`)."""

import json

import dagster as dg

from eudr_pipeline.defs.layers.assets import observed_version, source_key, source_metadata
from eudr_pipeline.defs.layers.checks import layer_checks
from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.errors import LayerSourceError
from eudr_pipeline.layers.reference_layers import ALL_LAYERS

FAILED = "FAILED"


def _failed_version(instance: dg.DagsterInstance, key: dg.AssetCheckKey, seen_id: int) -> tuple[int, str | None]:
    """(id of the latest evaluation of ``key``, the version it failed, if it failed after ``seen_id``)."""
    record = instance.get_latest_asset_check_evaluation_record(key)
    if record is None or record.id <= seen_id or record.event is None or record.status.value == "PLANNED":
        return seen_id, None  # a planned check keeps its record id when it completes: look again then
    evaluation = record.event.dagster_event.event_specific_data if record.event.dagster_event else None
    if record.status.value != FAILED or evaluation is None or "version" not in evaluation.metadata:
        return record.id, None
    return record.id, str(evaluation.metadata["version"].value)


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Demote a layer version (catalogue status 'rejected') when an asset check on it fails.")
def layer_check_sensor(context: dg.SensorEvaluationContext, layer_store: LayerStoreResource) -> dg.SkipReason:
    seen = json.loads(context.cursor) if context.cursor else {}
    catalogue = layer_store.store().catalogue
    demoted = []
    for key in (k for c in layer_checks for k in c.check_keys):
        name = key.to_user_string()
        seen[name], version = _failed_version(context.instance, key, seen.get(name, 0))
        row = catalogue.get(key.asset_key.path[-1], version) if version else None
        if row is not None and row.status == "ok":
            catalogue.set_status(row.layer, row.version, "rejected")
            demoted.append(f"{row.layer} {row.version} ({key.name})")
    context.update_cursor(json.dumps(seen))
    if demoted:
        context.log.warning(f"demoted after a failed check: {', '.join(demoted)}")
        return dg.SkipReason(f"demoted {', '.join(demoted)}; the previous accepted versions are in use")
    return dg.SkipReason("no new failed layer check")


DATA_VERSION_TAG = "dagster/data_version"  # where Dagster keeps an asset event's data version


def last_observed_version(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    """The data version of the latest observation of ``key`` (by a run or by this sensor)."""
    records = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=key), limit=1).records
    observation = records[0].asset_observation if records else None
    return observation.tags.get(DATA_VERSION_TAG) if observation is not None else None


def source_observations(instance: dg.DagsterInstance, src) -> tuple[list[dg.AssetObservation], list[str]]:
    """(an observation of `<layer>_source` for each layer whose version in force differs
    from its last observed data version, a problem line per layer that cannot be read)."""
    events, problems = [], []
    for layer in ALL_LAYERS:
        try:
            version = observed_version(src, layer)
            metadata = source_metadata(src, layer)
        except LayerSourceError as exc:
            problems.append(f"{layer}: {exc}")
            continue
        if last_observed_version(instance, source_key(layer)) != version:
            events.append(dg.AssetObservation(asset_key=source_key(layer), tags={DATA_VERSION_TAG: version},
                                              metadata=metadata))
    return events, problems


def build_layer_observation_sensor(minutes: int) -> dg.SensorDefinition:
    """``layer_observation_sensor``, evaluated every ``minutes`` (EUDR_LAYER_OBSERVE_MINUTES;
    0: defined but stopped, an operator may start it in the UI)."""

    @dg.sensor(name="layer_observation_sensor", minimum_interval_seconds=max(1, minutes) * 60,
               default_status=dg.DefaultSensorStatus.RUNNING if minutes > 0 else dg.DefaultSensorStatus.STOPPED,
               description="Observe the layer source directory: a new version folder becomes a new data version "
                           "of <layer>_source, and <layer> shows stale until the layer_refresh job ingests it.")
    def layer_observation_sensor(context: dg.SensorEvaluationContext,
                                 layer_store: LayerStoreResource) -> dg.SensorResult:
        events, problems = source_observations(context.instance, layer_store.source_dir())
        for line in problems:
            context.log.warning(f"cannot observe {line}")
        seen = ", ".join(f"{e.asset_key.path[-1].removesuffix('_source')} {e.tags[DATA_VERSION_TAG]}" for e in events)
        return dg.SensorResult(asset_events=events, skip_reason=(
            f"new data versions observed: {seen}; not ingested until layer_refresh runs" if events
            else "no layer source changed since its last observation"))

    return layer_observation_sensor
