"""Plots: registration, listing, one plot, and its analysis history across jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from eudr_pipeline.errors import NotFound
from eudr_pipeline.service.limits import MAX_OFFSET
from eudr_pipeline.service.deps import CurrentUser, StateDep
from eudr_pipeline.service.schemas import ERRORS, AnalysisRuns, FeatureCollectionIn, PlotList, PlotOut
from eudr_pipeline.service.timestamps import iso

router = APIRouter(tags=["plots"])


def plot_out(p: dict) -> dict:
    """A stored plot as the API shows it (PlotOut)."""
    return {"plot_id": p["plot_id"], "username": p["username"], "plot_name": p["plot_name"],
            "geojson_features": p["features"], "commodity": p["commodity"], "harvest_dates": p["harvest_dates"],
            "country": p["country"], "state": p["state"], "notes": p["notes"], "lat": f"{p['lat']:.6f}",
            "lon": f"{p['lon']:.6f}", "area_ha": p["area_ha"], "created_at": iso(p["created_at"]),
            "updated_at": iso(p["updated_at"]), "additional_info": p["additional_info"],
            **({"warnings": p["warnings"]} if p.get("warnings") else {})}


@router.post("/plots/make_plot", response_model=list[PlotOut], responses=ERRORS)
def make_plot(body: FeatureCollectionIn, state: StateDep, username: CurrentUser) -> list[dict]:
    """Register plots: a GeoJSON FeatureCollection, one plot per feature. Properties:
    plot_name, commodity, harvest_date or harvest_dates, point_ha, country, state, notes,
    additional_info. Any invalid feature: 400 listing every problem, nothing stored."""
    return [plot_out(p) for p in state.plots.register(username, body.features)]


@router.get("/plots", response_model=PlotList, responses=ERRORS)
def list_plots(state: StateDep, username: CurrentUser, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> dict:
    total, rows = state.plots.list(username, limit, offset)
    return {"total": total, "limit": limit, "offset": offset, "plots": [plot_out(p) for p in rows]}


@router.get("/plots/{plot_id}", response_model=PlotOut, responses=ERRORS)
def get_plot(plot_id: str, state: StateDep, username: CurrentUser) -> dict:
    p = state.plots.get(username, plot_id)
    if p is None:
        raise NotFound(f"plot {plot_id} not found")
    return plot_out(p)


@router.get("/analysis-runs", response_model=AnalysisRuns, responses=ERRORS)
def list_analysis_runs(plot_id: str, state: StateDep, username: CurrentUser) -> dict:
    """Every analysis of a plot across jobs: job, checks, effective config, status,
    error, tokens, layer versions, the analysis."""
    if state.plots.get(username, plot_id) is None:
        raise NotFound(f"plot {plot_id} not found")
    runs = [{"job_id": r["job_id"], "checks": [c["type"] for c in r["checks"]],
             "config": {c["type"]: c["config"] for c in r["checks"]}, "status": r["status"], "error": r["error"],
             "tokens_cost": r["tokens_cost"], "layer_versions": r["layer_versions"], "analysis": r["analysis"],
             "created_at": iso(r["created_at"]), "dagster_run_id": r["dagster_run_id"]}
            for r in state.jobs.analysis_runs_for(username, plot_id)]
    return {"plot_id": plot_id, "analysis_runs": runs}
