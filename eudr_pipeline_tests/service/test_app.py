"""The API in-process (FastAPI's TestClient), with its state given through the app's
dependency: the error family mapped to status codes and bodies in one place, pydantic
bodies refused with the project's error format, handlers that do not need a server."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from eudr_pipeline.config import Settings
from eudr_pipeline.demo import demo_plots
from eudr_pipeline.service.app import create_app
from eudr_pipeline.service.deps import get_state
from eudr_pipeline_tests.conftest import service_state


@pytest.fixture
def client(tmp_path) -> TestClient:
    state = service_state(Settings(data_dir=tmp_path, jwt_secret="test-secret-of-32-characters-at-least"))
    state.accounts.add_user("ann", "ann-pw", 3)
    app = create_app(service_state(Settings(data_dir=tmp_path / "unused")))  # no users: login would fail there
    app.dependency_overrides[get_state] = lambda: state  # every router takes its state from this one dependency
    with TestClient(app) as c:
        basic = base64.b64encode(b"ann:ann-pw").decode()
        token = c.post("/login", headers={"Authorization": f"Basic {basic}"}).json()["access_token"]
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def test_each_error_class_has_its_status_and_the_error_body(client):
    cases = [
        (client.get("/plots/nope"), 404, "plot nope not found"),
        (client.post("/jobs/make_job", json={"plot_ids": ["x"]}), 400, "unknown plot id x"),
        (client.post("/jobs/make_job", json={"job_name": 5, "plot_ids": ["x"]}), 400, "job_name"),
        (client.post("/plots/make_plot", json={"type": "Feature"}), 400, "FeatureCollection"),
        (client.post("/jobs/make_job", content=b"{not json", headers={"Content-Type": "application/json"}), 400,
         "not valid JSON"),
        (client.get("/users/check_tokens", headers={"Authorization": "Bearer forged"}), 401, "invalid token"),
        (client.get("/jobs", params={"limit": 0}), 400, "limit"),
    ]
    for response, status, text in cases:
        body = response.json()
        assert response.status_code == status, body
        assert set(body) == {"detail", "errors"} and body["errors"], body
        assert text in str(body), (text, body)
    assert cases[5][0].headers["WWW-Authenticate"] == "Bearer"


def test_insufficient_tokens_is_402_and_changes_nothing(client):
    feats = [f for f in demo_plots()["features"] if f["properties"]["plot_id"] in ("demo-01", "demo-02")]  # 2 + 2 tokens
    ids = [p["plot_id"] for p in client.post("/plots/make_plot", json={"type": "FeatureCollection", "features": feats}).json()]
    before = client.get("/users/check_tokens").json()
    r = client.post("/jobs/make_job", json={"plot_ids": ids})
    assert r.status_code == 402 and "costs 4 tokens but only 3 are free" in r.json()["detail"], r.json()
    assert r.json()["errors"][0]["loc"] == ["body", "plot_ids"]
    assert client.get("/users/check_tokens").json() == before
    assert client.get("/jobs").json()["total"] == 0


def test_estimate_prices_without_reserving(client):
    feats = [f for f in demo_plots()["features"] if f["properties"]["plot_id"] == "demo-01"]
    [plot] = client.post("/plots/make_plot", json={"type": "FeatureCollection", "features": feats}).json()
    est = client.post("/jobs/estimate", json={"plot_ids": [plot["plot_id"]],
                                              "checks": [{"type": "eudr"}, {"type": "protected-area"}]}).json()
    assert est["plots"] == {plot["plot_id"]: 2 + 1} and est["token_cost"] == 3  # 17 ha: 2 eudr tokens, 1 PA token
    assert client.get("/users/check_tokens").json()["reserved"] == 0


def test_login_takes_utf8_credentials_and_names_malformed_ones(client, tmp_path):
    state = client.app.dependency_overrides[get_state]()
    state.accounts.add_user("josé", "pässwörd", 1)
    basic = base64.b64encode("josé:pässwörd".encode()).decode()
    r = client.post("/login", headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200, r.json()
    wrong = base64.b64encode("josé:passwort".encode()).decode()
    assert client.post("/login", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    for bad in ("Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode()):
        r = client.post("/login", headers={"Authorization": bad})
        assert r.status_code == 401 and "malformed Basic credentials" in r.json()["detail"], r.json()
        assert r.headers["WWW-Authenticate"] == "Basic"
