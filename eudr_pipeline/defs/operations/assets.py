"""The operator's view of stale jobs (service/stale_jobs.py): the ``stale_jobs`` asset
lists, as a table on its asset page, the jobs whose analysis used a layer version that is
no longer in use, with their owner, plot count and the versions (old -> new), and the
partition keys to re-analyse; its check ``no_stale_jobs`` warns while any job is stale.

It is materialized by ``operations_automation_sensor`` (sensors.py) after a layer asset
records a new version, every hour (a version demoted by the layer check sensor, or jobs
re-analysed since, change the list without a layer materialization), and once when it
was never materialized. ``eudr jobs stale`` prints the same list, computed at that moment."""

import collections
import datetime as dt

import dagster as dg

from eudr_pipeline.defs.analysis.resources import ServiceStateResource
from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.layers.reference_layers import ALL_LAYERS
from eudr_pipeline.service.stale_jobs import StaleJob, stale_jobs, versions_in_use

HOURLY = "0 * * * *"
LISTED = 500
"""Jobs in the table and in ``partition_keys`` (the count, ``eudr jobs stale`` and
``eudr jobs reanalyse --stale`` have them all)."""
CHECK_NAME = "no_stale_jobs"
LAYERS_COLUMN = "layers (old -> new)"
REANALYSE = ("Re-analyse exactly these jobs: `eudr jobs reanalyse --stale` (a backfill of `reanalyse_job` over "
             "their partitions), or in this UI: Jobs > reanalyse_job > Materialize all..., paste `partition_keys` "
             "into the partition selection, Launch backfill. Automatically: start `stale_jobs_sensor` "
             "(EUDR_AUTO_REANALYSE=true). No token is charged for a re-analysis.")

STALE_JOBS_TABLE = dg.TableSchema(columns=[
    dg.TableColumn("job_id", "string", description="the job's id: its partition of job_analyses and reanalyse_job"),
    dg.TableColumn("job_name", "string"),
    dg.TableColumn("owner", "string", description="the user who submitted the job"),
    dg.TableColumn("plots", "int"),
    dg.TableColumn(LAYERS_COLUMN, "string",
                   description="each layer whose version differs: the version the job's analysis used -> the one in use"),
    dg.TableColumn("submitted", "string", description="UTC"),
])


def stale_jobs_condition() -> dg.AutomationCondition:
    """After a layer asset records a new version, at every hour, and when never materialized
    (unless its last run failed: then at the next of the others); never two runs at once.

    A layer version recorded after the last request counts even when it falls in the same
    tick window as that request (the hourly tick and the daily 03:00 layer refresh meet):
    its own ``since`` is reset by the request alone, and Dagster keeps the trigger when its
    time (the layer's materialization) is later than the reset's (the request). Under one
    ``since_last_handled`` of all three triggers, an OR that carries no times, the reset
    won, and the stale list waited for the next hour."""
    ac = dg.AutomationCondition
    once = ((ac.missing() & ~ac.execution_failed()).with_label("never materialized")
            | ac.cron_tick_passed(HOURLY, "UTC")).since_last_handled()
    layer_version = ac.any_deps_match(ac.newly_updated()).since(ac.newly_requested()).with_label(
        "layer version recorded since the last request")  # any_deps_updated() holds an OR: no times
    return ((once | layer_version) & ~ac.in_progress()).with_label("layer version recorded, or hourly")


def submitted_text(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M")


def table_record(job: StaleJob) -> dg.TableRecord:
    return dg.TableRecord({"job_id": job.job_id, "job_name": job.job_name or "", "owner": job.owner,
                           "plots": job.plots, LAYERS_COLUMN: job.changes(), "submitted": submitted_text(job.submitted)})


def change_counts(found: list[StaleJob]) -> dict[str, int]:
    """{``layer old -> new``: jobs} over the stale jobs."""
    return dict(collections.Counter(f"{layer} {j.used[layer]} -> {j.current[layer]}" for j in found for layer in j.used))


def stale_jobs_metadata(found: list[StaleJob], current: dict[str, str]) -> dict:
    """The asset's metadata: the count, the table, the partition keys to paste, the versions
    in use and how to re-analyse."""
    keys = [j.job_id for j in found]
    md = {"stale_jobs": len(found),
          "jobs": dg.MetadataValue.table([table_record(j) for j in found[:LISTED]], STALE_JOBS_TABLE),
          "partition_keys": dg.MetadataValue.text(",".join(keys[:LISTED])),
          "changes": dg.MetadataValue.json(change_counts(found)),
          "layer_versions_in_use": dg.MetadataValue.json(current),
          "reanalyse": dg.MetadataValue.md(REANALYSE)}
    if len(found) > LISTED:
        md["truncated"] = (f"the table and partition_keys list the first {LISTED} of {len(found)} stale jobs: "
                           "`eudr jobs stale` lists them all")
    return md


def stale_jobs_check(found: list[StaleJob]) -> dg.AssetCheckResult:
    """WARN while any job is stale, with the count and the version changes."""
    return dg.AssetCheckResult(check_name=CHECK_NAME, passed=not found, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"stale_jobs": len(found), "changes": dg.MetadataValue.json(change_counts(found))},
                               description=f"{len(found)} job(s) analysed with a layer version no longer in use"
                               if found else "every job's analysis used the layer versions in use")


@dg.asset(
    name="stale_jobs",
    group_name="operations",
    deps=[dg.AssetKey(layer) for layer in ALL_LAYERS],
    automation_condition=stale_jobs_condition(),
    check_specs=[dg.AssetCheckSpec(CHECK_NAME, asset="stale_jobs",
                                   description="Warns while any job's analysis used a layer version no longer in use.")],
    kinds={"python"},
    description="Jobs whose analysis used a layer version no longer in use (stale job_analyses partitions): "
    "job, owner, plots, layer versions old -> new, as a table; partition_keys to re-analyse them "
    "(`eudr jobs reanalyse --stale`). Updated after every new layer version and hourly.",
)
def stale_jobs_asset(context: dg.AssetExecutionContext, service: ServiceStateResource,
                     layer_store: LayerStoreResource) -> dg.MaterializeResult:
    current = versions_in_use(layer_store.store())
    found = stale_jobs(service.state().engine, current)
    if found:
        context.log.warning(f"{len(found)} stale job(s): {change_counts(found)}")
    return dg.MaterializeResult(metadata=stale_jobs_metadata(found, current), check_results=[stale_jobs_check(found)])
