"""The same service code on a real PostgreSQL server: API, job run, token settlement."""

from __future__ import annotations

import base64
import threading

import dagster as dg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from eudr_pipeline.config import Settings
from eudr_pipeline.demo import demo_plots
from eudr_pipeline.errors import InsufficientTokens
from eudr_pipeline.service.app import create_app
from eudr_pipeline.service.deploy import ensure_demo_layers
from eudr_pipeline.service.state import ServiceState
from eudr_pipeline_tests.conftest import service_state


@pytest.fixture
def pg_state(postgres_url, tmp_path) -> ServiceState:
    state = service_state(Settings(data_dir=tmp_path, database_url=postgres_url))
    with state.engine.begin() as con:  # a clean database for each test
        for t in ("analysis_runs", "job_plots", "jobs", "token_ledger", "plots", "users"):
            con.execute(sa.text(f"DELETE FROM {t}"))
    return state


def auth(client: TestClient, user: str, pw: str) -> dict:
    basic = base64.b64encode(f"{user}:{pw}".encode()).decode()
    tok = client.post("/login", headers={"Authorization": f"Basic {basic}"}).json()["access_token"]
    return {"Authorization": f"Bearer {tok}"}


def test_job_on_postgres(pg_state):
    assert pg_state.engine.dialect.name == "postgresql"
    ensure_demo_layers(pg_state.settings)
    pg_state.accounts.add_user("carol", "carol-pw", 30)
    client = TestClient(create_app(pg_state))
    h = auth(client, "carol", "carol-pw")
    feats = [f for f in demo_plots()["features"] if f["properties"]["plot_id"] in ("demo-01", "demo-10")]
    plots = client.post("/plots/make_plot", json={"type": "FeatureCollection", "features": feats}, headers=h).json()
    job = client.post("/jobs/make_job", json={"plot_ids": [p["plot_id"] for p in plots]}, headers=h).json()
    assert job["status"] == "pending" and job["token_cost"] == 3
    assert client.get("/users/check_tokens", headers=h).json() == {"username": "carol", "balance": 30, "reserved": 3, "free": 27}

    from eudr_pipeline.definitions import build_definitions

    defs = build_definitions(pg_state.settings)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("jobs", [job["job_id"]])
    result = defs.resolve_job_def("process_job").execute_in_process(instance=instance, partition_key=job["job_id"])
    assert result.success
    done = client.get(f"/jobs/{job['job_id']}", headers=h).json()
    assert done["status"] == "done-with-errors"
    assert [p["analysis"].get("risk_level") for p in done["plots"]] == ["High", None]
    assert client.get("/users/check_tokens", headers=h).json() == {"username": "carol", "balance": 28, "reserved": 0, "free": 28}
    # settling again (a retried response step) charges nothing more
    assert not pg_state.ledger.settle("carol", job["job_id"], 3, 2)
    assert pg_state.ledger.balance("carol").balance == 28


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_concurrent_reservations_never_overspend(backend, postgres_url, tmp_path):
    url = postgres_url if backend == "postgres" else f"sqlite:///{tmp_path / 'db.sqlite'}"
    state = service_state(Settings(data_dir=tmp_path, database_url=url))
    with state.engine.begin() as con:
        for t in ("analysis_runs", "job_plots", "jobs", "token_ledger", "plots", "users"):
            con.execute(sa.text(f"DELETE FROM {t}"))
    state.accounts.add_user("dave", "pw", 10)
    ok, refused = [], []

    def reserve(k: int) -> None:
        try:
            with state.engine.begin() as con:
                state.ledger.reserve(con, "dave", f"job-{k}", 3)
            ok.append(k)
        except InsufficientTokens:
            refused.append(k)

    threads = [threading.Thread(target=reserve, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ok) == 3 and len(refused) == 5
    assert state.ledger.balance("dave").reserved == 9
