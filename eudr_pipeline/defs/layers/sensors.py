"""The layer check sensor: reacts to a failed asset check on a layer version in use by
demoting that version in the catalogue (status "rejected"), so analyses fall back to the
previous accepted version. The checks themselves only look (checks.py)."""

import json

import dagster as dg

from eudr_pipeline.defs.layers.checks import layer_checks
from eudr_pipeline.defs.layers.resources import LayerStoreResource

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
