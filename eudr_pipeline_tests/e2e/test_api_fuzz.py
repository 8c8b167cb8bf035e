"""An OpenAPI-driven fuzz of the running API (schemathesis over HTTP, a real uvicorn
server on loopback): every operation of the published schema, with generated parameters
and bodies, answers without a 5xx, and every error carries {"detail", "errors"}."""

from __future__ import annotations

import base64
import threading
import time

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings

from eudr_pipeline.config import Settings
from eudr_pipeline.demo import demo_plots
from eudr_pipeline.service.app import create_app
from eudr_pipeline.service.deploy import free_port
from eudr_pipeline_tests.conftest import service_state


@pytest.fixture(scope="module")
def live_api(tmp_path_factory):
    """(base URL, a bearer token) of a uvicorn server over a fresh state, one user with
    1,000 tokens and two registered plots."""
    state = service_state(Settings(data_dir=tmp_path_factory.mktemp("fuzz"),
                                   jwt_secret="test-secret-of-32-characters-at-least"))
    state.accounts.add_user("fuzz", "fuzz-pw", 1000)
    server = uvicorn.Server(uvicorn.Config(create_app(state), host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.config.port}"
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    basic = base64.b64encode(b"fuzz:fuzz-pw").decode()
    token = httpx.post(f"{url}/login", headers={"Authorization": f"Basic {basic}"}).json()["access_token"]
    feats = [f for f in demo_plots()["features"] if f["properties"]["plot_id"] in ("demo-01", "demo-03")]
    httpx.post(f"{url}/plots/make_plot", headers={"Authorization": f"Bearer {token}"},
               json={"type": "FeatureCollection", "features": feats}).raise_for_status()
    yield url, token
    server.should_exit = True
    thread.join(timeout=10)


def test_no_operation_answers_5xx(live_api):
    """Each operation of the schema, 30 generated cases (deterministic), over HTTP."""
    url, token = live_api
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # every route of the API is in its schema
    failures: list[str] = []
    calls: dict[str, int] = {}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case) -> None:
            headers = {} if case.path == "/login" else {"Authorization": f"Bearer {token}"}
            response = case.call(base_url=url, headers=headers, timeout=60)
            calls[f"{case.method} {case.path}"] = calls.get(f"{case.method} {case.path}", 0) + 1
            if response.status_code >= 500 or (response.status_code >= 400 and set(response.json()) != {"detail", "errors"}):
                failures.append(f"{case.method} {case.path}: {response.status_code} {response.text[:200]}")

        call()
    assert not failures, failures[:5]
    assert len(calls) == len(operations) and sum(calls.values()) >= 10 * len(operations), calls
