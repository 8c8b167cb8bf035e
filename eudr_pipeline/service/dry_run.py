"""X-Dry-Run jobs: no tokens, no raster work; every plot gets a simulated analysis with
the real field names (marked "dry_run": true) and an outline-only image."""

from __future__ import annotations

from eudr_pipeline.core.geometry import geodesic_area_ha
from eudr_pipeline.core.intake import analysis_end_of, request_from_feature
from eudr_pipeline.service.maps import draw_overview
from eudr_pipeline.service.state import ServiceState
from eudr_pipeline.service.timestamps import utcnow


def simulated_analysis(area_ha: float, end: str) -> dict:
    empty = {"total_overlap_percentage": 0.0, "total_overlap_area_ha": 0.0}
    return {
        "dry_run": True, "analysisEnd": end, "analysis_end": end, "areaHa": area_ha,
        "risk_level": "Low", "risk_reason": "Low: dry run, nothing was analysed",
        "forest_area_2020": 0.0, "forest_percentage_2020": 0.0, "logging_area": 0.0,
        "deforestation": {"total_yearly": {}, "total_yearly_jrc": {}, "total": 0.0, "total_jrc": 0.0},
        "deforestation_percentage": 0.0, "version": "dry-run",
        "protected_areas": {"protected_area_overlap_summary": {"protected_area_overlap": False, **empty,
                                                               "most_restrictive_extractive_activity_legality": None},
                            "protected_area_details": [], "sources": []},
        "protectedAreas": [],
        "indigenous_land": {"indigenous_land_overlap_summary": {"indigenous_land_overlap": False, **empty},
                            "indigenous_land_details": [], "sources": []},
        "indigenous_overlap": {"total_overlap_area": 0.0, "overlapping_territories": [], "overlap_percentage": 0.0},
    }


def simulate(state: ServiceState, job_id: str) -> None:
    """Give every plot of the dry-run job ``job_id`` a simulated analysis, end the job
    ``done`` (no tokens were reserved) and draw its overview (no layers read)."""
    started = utcnow()
    rows = state.jobs.job_plot_rows(job_id)
    results, outcomes = [], []
    for r in rows:
        req = request_from_feature(r["feature"], r["position"])
        area = 0.0
        if req.geometry is not None:
            area = round(geodesic_area_ha(req.geometry), 6)
        end = analysis_end_of(r["checks"], started.date()).isoformat()
        results.append({"plot_id": r["plot_id"], "area_ha": area, "analysis": simulated_analysis(area, end)})
        outcomes.append((r["position"], "done", None, None))
    state.jobs.mark_plots(job_id, outcomes, started)
    state.jobs.record_analyses(job_id, "dry-run", {"dry_run": "true"}, results)
    state.jobs.set_status(job_id, "done")
    draw_overview(state, None, state.jobs.job(job_id))  # plot maps (outline only) are drawn on request
