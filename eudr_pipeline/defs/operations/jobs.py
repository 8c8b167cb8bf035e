"""The re-analysis Dagster job and the run priorities that keep customers first.

``reanalyse_job`` re-analyses a job with the layer versions in use and publishes it: its
partition of ``job_analyses`` -> ``job_images`` -> ``job_responses``, in one process. It
leaves out ``job_reports``: the report follows through its automation condition
(defs/analysis/assets.py FOLLOWS_UPSTREAM, ``job_automation_sensor``) in a run of its
own, after every re-analysis waiting in the queue. Why: a 10,000-plot job's report draws
10,000 thumbnails (about 35-50 s of a run, against about 15 s for the analysis, maps and
response; BENCHMARKS.md), and a re-analysis of many jobs should publish every job's new
numbers first. Until the new report is rendered, GET /jobs/{id}/report renders it on
request (service/reports.py), so no user ever gets a report of the old analysis after the
new one is published.

Priorities (``dagster/priority``, used by the run queue when EUDR_MAX_CONCURRENT_RUNS is
set; higher first, equal ones in submission order): a customer's job (the job sensor's
``process_job`` runs) 0, a re-analysis ``REANALYSIS_PRIORITY``, the automation sensor's
follow-up runs (reports after a re-analysis, or a job's maps, response and report after
a UI Materialize of ``job_analyses``) ``FOLLOW_UP_PRIORITY``. So a large re-analysis
never makes a new customer job wait behind it, and its reports come after its
publications."""

import dagster as dg

PRIORITY_TAG = "dagster/priority"
REANALYSIS_PRIORITY = -1
FOLLOW_UP_PRIORITY = -2
REANALYSIS_TAG = "eudr/reanalysis"
"""Tag ("true") of every re-analysis run: the sensor's and the backfills of ``eudr jobs reanalyse``."""

reanalyse_job = dg.define_asset_job(
    "reanalyse_job",
    selection=dg.AssetSelection.assets("job_analyses", "job_images", "job_responses"),
    executor_def=dg.in_process_executor,  # one process per run, as process_job
    tags={REANALYSIS_TAG: "true", PRIORITY_TAG: str(REANALYSIS_PRIORITY)},
    description="Re-analyse one job with the layer versions in use and publish it (analysis, maps, response; no "
    "token charged). Its report follows in a run of its own (job_automation_sensor), after queued re-analyses.",
)
