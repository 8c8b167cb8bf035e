"""The Celery app of the production profile's run workers (``eudr celery-worker``).

Runs are Celery tasks: the instance's run launcher (dagster-celery's CeleryRunLauncher,
configured in deploy/production/dagster.yaml) sends each run to the broker's ``dagster``
queue, and a worker started here executes it with Dagster's own run body, recording every
event in the shared PostgreSQL instance. The app is the launcher's own (built from the same
instance YAML), so broker, result backend and queue cannot disagree between the side that
sends and the side that executes.

A worker executes one run at a time (prefetch 1, concurrency 1 by default: a job's
analysis already uses both cores through its image rendering); more throughput is more
workers, on this host or others. The project's code is imported once by the worker's
parent process, before it forks its child: a run then starts without the ~3 s of imports
a fresh run worker process costs."""

from __future__ import annotations

import dagster as dg
from celery import Celery

from eudr_pipeline.errors import SettingsError

QUEUE = "dagster"  # dagster-celery's default queue, the one the launcher routes runs to


def worker_app() -> Celery:
    """The run launcher's Celery app with Dagster's run tasks registered on it."""
    from dagster_celery.launcher import CeleryRunLauncher
    from dagster_celery.tasks import create_execute_job_task, create_resume_job_task

    instance = dg.DagsterInstance.get()
    launcher = instance.run_launcher
    if not isinstance(launcher, CeleryRunLauncher):
        raise SettingsError(f"DAGSTER_HOME={instance.root_directory}: its run launcher is "
                            f"{type(launcher).__name__}, not dagster-celery's CeleryRunLauncher "
                            "(set EUDR_DAGSTER_POSTGRES_URL and EUDR_CELERY_BROKER_URL: the production profile)")
    app = launcher.celery
    create_execute_job_task(app)
    create_resume_job_task(app)
    return app


def preload_code() -> None:
    """Import the code location and its heavy libraries before the worker forks (the
    dataset registry applied first, as the code location does: assets are built from it)."""
    from eudr_pipeline.config import Settings

    settings = Settings.from_env()
    settings.apply_registry()
    settings.apply_object_store_env()
    import eudr_pipeline.definitions  # noqa: F401
    import eudr_pipeline.defs.analysis.assets  # noqa: F401
    import eudr_pipeline.defs.submissions.assets  # noqa: F401


app = worker_app()
preload_code()
