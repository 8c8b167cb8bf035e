"""The job routes' fast answers (make_job built from the rows it stored, every job object
encoded by orjson without a second pydantic pass, the garbage collector paused) give
exactly what the previous path gave: the response object read back from the database,
validated against ``JobResponse`` and encoded by FastAPI."""

from __future__ import annotations

import base64
import gc
import json

import pytest
from fastapi.testclient import TestClient

from eudr_pipeline.config import Settings
from eudr_pipeline.demo import demo_plots
from eudr_pipeline.service.app import create_app
from eudr_pipeline.service.dry_run import simulated_analysis
from eudr_pipeline.service.job_response import job_summary
from eudr_pipeline.service.jobs import prepare_publication
from eudr_pipeline.service.schemas import JobResponse
from eudr_pipeline_tests.conftest import service_state


@pytest.fixture
def api(tmp_path):
    state = service_state(Settings(data_dir=tmp_path, jwt_secret="test-secret-of-32-characters-at-least"))
    state.accounts.add_user("ann", "ann-pw", 1000)
    with TestClient(create_app(state)) as c:
        basic = base64.b64encode(b"ann:ann-pw").decode()
        c.headers["Authorization"] = "Bearer " + c.post("/login", headers={"Authorization": f"Basic {basic}"}).json()["access_token"]
        yield c, state


def previous_answer(state, job_id: str, include_plots: bool = True) -> dict:
    """What the routes answered before: the object from the database, through the model."""
    job = state.jobs.job_for("ann", job_id)
    body = state.job_response(job) if include_plots else job_summary(job, 0)
    return json.loads(json.dumps(JobResponse.model_validate(body).model_dump(mode="json")))


def register(client, n: int = 4) -> list[str]:
    feats = demo_plots()["features"][:n]
    feats[0]["properties"] |= {"plot_name": "Finca José – ñandú", "additional_info": {"lote": "Nº 7"}}
    r = client.post("/plots/make_plot", json={"type": "FeatureCollection", "features": feats})
    assert r.status_code == 200, r.json()
    return [p["plot_id"] for p in r.json()]


def test_make_job_answers_what_the_stored_job_reads(api):
    client, state = api
    ids = register(client)
    checks = [{"type": "eudr", "config": {"commodity": "coffee", "harvest_date": "2024-12-31"},
               "per_plot": {ids[1]: {"harvest_date": "2023-06-30"}}}, {"type": "protected-area"}]
    r = client.post("/jobs/make_job", json={"job_name": "Q1", "notes": "n", "additional_info": {"a": "b"},
                                            "plot_ids": ids, "checks": checks})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text
    assert r.json() == previous_answer(state, r.json()["job_id"])
    assert r.json()["status"] == "pending" and len(r.json()["tasks"]) == 2 * len(ids)
    assert gc.isenabled()


def test_a_dry_run_make_job_answers_the_published_simulation(api):
    client, state = api
    r = client.post("/jobs/make_job", json={"plot_ids": register(client, 2)}, headers={"X-Dry-Run": "true"})
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    assert r.json() == previous_answer(state, r.json()["job_id"])


def test_get_and_retrieve_job_answer_as_before_with_failed_and_analysed_plots(api):
    client, state = api
    ids = register(client)
    job_id = client.post("/jobs/make_job", json={"plot_ids": ids}).json()["job_id"]
    results = [{"plot_id": pid, "error": "bad geometry", "failure_type": "invalid_geometry"} if k == 2 else
               {"plot_id": pid, "area_ha": 1.25, "analysis": simulated_analysis(1.25, "2024-12-31")}
               for k, pid in enumerate(ids)]
    state.jobs.record_analyses(job_id, "run-1", {"forest": "v1"}, results)
    state.jobs.publish(prepare_publication(state, job_id, "run-1").job)
    full = client.get(f"/jobs/{job_id}")
    assert full.status_code == 200 and full.json()["status"] == "done-with-errors", full.text
    assert full.json() == previous_answer(state, job_id)
    assert [p["status"] for p in full.json()["plots"]] == ["done", "done", "failed", "done"]
    assert full.json()["plots"][0]["analysis"]["risk_level"] == "Low" and full.json()["plots"][2]["error"] == "bad geometry"
    assert client.post("/jobs/retrieve_job", json={"job_id": job_id}).json() == full.json()
    assert client.get(f"/jobs/{job_id}", params={"include_plots": "false"}).json() == previous_answer(state, job_id, False)
    assert gc.isenabled()


