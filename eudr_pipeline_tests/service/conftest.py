"""A real PostgreSQL server for the service tests, started in a temporary folder for the
session (eudr_pipeline_tests/servers.py)."""

from __future__ import annotations

import pytest

from eudr_pipeline_tests.servers import postgres_server


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory) -> str:
    with postgres_server(tmp_path_factory.mktemp("pg")) as urls:
        yield urls["eudr"]
