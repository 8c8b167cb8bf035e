"""X-Dry-Run jobs: no tokens, no raster work; every plot gets a simulated analysis with
the real field names (marked "dry_run": true) and an outline-only image."""

from __future__ import annotations

from eudr_pipeline.core.geometry import geodesic_area_ha
from eudr_pipeline.core.intake import analysis_end_of, request_from_feature
from eudr_pipeline.service.jobs import prepare_publication
from eudr_pipeline.service.maps import draw_overview
from eudr_pipeline.service.state import ServiceState
from eudr_pipeline.service.timestamps import utcnow

DRY_RUN_ANALYSIS = "dry-run"
"""The run id of a dry-run job's simulated analysis (its maps: ``<job_id>/images/dry-run``)."""


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
    """Give every plot of the dry-run job ``job_id`` a simulated analysis (the analysis
    DRY_RUN_ANALYSIS), draw its overview (no layers read) and publish it: the job ends
    ``done`` (no tokens were reserved)."""
    started = utcnow()
    rows = state.jobs.job_plot_rows(job_id)
    results = []
    for r in rows:
        req = request_from_feature(r["feature"], r["position"])
        area = 0.0
        if req.geometry is not None:
            area = round(geodesic_area_ha(req.geometry), 6)
        end = analysis_end_of(r["checks"], started.date()).isoformat()
        results.append({"plot_id": r["plot_id"], "area_ha": area, "analysis": simulated_analysis(area, end)})
    state.jobs.record_analyses(job_id, DRY_RUN_ANALYSIS, {"dry_run": "true"}, results, started)
    publication = prepare_publication(state, job_id, DRY_RUN_ANALYSIS)
    draw_overview(state, None, publication.job, DRY_RUN_ANALYSIS)  # plot maps (outline only) are drawn on request
    state.jobs.publish(publication.job)
