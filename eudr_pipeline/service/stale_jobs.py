"""Stale jobs: jobs whose results were computed with a layer version that is no longer the
one in use.

A job's **analysis shown** is the analysis its users see (its published analysis;
``shown_layer_versions``). The job is **stale** when, for some layer, the version that
analysis used differs from the version now in use in the layer store. A layer the job did
not use, or one with no version in use now, makes no job stale; dry runs (simulated) and
jobs never analysed are never stale, nor are jobs in progress (``pending``: their run
analyses them with the versions in use). Re-analysing a stale job (a run of ``reanalyse_job``
for its partition) records a new analysis with the versions in use; its tokens are not
charged again (the ledger settles a job once).

Found in one SQL statement whatever the number of jobs (the job rows, a grouped count
of their plots, the newest analysis only for a job with no published one), then
compared in Python."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Mapping

import sqlalchemy as sa

from eudr_pipeline.errors import NotFound, RequestInvalid
from eudr_pipeline.service.database import job_plots, jobs

IN_PROGRESS = ("creating", "pending")


@dataclass(frozen=True)
class StaleJob:
    """A stale job: who and what it is, and for each layer that differs the version its
    analysis used (``used``) and the version in use now (``current``)."""

    job_id: str
    job_name: str | None
    owner: str
    plots: int
    status: str
    submitted: dt.datetime
    used: dict[str, str]
    current: dict[str, str]

    def changes(self) -> str:
        """``layer old -> new`` of every layer that differs, e.g. ``hansen_gfc v1.12 -> v1.13``."""
        return "; ".join(f"{layer} {self.used[layer]} -> {self.current[layer]}" for layer in sorted(self.used))

    def new_versions(self) -> str:
        """``layer=version`` of the versions now in use that differ (part of a run key)."""
        return ",".join(f"{layer}={self.current[layer]}" for layer in sorted(self.current))


def shown_layer_versions() -> sa.ColumnElement:
    """The layer versions of the analysis each job's users see: the job row's
    ``layer_versions``, written with ``published_run`` when an analysis is published
    (job_store.py; by every analysis for jobs analysed before analyses were published).
    NULL for a job whose analysis was never shown: a job that failed before publishing
    (ended incomplete, its tokens refunded) is not stale, there is nothing to bring up to
    date. The one place to change what "the analysis a job shows" means here."""
    return jobs.c.layer_versions


def plot_counts() -> sa.Subquery:
    """(job_id, plots): the number of plots of each job."""
    return (sa.select(job_plots.c.job_id, sa.func.count().label("plots"))
            .group_by(job_plots.c.job_id).subquery("plot_counts"))


def band_layers() -> dict[str, str]:
    """{analysis name of a raster band: its layer}: a key of an analysis's ``layer_versions``
    may name a band (``hansen_gfc_treecover2000``) rather than its layer (``hansen_gfc``);
    any other key is the layer itself (``wdpa``, ``imagery``)."""
    from eudr_pipeline.layers.reference_layers import RASTER_LAYERS

    return {b.analysis_name: layer for layer, bands in RASTER_LAYERS.items() for b in bands}


def differing_versions(used: Mapping[str, str], current: Mapping[str, str],
                       bands: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(versions used, versions now in use) of the layers whose version differs; layers
    with no version in use now are left out. ``bands``: ``band_layers()``."""
    by_layer = {bands.get(k, k): v for k, v in used.items()}
    differ = {layer: v for layer, v in by_layer.items() if layer in current and current[layer] != v}
    return differ, {layer: current[layer] for layer in differ}


def versions_in_use(store) -> dict[str, str]:
    """{layer: version in use} of a LayerStore (layers/store.py), the layers with none left out."""
    return {layer: row.version for layer, row in store.current_versions().items()}


def stale_jobs(engine: sa.Engine, current: Mapping[str, str]) -> list[StaleJob]:
    """The stale jobs, oldest submission first, given ``current``: {layer: version in use}
    (``versions_in_use``). One query."""
    counts, used = plot_counts(), shown_layer_versions()
    q = (sa.select(jobs.c.job_id, jobs.c.job_name, jobs.c.username, jobs.c.status, jobs.c.created_at,
                   used.label("used"), sa.func.coalesce(counts.c.plots, 0).label("plots"))
         .outerjoin(counts, counts.c.job_id == jobs.c.job_id)
         .where(used.is_not(None), jobs.c.dry_run.is_(False), jobs.c.status.notin_(IN_PROGRESS))
         .order_by(jobs.c.created_at, jobs.c.job_id))
    out, bands = [], band_layers()
    with engine.connect() as con:
        for r in con.execute(q):
            was, now = differing_versions(r.used or {}, current, bands)
            if was:
                out.append(StaleJob(r.job_id, r.job_name, r.username, int(r.plots), r.status, r.created_at, was, now))
    return out


def check_reanalysable(engine: sa.Engine, job_ids: list[str]) -> None:
    """NotFound naming the ids that are no job; RequestInvalid naming the dry runs (nothing
    to re-analyse) and the jobs in progress (their run uses the versions in use)."""
    with engine.connect() as con:
        rows = {r.job_id: r for r in con.execute(sa.select(jobs.c.job_id, jobs.c.dry_run, jobs.c.status)
                                                 .where(jobs.c.job_id.in_(job_ids)))}
    unknown = [j for j in job_ids if j not in rows]
    if unknown:
        raise NotFound(f"no job {', '.join(unknown)}")
    problems = [{"loc": ["job_id", j], "msg": "a dry run: nothing to re-analyse" if rows[j].dry_run
                 else f"{rows[j].status}: its run will analyse it with the layer versions in use"}
                for j in job_ids if rows[j].dry_run or rows[j].status in IN_PROGRESS]
    if problems:
        raise RequestInvalid(problems, "cannot re-analyse " + "; ".join(f"{p['loc'][1]} ({p['msg']})" for p in problems))
