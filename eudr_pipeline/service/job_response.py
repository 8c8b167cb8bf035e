"""The response object of a job (the seed's make_job response, api.md): the job, its
plots with their published analysis and image URL, plus progress, estimated_duration,
tasks and val_errors. The API and the ``job_responses`` asset both build it here.

``analysis_run`` names the published analysis the numbers come from (job_store.py; the
``dagster_run_id`` of its ``/analysis-runs`` entries). Image URLs are stable: the API
serves under them the maps of the analysis published when the image is requested, so a
URL kept by a client (or filed in a document) keeps working across re-analyses and shows
the maps of the numbers the API gives now (service/routers/results.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from eudr_pipeline.service.job_status import TERMINAL_STATUSES
from eudr_pipeline.service.pricing import estimated_duration_s
from eudr_pipeline.service.timestamps import as_utc, iso


def image_url(base_url: str, job_id: str, plot_id: str) -> str:
    """Where the API serves the map of one plot of a job."""
    return f"{base_url}/jobs/{job_id}/plots/{plot_id}/image.png"


def overview_url(base_url: str, job_id: str) -> str:
    """Where the API serves the map of all plots of a job."""
    return f"{base_url}/jobs/{job_id}/overview.png"


def progress(job: dict, plot_rows: list[dict]) -> int:
    """Percent of the job's plots finished (100 once the job has ended)."""
    if job["status"] in TERMINAL_STATUSES:
        return 100
    finished = sum(r["status"] in ("done", "failed") for r in plot_rows)
    return int(100 * finished / max(len(plot_rows), 1))


class _IsoTimes(dict):
    """``iso`` of each time, computed once: a job's plots share a few registration times."""

    def __missing__(self, t: dt.datetime | None) -> str | None:
        self[t] = out = iso(t)
        return out


def _plot(job: dict, row: dict, plot: dict, result: dict | None, image: str | None, isos=None) -> dict[str, Any]:
    isos = _IsoTimes() if isos is None else isos
    return {
        "username": job["username"], "country": plot.get("country"), "state": plot.get("state"),
        "analysis": (result or {}).get("analysis") or {}, "plot_id": row["plot_id"], "plot_name": plot.get("plot_name"),
        "geojson_features": plot.get("features", [row["feature"]]), "harvest_dates": plot.get("harvest_dates", []),
        "commodity": plot.get("commodity"), "lat": f"{plot.get('lat', 0.0):.6f}", "lon": f"{plot.get('lon', 0.0):.6f}",
        "area_ha": plot.get("area_ha"), "tokens_cost": row["tokens_cost"], "created_at": isos[plot.get("created_at")],
        "updated_at": isos[plot.get("updated_at")], "analysis_image": image,
        "additional_info": plot.get("additional_info", {}), "status": row["status"], "error": row["error"],
    }


def _tasks(job: dict, row: dict, isos=None) -> list[dict[str, Any]]:
    isos = _IsoTimes() if isos is None else isos
    started, ended = row.get("started_at"), row.get("finished_at")
    created, finished = isos[job["created_at"]], isos[ended]
    return [{
        "id": f"{row['plot_id']}:{c['type']}", "plot_id": row["plot_id"], "check": c["type"], "config": c["config"],
        "status": row["status"], "progress": 100 if row["status"] in ("done", "failed") else 0,
        "time_taken": f"{(ended - started).total_seconds():.3f}s" if started and ended else None,
        "err_msg": row["error"], "failure_type": row["failure_type"],
        "created_at": created, "finished_at": finished,
    } for c in row["checks"]]


def job_summary(job: dict, plot_count: int) -> dict[str, Any]:
    """The job's own fields of the response object, without its plots and tasks."""
    hd = {c["config"].get("harvest_date") for c in job["checks"] if (c.get("config") or {}).get("harvest_date")}
    return {
        "username": job["username"], "notes": job["notes"], "job_id": job["job_id"], "job_name": job["job_name"],
        "plot_ids": [], "created_at": iso(job["created_at"]), "updated_at": iso(job["updated_at"]),
        "additional_info": job["additional_info"] or {}, "token_cost": job["token_cost"], "status": job["status"],
        "plots": [], "job_visualization_url": [], "harvest_date": next(iter(hd)) if len(hd) == 1 else None,
        "progress": 100 if job["status"] in TERMINAL_STATUSES else 0,
        "estimated_duration": estimated_duration_s(plot_count),
        "time_taken": f"{(as_utc(job['finished_at']) - as_utc(job['created_at'])).total_seconds():.3f}s"
        if job.get("finished_at") else None,
        "finished_at": iso(job.get("finished_at")), "tasks": [], "val_errors": [], "checks": job["checks"],
        "dry_run": bool(job["dry_run"]), "layer_versions": job.get("layer_versions"),
        "analysis_run": job.get("published_run"),
    }


def job_response(job: dict, plot_rows: list[dict], plots_by_id: dict[str, dict], results: dict[str, dict],
                 base_url: str) -> dict[str, Any]:
    """The response object of ``job`` from its plot rows with their task state and the
    result of each plot by id, both of its published analysis (job_store.JobAnalysis), the
    registered plots by id, and the API's base URL."""
    plots_out, tasks, urls, isos = [], [], [], _IsoTimes()
    for row in plot_rows:
        image = image_url(base_url, job["job_id"], row["plot_id"]) if row["status"] == "done" else None
        urls += [image] if image else []
        plots_out.append(_plot(job, row, plots_by_id.get(row["plot_id"], {}), results.get(row["plot_id"]), image,
                               isos))
        tasks += _tasks(job, row, isos)
    if job["status"] in TERMINAL_STATUSES and urls:
        urls.insert(0, overview_url(base_url, job["job_id"]))
    return job_summary(job, len(plot_rows)) | {
        "plot_ids": [r["plot_id"] for r in plot_rows], "plots": plots_out, "job_visualization_url": urls,
        "progress": progress(job, plot_rows), "tasks": tasks,
    }
