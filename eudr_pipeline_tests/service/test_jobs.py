"""A job's plot requests, built together as arrays, are what each plot alone gives."""

from __future__ import annotations

import dataclasses
import datetime as dt

from eudr_pipeline.core.intake import request_from_feature
from eudr_pipeline.service.jobs import job_plot_requests

SQUARE = {"type": "Polygon", "coordinates": [[[-5.29, 6.83], [-5.289, 6.83], [-5.289, 6.831], [-5.29, 6.831],
                                              [-5.29, 6.83]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[-5.295, 6.81], [-5.292, 6.813], [-5.292, 6.81], [-5.295, 6.813],
                                              [-5.295, 6.81]]]}
POINT = {"type": "Point", "coordinates": [-5.27, 6.812]}


def row(k: int, geometry: dict, checks: list[dict], props: dict | None = None) -> dict:
    return {"plot_id": f"id-{k}", "position": k, "checks": checks,
            "feature": {"type": "Feature", "properties": props or {}, "geometry": geometry}}


def test_rows_with_different_checks_get_what_each_alone_gets():
    eudr = [{"type": "eudr", "config": {"harvest_date": "2024-03-01", "commodity": "cocoa"}}]
    other = [{"type": "eudr", "config": {"commodity": "coffee"}}, {"type": "protected-area", "config": {}}]
    rows = [row(0, SQUARE, eudr), row(1, POINT, other, {"harvest_date": "2023-05-05"}), row(2, BOWTIE, eudr),
            row(3, SQUARE, other), row(4, POINT, eudr, {"commodity": "not-a-commodity"})]
    today = dt.date(2025, 6, 1)
    got = job_plot_requests(rows, today)
    assert [r.plot_id for r in got] == [f"id-{k}" for k in range(5)]
    for r, req in zip(rows, got):
        types = tuple(c["type"] for c in r["checks"])
        config = {k: v for c in r["checks"] for k, v in c["config"].items()}
        harvest = dt.date.fromisoformat(config["harvest_date"]) if "harvest_date" in config else None
        alone = request_from_feature(r["feature"], r["position"], harvest, config.get("commodity"), types, today=today)
        assert dataclasses.replace(alone, plot_id=r["plot_id"], geometry=None) == dataclasses.replace(req, geometry=None)
        assert (alone.geometry is None and req.geometry is None) or alone.geometry.equals(req.geometry)
    assert "self-intersect" in got[2].error and got[0].analysis_end == dt.date(2024, 3, 1)
    assert got[1].analysis_end == dt.date(2023, 5, 5) and got[1].checks == ("eudr", "protected-area")
    assert got[4].error is None and got[4].commodity == "cocoa"  # the check's config wins over the plot's


def test_a_recorded_analysis_is_read_once_per_run_and_a_new_run_is_read_again(tmp_path):
    from eudr_pipeline.config import Settings
    from eudr_pipeline.service.jobs import prepare_publication
    from eudr_pipeline_tests.conftest import service_state, submit_job_as

    state = service_state(Settings(data_dir=tmp_path))
    state.accounts.add_user("ann", "pw", 10)
    [plot] = state.plots.register("ann", [{"type": "Feature", "properties": {"commodity": "cocoa"}, "geometry": SQUARE}])
    job_id = submit_job_as(state, "ann", [plot["plot_id"]])
    state.jobs.record_analyses(job_id, "run-1", {"hansen_gfc": "v1"}, [{"plot_id": plot["plot_id"], "error": "x"}])
    publication = prepare_publication(state, job_id, "run-1")
    first = state.jobs.published_analysis(publication.job)
    assert state.jobs.published_analysis(publication.job) is first  # the run's analysis, read once
    assert state.job_response(publication.job)["plots"][0]["error"] == "x"
    state.jobs.record_analyses(job_id, "run-2", {"hansen_gfc": "v2"}, [{"plot_id": plot["plot_id"], "area_ha": 1.0,
                                                                         "analysis": {"risk_level": "Low"}}])
    second = state.jobs.published_analysis(publication.job | {"published_run": "run-2"})
    assert second is not first and second.layer_versions == {"hansen_gfc": "v2"}
    assert second.rows[0]["status"] == "done" and first.rows[0]["status"] == "failed"
