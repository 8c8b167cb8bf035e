"""The job store: jobs, their plots (with each plot's task state) and the history of
their analyses, in the shared database. The API, the job sensor and the run workers
read and write jobs only through it.

**Published analysis.** A job's analysis (one ``job_analyses`` run: a row per plot in
``analysis_runs``) is recorded unseen; users see it once ``job_responses`` has drawn
nothing over it, written its response and set ``jobs.published_run`` to its run id (one
UPDATE, ``publish``). From then on every read made for users (``published_analyses``:
the API's job responses, exports, reports, maps; ``analysis_runs_for``: the history)
shows that analysis, so the numbers, the maps and the response of a job always come
from one analysis and one set of layer versions. A plot's task state (status, error,
failure type, times) is its row in the published analysis. A job with no published run
is either not analysed yet (its plots pending, no analysis shown) or was analysed before
migration 0003 and not since (shown as before: its newest analysis of each plot that its
``job_plots`` row says is done or failed)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from eudr_pipeline.service.database import analysis_runs, fetch_page, job_plots, jobs, row_dicts
from eudr_pipeline.service.job_status import JOB_STATUSES, TERMINAL_STATUSES
from eudr_pipeline.service.timestamps import utcnow

@dataclass(frozen=True)
class JobAnalysis:
    """One analysis of a job as users see it. ``run``: its Dagster run id (None: the job
    was analysed before migration 0003 and not since). ``rows``: the job's plots in
    submission order (job_plots rows) with their task state under this analysis (a plot
    it did not analyse is pending). ``results``: its analysis_runs row of each plot, by plot
    id. ``layer_versions``: the layer versions it read."""

    run: str | None
    rows: list[dict[str, Any]]
    results: dict[str, dict[str, Any]]
    layer_versions: dict[str, str]


def results_key(job_id: str, run: str) -> str:
    """The results store key of the GeoParquet of the analysis ``run`` of a job (each plot's
    geometry as analysed, area, risk level, error and analysis: job_analyses writes it)."""
    return f"{job_id}/{run}.parquet"


def _task_state(row: dict[str, Any], result: dict[str, Any] | None) -> dict[str, Any]:
    """``row`` (job_plots) with the task state the analysis row ``result`` gives it."""
    if result is None:
        return row | {"status": "pending", "error": None, "failure_type": None, "started_at": None, "finished_at": None}
    return row | {"status": result["status"], "error": result["error"], "failure_type": result.get("failure_type"),
                  "started_at": result.get("started_at"), "finished_at": result["created_at"]}


_LAST_READ: dict[tuple[str, str, str], JobAnalysis] = {}
"""The analysis last read in this process, by (database, job, run): a recorded analysis
never changes, and a run reads its job's analysis three times (maps, publication, report
data), each a parse of every plot's rows (about 1.5 s for 10,000 plots). One entry, so a
process holds at most one job's analysis beyond what it is using."""


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
                        results: list[dict[str, Any]], started_at: dt.datetime | None = None) -> None:
        """Append one history row per plot result ({plot_id, area_ha, analysis} or
        {plot_id, error, failure_type}) of the analysis ``dagster_run_id``, begun at
        ``started_at``; earlier analyses of the same plots are kept. Nothing users see
        changes until the analysis is published (``publish``)."""
        now = utcnow()
        _LAST_READ.clear()
        with self.engine.begin() as con:
            con.execute(analysis_runs.insert(), [
                {"job_id": job_id, "plot_id": r["plot_id"], "dagster_run_id": dagster_run_id,
                 "status": "failed" if "error" in r else "done", "error": r.get("error"),
                 "failure_type": r.get("failure_type"), "layer_versions": layer_versions,
                 "analysis": r.get("analysis"), "area_ha": r.get("area_ha"), "started_at": started_at,
                 "created_at": now} for r in results])

    def newest_analysis_run(self, job_id: str) -> str | None:
        """The run id of the job's newest analysis, published or not (None: never analysed)."""
        with self.engine.connect() as con:
            return con.execute(sa.select(analysis_runs.c.dagster_run_id).where(analysis_runs.c.job_id == job_id)
                               .order_by(analysis_runs.c.id.desc()).limit(1)).scalar()

    def publish(self, job: dict[str, Any]) -> None:
        """Make ``job["published_run"]`` the analysis users see, with the job's status,
        layer versions and times of ``job`` (the job row as it reads once published): one
        UPDATE of the job row."""
        assert job["status"] in JOB_STATUSES, job["status"]
        with self.engine.begin() as con:
            con.execute(jobs.update().where(jobs.c.job_id == job["job_id"]).values(
                published_run=job["published_run"], layer_versions=job["layer_versions"], status=job["status"],
                updated_at=job["updated_at"], finished_at=job["finished_at"]))

    def published_analyses(self, job_rows: list[dict[str, Any]]) -> dict[str, JobAnalysis]:
        """The analysis each of ``job_rows`` publishes (its ``published_run``), by job id,
        in three queries at most whatever their number. A row not (yet) in the database,
        such as ``job | {"published_run": run}``, gives the analysis ``run`` as it would be
        published."""
        ids = [j["job_id"] for j in job_rows]
        key = (str(self.engine.url), ids[0], job_rows[0].get("published_run") or "") if len(ids) == 1 else None
        if key is not None and key in _LAST_READ:
            return {ids[0]: _LAST_READ[key]}
        rows = self.job_plot_rows_of(ids)
        runs = {j["job_id"]: j["published_run"] for j in job_rows if j.get("published_run")}
        results = self.results_of_runs(runs)
        legacy = self.latest_results_of([i for i in ids if i not in runs]) if len(runs) < len(ids) else {}
        out = {}
        for j in job_rows:
            job_id = j["job_id"]
            if job_id in runs:
                found = results[job_id]
                out[job_id] = JobAnalysis(runs[job_id], [_task_state(r, found.get(r["plot_id"])) for r in rows[job_id]],
                                          found, next((r["layer_versions"] for r in found.values()), {}))
            else:  # not analysed yet, or analysed before migration 0003: pending plots show no analysis
                ended = {r["plot_id"] for r in rows[job_id] if r["status"] != "pending"}
                found = {r["plot_id"]: r for r in legacy.get(job_id, []) if r["plot_id"] in ended}
                out[job_id] = JobAnalysis(None, rows[job_id], found, j.get("layer_versions") or {})
        if key is not None and key[2]:  # an analysis of a run, which never changes
            _LAST_READ.clear()
            _LAST_READ[key] = out[ids[0]]
        return out

    def results_of_runs(self, runs: dict[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
        """The analysis_runs rows of the analysis ``runs[job_id]`` of each job, by job and
        plot id, in one query."""
        out: dict[str, dict[str, dict[str, Any]]] = {job_id: {} for job_id in runs}
        if not runs:
            return out
        pairs = sa.tuple_(analysis_runs.c.job_id, analysis_runs.c.dagster_run_id).in_(list(runs.items()))
        with self.engine.connect() as con:
            for r in row_dicts(con.execute(sa.select(analysis_runs).where(pairs))):
                out[r["job_id"]][r["plot_id"]] = r
        return out

    def published_analysis(self, job: dict[str, Any]) -> JobAnalysis:
        """``published_analyses`` of one job row."""
        return self.published_analyses([job])[job["job_id"]]

    def analysis_history(self, plot_id: str, job_id: str | None = None) -> list[dict[str, Any]]:
        """Every analysis of ``plot_id`` (in ``job_id``), oldest first, published or not
        (the pipeline's record; users read ``analysis_runs_for``)."""
        q = sa.select(analysis_runs).where(analysis_runs.c.plot_id == plot_id)
        if job_id:
            q = q.where(analysis_runs.c.job_id == job_id)
        with self.engine.connect() as con:
            return [dict(r) for r in con.execute(q.order_by(analysis_runs.c.id)).mappings()]

    def analysis_runs_for(self, username: str, plot_id: str) -> list[dict[str, Any]]:
        """Every analysis of the user's plot across its jobs that users have seen (each job's
        published analysis and the earlier ones; for a job analysed before migration 0003,
        its analyses of the plot once its task ended), oldest first, with the plot's checks
        and token cost in that job."""
        published = analysis_runs.alias("published")
        last_published = (sa.select(sa.func.max(published.c.id))
                          .where(published.c.job_id == analysis_runs.c.job_id,
                                 published.c.dagster_run_id == jobs.c.published_run).scalar_subquery())
        seen = sa.or_(analysis_runs.c.id <= last_published,
                      sa.and_(jobs.c.published_run.is_(None), job_plots.c.status != "pending"))
        q = (sa.select(analysis_runs, job_plots.c.checks, job_plots.c.tokens_cost)
             .join(jobs, jobs.c.job_id == analysis_runs.c.job_id)
             .join(job_plots, (job_plots.c.job_id == analysis_runs.c.job_id) & (job_plots.c.plot_id == analysis_runs.c.plot_id))
             .where(analysis_runs.c.plot_id == plot_id, jobs.c.username == username, seen).order_by(analysis_runs.c.id))
        with self.engine.connect() as con:
            return [dict(r) for r in con.execute(q).mappings()]

    def latest_results_of(self, job_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The newest analysis of each plot of each job, by job, in one query (what a job
        analysed before migration 0003 shows)."""
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
        checks, tokens_cost, and the task state stored in the row (status, error,
        failure_type, started_at, finished_at: that of jobs analysed before migration 0003;
        since then a plot's task state is that of the published analysis,
        ``published_analysis``)."""
        return self.job_plot_rows_of([job_id]).get(job_id, [])

    def job_plot_rows_of(self, job_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """job_plot_rows of several jobs, by job, in one query."""
        out: dict[str, list[dict[str, Any]]] = {j: [] for j in job_ids}
        with self.engine.connect() as con:
            for r in row_dicts(con.execute(sa.select(job_plots).where(job_plots.c.job_id.in_(job_ids))
                                           .order_by(job_plots.c.job_id, job_plots.c.position))):
                out[r["job_id"]].append(r)
        return out

    def pending_jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as con:
            return [dict(r) for r in con.execute(sa.select(jobs).where(jobs.c.status == "pending", jobs.c.dry_run.is_(False))
                                                 .order_by(jobs.c.created_at).limit(limit)).mappings()]

    def mark_launched(self, job_id: str, run_id: str, attempts: int) -> None:
        with self.engine.begin() as con:
            con.execute(jobs.update().where(jobs.c.job_id == job_id).values(
                dagster_run_id=run_id, attempts=attempts, updated_at=utcnow()))
