"""The job contract of api.md: make_job validation, token cost, the seed's response object."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import sqlalchemy as sa

from eudr_pipeline.core.analysis import CHECK_TYPES, COMMODITIES
from eudr_pipeline.core.intake import IntakeError, parse_date
from eudr_pipeline.service.accounts import Accounts
from eudr_pipeline.service.db import job_plots, jobs
from eudr_pipeline.service.jobs import utcnow
from eudr_pipeline.service.plots import PlotStore

MAX_PLOTS = 10_000
CONFIG_KEYS = ("harvest_date", "commodity")
# seconds per plot and fixed overhead, for estimated_duration (measured: bench/bench_service.py)
EST_FIXED_S = 6.0
EST_PER_PLOT_S = 0.004


def plot_cost(area_ha: float, check_types: list[str]) -> int:
    """Tokens for one plot: the eudr check costs 1 token per started 10 ha (at least 1);
    the protected-area and indigenous-land checks 1 token each."""
    cost = 0
    for t in check_types:
        cost += max(1, math.ceil(area_ha / 10.0)) if t == "eudr" else 1
    return cost


def _config_errors(cfg: Any, loc: list) -> list[dict]:
    if cfg is None:
        return []
    if not isinstance(cfg, dict):
        return [{"loc": loc, "msg": "must be an object"}]
    errors = []
    for k, v in cfg.items():
        if k == "harvest_date":
            try:
                parse_date(v, "harvest_date")
            except IntakeError as exc:
                errors.append({"loc": loc + [k], "msg": str(exc)})
        elif k == "commodity":
            if v not in COMMODITIES:
                errors.append({"loc": loc + [k], "msg": f"commodity {v!r} is not one of {', '.join(COMMODITIES)}"})
        else:
            errors.append({"loc": loc + [k], "msg": f"unknown config key {k!r} (expected harvest_date, commodity)"})
    return errors


def validate_job(body: Any, username: str, plot_store: PlotStore) -> tuple[dict, dict[str, dict], list[dict]]:
    """(normalised body, the user's plots by id, errors). Every problem is listed."""
    errors: list[dict] = []
    if not isinstance(body, dict):
        return {}, {}, [{"loc": ["body"], "msg": "expected a JSON object"}]
    ids = body.get("plot_ids")
    if not isinstance(ids, list) or not ids:
        errors.append({"loc": ["body", "plot_ids"], "msg": "plot_ids is required: a list of 1 to 10000 plot ids"})
        ids = []
    elif len(ids) > MAX_PLOTS:
        errors.append({"loc": ["body", "plot_ids"], "msg": f"{len(ids)} plot ids: at most {MAX_PLOTS} per job"})
    ids = [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []
    if isinstance(body.get("plot_ids"), list) and len(ids) != len(body["plot_ids"]):
        errors.append({"loc": ["body", "plot_ids"], "msg": "every plot id must be a string"})
    seen: set[str] = set()
    for k, pid in enumerate(ids):
        if pid in seen:
            errors.append({"loc": ["body", "plot_ids", k], "msg": f"duplicate plot id {pid}"})
        seen.add(pid)
    owned = plot_store.get_many(username, list(seen)) if len(ids) <= MAX_PLOTS else {}
    for k, pid in enumerate(ids):
        if pid not in owned and len(ids) <= MAX_PLOTS:
            errors.append({"loc": ["body", "plot_ids", k], "msg": f"unknown plot id {pid}"})
    for key in ("job_name", "notes"):
        if body.get(key) is not None and not isinstance(body[key], str):
            errors.append({"loc": ["body", key], "msg": f"{key} must be a string"})
    info = body.get("additional_info")
    if info is not None and (not isinstance(info, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in info.items())):
        errors.append({"loc": ["body", "additional_info"], "msg": "additional_info must map strings to strings"})
    checks = body.get("checks") or [{"type": "eudr"}]
    if not isinstance(checks, list):
        errors.append({"loc": ["body", "checks"], "msg": "checks must be a list"})
        checks = []
    norm_checks = []
    for c_i, c in enumerate(checks):
        loc = ["body", "checks", c_i]
        if not isinstance(c, dict):
            errors.append({"loc": loc, "msg": "a check must be an object with a 'type'"})
            continue
        if c.get("type") not in CHECK_TYPES:
            errors.append({"loc": loc + ["type"], "msg": f"unknown check type {c.get('type')!r} (expected {', '.join(CHECK_TYPES)})"})
        errors += _config_errors(c.get("config"), loc + ["config"])
        per_plot = c.get("per_plot") or {}
        if not isinstance(per_plot, dict):
            errors.append({"loc": loc + ["per_plot"], "msg": "per_plot must map plot ids to config objects"})
            per_plot = {}
        for pid, cfg in per_plot.items():
            if pid not in seen:
                errors.append({"loc": loc + ["per_plot", pid], "msg": f"per_plot names plot {pid}, which is not in plot_ids"})
            errors += _config_errors(cfg, loc + ["per_plot", pid])
        norm_checks.append({"type": c.get("type"), "config": c.get("config") or {}, "per_plot": per_plot})
    types = [c["type"] for c in norm_checks]
    if len(set(types)) != len(types):
        errors.append({"loc": ["body", "checks"], "msg": "each check type may appear once"})
    if not errors:
        for k, pid in enumerate(ids):
            for c in norm_checks:
                if c["type"] == "eudr" and effective_config(c, owned[pid])["commodity"] is None:
                    errors.append({"loc": ["body", "plot_ids", k],
                                   "msg": f"plot {pid} has no commodity for the eudr check: set it on the plot, in the "
                                          "check's config or in per_plot"})
    normalised = {"job_name": body.get("job_name"), "notes": body.get("notes"), "additional_info": info or {},
                  "plot_ids": ids, "checks": norm_checks}
    return normalised, owned, errors


def effective_config(check: dict, plot: dict) -> dict:
    """harvest_date and commodity for one plot and check: per_plot > config > plot."""
    out = {"harvest_date": max(plot["harvest_dates"]) if plot.get("harvest_dates") else None,
           "commodity": plot.get("commodity")}
    for layer in (check.get("config") or {}, (check.get("per_plot") or {}).get(plot["plot_id"]) or {}):
        out.update({k: v for k, v in layer.items() if k in CONFIG_KEYS and v not in (None, "")})
    return out


def estimate(body: dict, plots_by_id: dict[str, dict]) -> tuple[int, int, dict[str, int]]:
    """(token_cost, estimated_duration s, tokens per plot)."""
    types = [c["type"] for c in body["checks"]]
    per_plot = {pid: plot_cost(plots_by_id[pid]["area_ha"], types) for pid in body["plot_ids"]}
    return sum(per_plot.values()), int(math.ceil(EST_FIXED_S + EST_PER_PLOT_S * len(per_plot))), per_plot


def create_job(engine: sa.Engine, accounts: Accounts, username: str, body: dict, plots_by_id: dict[str, dict],
               dry_run: bool) -> str:
    """Store the job, its plots and the token reservation in one transaction."""
    cost, _, per_plot = estimate(body, plots_by_id)
    job_id = str(uuid.uuid4())
    now = utcnow()
    with engine.begin() as con:
        con.execute(jobs.insert().values(
            job_id=job_id, username=username, job_name=body["job_name"], notes=body["notes"],
            additional_info=body["additional_info"], checks=body["checks"], status="pending", dry_run=dry_run,
            token_cost=0 if dry_run else cost, created_at=now, updated_at=now))
        rows = []
        for pos, pid in enumerate(body["plot_ids"]):
            p = plots_by_id[pid]
            rows.append({"job_id": job_id, "position": pos, "plot_id": pid, "feature": p["features"][0],
                         "checks": [{"type": c["type"], "config": effective_config(c, p)} for c in body["checks"]],
                         "tokens_cost": 0 if dry_run else per_plot[pid], "status": "pending"})
        con.execute(job_plots.insert(), rows)
        if not dry_run:
            accounts.reserve(con, username, job_id, cost)
    return job_id


# ---------------------------------------------------------------- the response object

def _iso(t: dt.datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.isoformat()


def job_response(job: dict, plot_rows: list[dict], plots_by_id: dict[str, dict], results: dict[str, dict],
                 base_url: str) -> dict[str, Any]:
    """The seed's response object for a job, plus progress, estimated_duration, tasks,
    val_errors (api.md)."""
    plots_out, tasks, urls = [], [], []
    finished = 0
    for row in plot_rows:
        p = plots_by_id.get(row["plot_id"], {})
        res = results.get(row["plot_id"])
        image = f"{base_url}/jobs/{job['job_id']}/plots/{row['plot_id']}/image.png" if row["status"] == "done" else None
        if image:
            urls.append(image)
        finished += row["status"] in ("done", "failed")
        plots_out.append({
            "username": job["username"], "country": p.get("country"), "state": p.get("state"),
            "analysis": (res or {}).get("analysis") or {}, "plot_id": row["plot_id"], "plot_name": p.get("plot_name"),
            "geojson_features": p.get("features", [row["feature"]]), "harvest_dates": p.get("harvest_dates", []),
            "commodity": p.get("commodity"), "lat": f"{p.get('lat', 0.0):.6f}", "lon": f"{p.get('lon', 0.0):.6f}",
            "area_ha": p.get("area_ha"), "tokens_cost": row["tokens_cost"], "created_at": _iso(p.get("created_at")),
            "updated_at": _iso(p.get("updated_at")), "analysis_image": image, "additional_info": p.get("additional_info", {}),
            "status": row["status"], "error": row["error"],
        })
        for c in row["checks"]:
            started, ended = row.get("started_at"), row.get("finished_at")
            tasks.append({
                "id": f"{row['plot_id']}:{c['type']}", "plot_id": row["plot_id"], "check": c["type"], "config": c["config"],
                "status": row["status"], "progress": 100 if row["status"] in ("done", "failed") else 0,
                "time_taken": f"{(ended - started).total_seconds():.3f}s" if started and ended else None,
                "err_msg": row["error"], "failure_type": row["failure_type"],
                "created_at": _iso(job["created_at"]), "finished_at": _iso(ended),
            })
    n = max(len(plot_rows), 1)
    hd = {c["config"].get("harvest_date") for c in job["checks"] if c.get("config", {}).get("harvest_date")}
    return {
        "username": job["username"], "notes": job["notes"], "job_id": job["job_id"], "job_name": job["job_name"],
        "plot_ids": [r["plot_id"] for r in plot_rows], "created_at": _iso(job["created_at"]),
        "updated_at": _iso(job["updated_at"]), "additional_info": job["additional_info"] or {},
        "token_cost": job["token_cost"], "status": job["status"], "plots": plots_out,
        "job_visualization_url": urls, "harvest_date": next(iter(hd)) if len(hd) == 1 else None,
        "progress": 100 if job["status"] in ("done", "done-with-errors", "incomplete") else int(100 * finished / n),
        "estimated_duration": int(math.ceil(EST_FIXED_S + EST_PER_PLOT_S * len(plot_rows))),
        "time_taken": f"{(job['finished_at'] - job['created_at']).total_seconds():.3f}s" if job.get("finished_at") else None,
        "finished_at": _iso(job.get("finished_at")), "tasks": tasks, "val_errors": [], "checks": job["checks"],
        "dry_run": bool(job["dry_run"]), "layer_versions": job.get("layer_versions"),
    }
