"""The job's response: tokens settled (spent for analysed plots, refunded for failed
ones, once), the final status, and the seed's response object written as JSON."""

import json

import dagster as dg

from eudr_pipeline.defs.analysis.assets import job_images
from eudr_pipeline.defs.analysis.partitions import jobs_partitions
from eudr_pipeline.defs.analysis.resources import JobStoreResource, ResultsDirResource


def finish_job(state, job_id: str) -> dict:
    """Settle the job's tokens and set its final status from its plots' outcomes."""
    job = state.jobs.job(job_id)
    rows = state.jobs.job_plot_rows(job_id)
    spent = sum(r["tokens_cost"] for r in rows if r["status"] == "done")
    settled = state.accounts.settle(job["username"], job_id, job["token_cost"], spent) if not job["dry_run"] else False
    failed = sum(1 for r in rows if r["status"] != "done")
    state.jobs.set_status(job_id, "done-with-errors" if failed else "done")
    return {"spent": spent, "refunded": job["token_cost"] - spent, "settled_now": settled, "failed_plots": failed}


@dg.asset(
    partitions_def=jobs_partitions,
    group_name="service",
    deps=[job_images],
    kinds={"json"},
    description="The job's response object (reference make_job schema): tokens settled, final status set.",
)
def job_responses(context: dg.AssetExecutionContext, job_store: JobStoreResource,
                  results_dir: ResultsDirResource) -> dg.MaterializeResult:
    job_id = context.partition_key
    state = job_store.state()
    tokens = finish_job(state, job_id)
    job = state.jobs.job(job_id)
    resp = state.job_response(job)
    out = results_dir.root() / job_id / "response.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(resp, ensure_ascii=False, default=str))
    tmp.replace(out)
    return dg.MaterializeResult(metadata={"status": job["status"], "plots": len(resp["plots"]), **tokens,
                                          "response": dg.MetadataValue.path(str(out))})
