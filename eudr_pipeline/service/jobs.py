"""A job's life in the service: submitted (the job, its plots and the token reservation
in one transaction), then an analysis published (tokens settled once, final status; a
later re-analysis is published the same way and charges nothing) or given up (every
token refunded, ``incomplete``)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from eudr_pipeline.core.analysis import PlotRequest
from eudr_pipeline.core.intake import analysis_config, analysis_end_of, requests_from_features

from eudr_pipeline.service.job_requests import JobRequest
from eudr_pipeline.service.pricing import plot_costs
from eudr_pipeline.service.state import ServiceState
from eudr_pipeline.service.database import job_plots, jobs
from eudr_pipeline.service.timestamps import utcnow


def submit_job(state: ServiceState, username: str, request: JobRequest, dry_run: bool) -> str:
    """Store the job, its plots and the token reservation in one transaction; the job's
    id. InsufficientTokens (nothing stored) when its cost is not free."""
    return submit_job_rows(state, username, request, dry_run)[0]


def submit_job_rows(state: ServiceState, username: str, request: JobRequest,
                    dry_run: bool) -> tuple[str, list[dict]]:
    """``submit_job``, also giving the job's plot rows as ``job_store.job_plot_rows`` reads
    them back (task state pending), so that the make_job answer need not read them again."""
    costs = plot_costs([c["type"] for c in request.checks], {p: request.plots[p]["area_ha"] for p in request.plot_ids})
    job_id, now = str(uuid.uuid4()), utcnow()
    rows = [{"job_id": job_id, "position": pos, "plot_id": pid, "feature": request.plots[pid]["features"][0],
             "checks": request.plot_checks(pid), "tokens_cost": 0 if dry_run else costs[pid], "status": "pending"}
            for pos, pid in enumerate(request.plot_ids)]
    with state.engine.begin() as con:
        con.execute(jobs.insert().values(
            job_id=job_id, username=username, job_name=request.job_name, notes=request.notes,
            additional_info=request.additional_info, checks=request.checks, status="pending", dry_run=dry_run,
            token_cost=0 if dry_run else sum(costs.values()), created_at=now, updated_at=now))
        con.execute(job_plots.insert(), rows)
        if not dry_run:
            state.ledger.reserve(con, username, job_id, sum(costs.values()))
    pending = {"error": None, "failure_type": None, "started_at": None, "finished_at": None}
    return job_id, [r | pending for r in rows]


def final_status(rows: list[dict]) -> str:
    """The status a job ends with, from its plots' task states."""
    return "done-with-errors" if any(r["status"] != "done" for r in rows) else "done"


def settle_job(state: ServiceState, job: dict, rows: list[dict]) -> dict:
    """Settle the tokens of ``job`` from its plots' task states ``rows``: spent for the
    analysed plots, refunded for the others, once (the ledger refuses a second settlement,
    so a re-analysis charges nothing); what was or would have been spent and refunded."""
    spent = sum(r["tokens_cost"] for r in rows if r["status"] == "done")
    settled = not job["dry_run"] and state.ledger.settle(job["username"], job["job_id"], job["token_cost"], spent)
    failed = sum(1 for r in rows if r["status"] != "done")
    return {"spent": spent, "refunded": job["token_cost"] - spent, "settled_now": settled, "failed_plots": failed}


def finish_job(state: ServiceState, job_id: str) -> dict:
    """Settle the job's tokens from its published analysis (once) and set its final
    status from its plots' outcomes."""
    job = state.jobs.job(job_id)
    rows = state.jobs.published_analysis(job).rows
    tokens = settle_job(state, job, rows)
    state.jobs.set_status(job_id, final_status(rows))
    return tokens


@dataclass(frozen=True)
class Publication:
    """An analysis of a job about to be published (job_store.py): ``job`` is the job row
    as it reads once published (published_run, status, layer versions, times), from which
    the response is built before the row is written; ``tokens``, the settlement."""

    job: dict
    tokens: dict


def prepare_publication(state: ServiceState, job_id: str, run: str) -> Publication:
    """Settle the job's tokens from its analysis ``run`` (once: nothing is charged for a
    re-analysis) and the job row as it will read once ``run`` is published
    (``state.jobs.publish``)."""
    job = state.jobs.job(job_id)
    candidate = job | {"published_run": run}
    analysis = state.jobs.published_analysis(candidate)
    tokens = settle_job(state, job, analysis.rows)
    now = utcnow()
    return Publication(candidate | {"status": final_status(analysis.rows), "layer_versions": analysis.layer_versions,
                                    "updated_at": now, "finished_at": now}, tokens)


def give_up_job(state: ServiceState, job: dict) -> None:
    """End a job that could not be run: every reserved token refunded, ``incomplete``."""
    state.ledger.settle(job["username"], job["job_id"], job["token_cost"], 0)
    state.jobs.set_status(job["job_id"], "incomplete")


def job_plot_requests(rows: list[dict], today: dt.date) -> list[PlotRequest]:
    """The analysis request of each plot of a job (job_plots rows, in order): its feature,
    and the harvest date and commodity its checks' effective configs give. The rows that
    share their checks' types, harvest date and commodity (usually all of a job's) are
    validated together, as arrays."""
    groups: dict[tuple, list[int]] = {}
    for k, row in enumerate(rows):
        config = analysis_config(row["checks"])
        harvest = analysis_end_of(row["checks"], today) if config.get("harvest_date") else None
        types = tuple(c["type"] for c in row["checks"]) or ("eudr",)
        groups.setdefault((harvest, config.get("commodity"), types), []).append(k)
    out: list[PlotRequest] = [None] * len(rows)  # type: ignore[list-item]
    for (harvest, commodity, types), members in groups.items():
        requests = requests_from_features([rows[k]["feature"] for k in members], harvest, commodity, types,
                                          today=today, numbers=[rows[k]["position"] for k in members])
        for k, req in zip(members, requests):
            req.plot_id = rows[k]["plot_id"]
            out[k] = req
    return out
