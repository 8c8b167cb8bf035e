"""A real deployment for the end-to-end tests: the API server on 127.0.0.1 and the Dagster
daemon (sensor, run queue, run workers) on a fresh instance, sharing a temporary data
folder with the demo layers ingested."""

from __future__ import annotations

import dataclasses

import pytest

from eudr_pipeline.config import Settings
from eudr_pipeline.service.client import Client
from eudr_pipeline.service.deploy import Deployment, ensure_demo_layers, free_port
from eudr_pipeline.service.state import ServiceState


@dataclasses.dataclass
class Live:
    settings: Settings
    state: ServiceState
    base_url: str

    def client(self, user: str, password: str) -> Client:
        return Client(self.base_url).login(user, password)


@pytest.fixture(scope="session")
def live(tmp_path_factory) -> Live:
    data = tmp_path_factory.mktemp("deployment")
    settings = Settings(data_dir=data, api_port=free_port())
    ensure_demo_layers(settings)
    dep = Deployment.prepare(settings)
    state = ServiceState(settings)
    state.accounts.add_user("alice", "alice-pw", 200)
    state.accounts.add_user("bob", "bob-pw", 50)
    state.accounts.add_user("poor", "poor-pw", 1)
    dep.start_api()
    dep.start_daemon()
    try:
        yield Live(settings, state, f"http://127.0.0.1:{settings.api_port}")
    finally:
        dep.stop()
