"""The job store: jobs, their plots (with each plot's task state) and the history of
their analyses, in the shared database. The API, the job sensor and the run workers
read and write jobs only through it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from eudr_pipeline.service.database import analysis_runs, fetch_page, job_plots, jobs
from eudr_pipeline.service.job_status import JOB_STATUSES, TERMINAL_STATUSES
from eudr_pipeline.service.timestamps import utcnow

class JobStore:
    """Jobs, their plots and tasks, and the analysis history: what the API, the sensor
    and the run workers share."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def job(self, job_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as con:
            row = con.execute(sa.select(jobs).where(jobs.c.job_id == job_id)).mappings().first()
        return dict(row) if row else None

    def set_status(self, job_id: str, status: str, **values: Any) -> None:
        assert status in JOB_STATUSES, status
        now = utcnow()
        extra = {"finished_at": now} if status in TERMINAL_STATUSES else {}
        with self.engine.begin() as con:
            con.execute(jobs.update().where(jobs.c.job_id == job_id).values(status=status, updated_at=now,
                                                                           **extra, **values))

    def record_analyses(self, job_id: str, dagster_run_id: str, layer_versions: dict[str, str],
                        results: list[dict[str, Any]]) -> None:
        """Append one history row per plot result ({plot_id, area_ha, analysis} or
        {plot_id, error}); earlier analyses of the same plots are kept."""
        now = utcnow()
        with self.engine.begin() as con:
            con.execute(analysis_runs.insert(), [
                {"job_id": job_id, "plot_id": r["plot_id"], "dagster_run_id": dagster_run_id,
                 "status": "failed" if "error" in r else "done", "error": r.get("error"),
                 "layer_versions": layer_versions, "analysis": r.get("analysis"), "area_ha": r.get("area_ha"),
                 "created_at": now} for r in results])
            con.execute(jobs.update().where(jobs.c.job_id == job_id).values(layer_versions=layer_versions,
                                                                           updated_at=now))

    def analysis_history(self, plot_id: str, job_id: str | None = None) -> list[dict[str, Any]]:
        """Every analysis of ``plot_id`` (in ``job_id``), oldest first."""
        q = sa.select(analysis_runs).where(analysis_runs.c.plot_id == plot_id)
        if job_id:
            q = q.where(analysis_runs.c.job_id == job_id)
        with self.engine.connect() as con:
            return [dict(r) for r in con.execute(q.order_by(analysis_runs.c.id)).mappings()]

    def analysis_runs_for(self, username: str, plot_id: str) -> list[dict[str, Any]]:
        """Every analysis of the user's plot across its jobs, oldest first, with the
        plot's checks and token cost in that job."""
        q = (sa.select(analysis_runs, job_plots.c.checks, job_plots.c.tokens_cost)
             .join(jobs, jobs.c.job_id == analysis_runs.c.job_id)
             .join(job_plots, (job_plots.c.job_id == analysis_runs.c.job_id) & (job_plots.c.plot_id == analysis_runs.c.plot_id))
             .where(analysis_runs.c.plot_id == plot_id, jobs.c.username == username).order_by(analysis_runs.c.id))
        with self.engine.connect() as con:
            return [dict(r) for r in con.execute(q).mappings()]

    def latest_results(self, job_id: str) -> list[dict[str, Any]]:
        """The newest analysis of each plot of the job (any order)."""
        return self.latest_results_of([job_id]).get(job_id, [])

    def latest_results_of(self, job_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The newest analysis of each plot of each job, by job, in one query."""
        with self.engine.connect() as con:
            last = sa.select(sa.func.max(analysis_runs.c.id).label("id")).where(
                analysis_runs.c.job_id.in_(job_ids)).group_by(analysis_runs.c.job_id, analysis_runs.c.plot_id).subquery()
            rows = con.execute(sa.select(analysis_runs).where(analysis_runs.c.id.in_(sa.select(last.c.id)))).mappings().all()
        out: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            out.setdefault(r["job_id"], []).append(dict(r))
        return out

    def job_for(self, username: str, job_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as con:
            r = con.execute(sa.select(jobs).where(jobs.c.job_id == job_id, jobs.c.username == username)).mappings().first()
        return dict(r) if r else None

    def list_jobs(self, username: str, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        """(total, one page of the user's jobs, newest first)."""
        return fetch_page(self.engine, jobs, jobs.c.username == username,
                          [jobs.c.created_at.desc(), jobs.c.job_id], limit, offset)

    def job_plot_rows(self, job_id: str) -> list[dict[str, Any]]:
        """The job's plots in submission order: position, plot_id, feature, effective
        checks, tokens_cost, status, error, failure_type, started_at, finished_at."""
        return self.job_plot_rows_of([job_id]).get(job_id, [])

    def job_plot_rows_of(self, job_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """job_plot_rows of several jobs, by job, in one query."""
        out: dict[str, list[dict[str, Any]]] = {j: [] for j in job_ids}
        with self.engine.connect() as con:
            for r in con.execute(sa.select(job_plots).where(job_plots.c.job_id.in_(job_ids))
                                 .order_by(job_plots.c.job_id, job_plots.c.position)).mappings():
                out[r["job_id"]].append(dict(r))
        return out

    def pending_jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as con:
            return [dict(r) for r in con.execute(sa.select(jobs).where(jobs.c.status == "pending", jobs.c.dry_run.is_(False))
                                                 .order_by(jobs.c.created_at).limit(limit)).mappings()]

    def mark_launched(self, job_id: str, run_id: str, attempts: int) -> None:
        with self.engine.begin() as con:
            con.execute(jobs.update().where(jobs.c.job_id == job_id).values(
                dagster_run_id=run_id, attempts=attempts, updated_at=utcnow()))

    def mark_plots(self, job_id: str, outcomes: list[tuple[int, str, str | None, str | None]],
                   started_at: dt.datetime) -> None:
        """(position, status, error, failure_type) per plot."""
        now = utcnow()
        with self.engine.begin() as con:
            if outcomes:
                con.execute(job_plots.update().where(job_plots.c.job_id == sa.bindparam("j"),
                                                     job_plots.c.position == sa.bindparam("pos"))
                            .values(status=sa.bindparam("st"), error=sa.bindparam("err"),
                                    failure_type=sa.bindparam("ft"), started_at=started_at, finished_at=now),
                            [{"j": job_id, "pos": p, "st": st, "err": e, "ft": f} for p, st, e, f in outcomes])
            con.execute(jobs.update().where(jobs.c.job_id == job_id).values(updated_at=now))
