"""What the API process and the Dagster assets share: the database, the results folder,
the JWT secret."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from eudr_pipeline.config import Settings, get_settings
from eudr_pipeline.service.accounts import Accounts
from eudr_pipeline.service.db import make_engine
from eudr_pipeline.service.jobs import JobStore
from eudr_pipeline.service.plots import PlotStore


@dataclass
class ServiceState:
    settings: Settings

    @classmethod
    def from_env(cls) -> "ServiceState":
        return cls(get_settings())

    @cached_property
    def engine(self):
        return make_engine(self.settings.resolved_database_url())

    @cached_property
    def accounts(self) -> Accounts:
        return Accounts(self.engine)

    @cached_property
    def plots(self) -> PlotStore:
        return PlotStore(self.engine)

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.engine)

    @property
    def base_url(self) -> str:
        """Where the API answers: the base of image URLs in responses."""
        s = self.settings
        return s.public_url or f"http://{s.api_host}:{s.api_port}"

    def job_response(self, job: dict) -> dict:
        """The seed's response object of ``job`` from its rows, plots and latest results."""
        from eudr_pipeline.service.logic import job_response

        rows = self.jobs.job_plot_rows(job["job_id"])
        plots_by_id = self.plots.get_many(job["username"], [r["plot_id"] for r in rows])
        results = {r["plot_id"]: r for r in self.jobs.latest_results(job["job_id"])}
        return job_response(job, rows, plots_by_id, results, self.base_url)

    @property
    def results_dir(self) -> Path:
        return self.settings.data_dir / "results"

    def jwt_secret(self) -> str:
        """EUDR_JWT_SECRET, else a random secret kept (mode 600) in the data folder so that
        every process of the deployment shares it."""
        if self.settings.jwt_secret:
            return self.settings.jwt_secret
        path = self.settings.data_dir / "jwt_secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, path)  # first writer wins
            except FileExistsError:
                pass
            tmp.unlink()
        return path.read_text().strip()
