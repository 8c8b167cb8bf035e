"""What the API process, the job sensor and the run workers share: the settings, the
database (one engine per process), the stores on it, the results store and the JWT
secret. Built once per process from its Settings.

Job results live in the results store (object_store.py): a folder under EUDR_DATA_DIR,
or EUDR_OBJECT_STORE/results on S3, where what one process (a run worker on another
host) wrote is what every other (the API) reads. ``results_dir`` is this process's
local working copy of it, the store itself in the folder case."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import sqlalchemy as sa

from eudr_pipeline.collector import collector_paused
from eudr_pipeline.config import Settings
from eudr_pipeline.errors import SettingsError
from eudr_pipeline.files import create_secret_file
from eudr_pipeline.object_store import ObjectStore
from eudr_pipeline.service.accounts import Accounts
from eudr_pipeline.service.database import engine_for
from eudr_pipeline.service.job_response import job_response
from eudr_pipeline.service.job_store import JobStore
from eudr_pipeline.service.ledger import TokenLedger
from eudr_pipeline.service.plots import PlotStore
from eudr_pipeline.service.throttle import LoginThrottle

MIN_JWT_SECRET_CHARS = 32  # HS256: at least 256 bits of key
WEAK_SECRETS = {"secret", "changeme", "change-me", "jwt-secret", "password", "test", "demo"}


@dataclass
class ServiceState:
    settings: Settings

    @cached_property
    def engine(self) -> sa.Engine:
        return engine_for(self.settings.resolved_database_url())

    @cached_property
    def ledger(self) -> TokenLedger:
        return TokenLedger(self.engine)

    @cached_property
    def accounts(self) -> Accounts:
        return Accounts(self.engine, self.ledger)

    @cached_property
    def plots(self) -> PlotStore:
        return PlotStore(self.engine)

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.engine)

    @cached_property
    def login_throttle(self) -> LoginThrottle:
        return LoginThrottle()

    @property
    def results_dir(self) -> Path:
        """This process's working copy of the results (the results store itself when local)."""
        return self.settings.results_dir()

    @cached_property
    def results(self) -> ObjectStore:
        """The results store: keys ``<job_id>/...`` (maps.py, reports.py, the assets)."""
        return ObjectStore(self.settings.results_uri(), self.settings.results_dir())

    def job_response(self, job: dict) -> dict:
        """The response object of ``job`` (a job row) from its plots and the analysis it
        publishes (job_store.py: ``job["published_run"]``)."""
        return self.job_responses([job])[0]

    def job_responses(self, jobs: list[dict]) -> list[dict]:
        """The response objects of several jobs of one user, each from its published
        analysis, in four queries at most whatever their number (a page of GET /jobs)."""
        if not jobs:
            return []
        with collector_paused():  # thousands of plots' rows and dicts, no cycles (collector.py)
            analyses = self.jobs.published_analyses(jobs)
            plots_by_id = self.plots.get_many(jobs[0]["username"],
                                              list({r["plot_id"] for a in analyses.values() for r in a.rows}))
            return [job_response(j, analyses[j["job_id"]].rows, plots_by_id, analyses[j["job_id"]].results,
                                 self.settings.base_url()) for j in jobs]

    def check_jwt_secret(self) -> None:
        """SettingsError when EUDR_JWT_SECRET is set shorter than MIN_JWT_SECRET_CHARS
        characters, or is a known placeholder: the API does not start with it."""
        secret = self.settings.jwt_secret
        if secret and (len(secret) < MIN_JWT_SECRET_CHARS or secret.lower() in WEAK_SECRETS):
            raise SettingsError(f"EUDR_JWT_SECRET is {'a placeholder' if secret.lower() in WEAK_SECRETS else 'too short'}: "
                                f"give at least {MIN_JWT_SECRET_CHARS} random characters "
                                "(python -c 'import secrets; print(secrets.token_urlsafe(48))'), or unset it "
                                "to use the random secret kept in the data folder")

    def jwt_secret(self) -> str:
        """EUDR_JWT_SECRET, else a random secret kept (mode 600) in the data folder so that
        every process of the deployment shares it (the first process to write it wins)."""
        if self.settings.jwt_secret:
            return self.settings.jwt_secret
        return create_secret_file(self.settings.data_dir / "jwt_secret", secrets.token_urlsafe(48))
