"""Running the local deployment: the API server, the Dagster daemon (sensor, schedule,
run queue) and optionally the Dagster webserver, as child processes sharing one data
folder and one Dagster instance (DAGSTER_HOME under EUDR_DATA_DIR)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from eudr_pipeline.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTANCE_YAML = """\
# Written by eudr: the local Dagster instance of this deployment (EUDR_MAX_CONCURRENT_RUNS).
telemetry:
  enabled: false
{run_coordinator}
# DefaultRunLauncher with a run worker health check (eudr_pipeline/defs/launcher.py): run
# monitoring marks the run of a worker that died failed, and the job sensor retries it.
run_launcher:
  module: eudr_pipeline.defs.launcher
  class: LocalRunLauncher
run_monitoring:
  enabled: true
  max_resume_run_attempts: 0
  start_timeout_seconds: 180
  poll_interval_seconds: 5
sensors:
  use_threads: true
  num_workers: 2
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


IMMEDIATE_RUNS = """\
# Runs are launched by the sensor as soon as it requests them (no queue polling delay).
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator"""
QUEUED_RUNS = """\
# Runs wait in Dagster's run queue; at most {limit} run at once (EUDR_MAX_CONCURRENT_RUNS).
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: {limit}
    dequeue_interval_seconds: 1"""


PRODUCTION_INSTANCE = PROJECT_ROOT / "deploy" / "production" / "dagster.yaml"


def production_profile(settings: Settings) -> bool:
    """Whether the settings ask for the scaled-out profile (deploy/production/): the Dagster
    instance on PostgreSQL and runs executed by Celery workers. Both or neither: a Celery
    worker on another host cannot reach an instance kept in SQLite files here."""
    if bool(settings.dagster_postgres_url) != bool(settings.celery_broker_url):
        from eudr_pipeline.errors import SettingsError

        raise SettingsError("the production profile needs both EUDR_DAGSTER_POSTGRES_URL and EUDR_CELERY_BROKER_URL "
                            "(or neither, for the local profile)")
    return bool(settings.dagster_postgres_url)


def production_run_limit(settings: Settings) -> int:
    """Runs in progress at once in the production profile: EUDR_MAX_CONCURRENT_RUNS, else
    one per Celery worker process (more would only wait in the broker, unseen by the UI)."""
    return settings.max_concurrent_runs if settings.max_concurrent_runs > 0 else max(1, settings.celery_workers)


def instance_yaml(settings: Settings) -> str:
    """The deployment's dagster.yaml: the shipped production instance (deploy/production/
    dagster.yaml, values from the environment) in the production profile; else SQLite
    storage with runs launched at once, or queued with a limit."""
    if production_profile(settings):
        return PRODUCTION_INSTANCE.read_text()
    limit = settings.max_concurrent_runs
    return INSTANCE_YAML.format(run_coordinator=QUEUED_RUNS.format(limit=limit) if limit > 0 else IMMEDIATE_RUNS)


def dagster_postgres_url(url: str) -> str:
    """The URL with the psycopg2 driver dagster-postgres is written for (SQLAlchemy 2.1
    reads a bare postgresql:// as psycopg 3, whose NOTIFY does not take parameters)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg2://{rest}" if scheme in ("postgresql", "postgres", "postgresql+psycopg") else url


def instance_env(settings: Settings) -> dict[str, str]:
    """The variables the production instance YAML reads (empty in the local profile)."""
    if not production_profile(settings):
        return {}
    return {"EUDR_DAGSTER_POSTGRES_URL": dagster_postgres_url(settings.dagster_postgres_url),
            "EUDR_CELERY_BROKER_URL": settings.celery_broker_url,
            "EUDR_MAX_CONCURRENT_RUNS": str(production_run_limit(settings))}


def dagster_home(settings: Settings) -> Path:
    """The deployment's DAGSTER_HOME, its storage created here once: the daemon, the
    webserver and run workers starting together would otherwise race to create it. The
    dagster.yaml follows the settings at every start."""
    home = (settings.data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    fresh = not (home / "dagster.yaml").exists()
    wanted = instance_yaml(settings)
    if fresh or (home / "dagster.yaml").read_text() != wanted:
        from eudr_pipeline.files import write_atomic

        write_atomic(home / "dagster.yaml", wanted.encode())
    if fresh:
        from dagster import DagsterInstance

        with _environment(instance_env(settings)):
            DagsterInstance.from_config(str(home)).dispose()
    return home


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """``values`` set in os.environ for the block (the instance YAML reads them from there)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def settings_env(settings: Settings) -> dict[str, str]:
    """The EUDR_* variables that give a child process these settings (every field that
    differs from its default), so each process of the deployment reads the same ones."""
    import dataclasses

    default = Settings()
    out = {}
    for f in dataclasses.fields(Settings):
        value = getattr(settings, f.name)
        if value != getattr(default, f.name) and value is not None:
            out[f"EUDR_{f.name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def bin_path(name: str) -> str:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


@dataclass
class Deployment:
    """Child processes of a local deployment; ``stop()`` ends them all."""

    settings: Settings
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    log_dir: Path | None = None

    @classmethod
    def prepare(cls, settings: Settings, extra_env: dict[str, str] | None = None) -> "Deployment":
        """The deployment's environment, with the job database upgraded to the current schema."""
        upgrade_job_database(settings)
        env = {**os.environ, **(extra_env or {}), **settings_env(settings)}
        env["EUDR_DATA_DIR"] = str(settings.data_dir.resolve())
        env["DAGSTER_HOME"] = str(dagster_home(settings))
        env.update(instance_env(settings))
        log_dir = settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings, env, log_dir=log_dir)

    def _spawn(self, name: str, argv: list[str], quiet: bool) -> subprocess.Popen:
        out = open(self.log_dir / f"{name}.log", "ab") if quiet else None
        p = subprocess.Popen(argv, env=self.env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT if quiet else None,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def ingest_layers(self) -> None:
        """Run the `layer_refresh` Dagster job once, in this deployment's instance, so the
        layer versions in use are materializations the UI and the staleness of job
        analyses know about (later versions come with the schedule)."""
        p = subprocess.run([bin_path("dagster"), "job", "execute", "-m", "eudr_pipeline.definitions", "-j",
                            "layer_refresh"], env=self.env, cwd=PROJECT_ROOT, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"ingesting the layers failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")

    def start_api(self, quiet: bool = True) -> None:
        self._spawn("api", [sys.executable, "-m", "eudr_pipeline.cli", "serve", "--host", self.settings.api_host,
                            "--port", str(self.settings.api_port)], quiet)
        self.wait_http(f"http://{self.settings.api_host}:{self.settings.api_port}/docs", 60)

    def start_daemon(self, quiet: bool = True) -> None:
        self._spawn("dagster-daemon", [bin_path("dagster-daemon"), "run", "-w", str(PROJECT_ROOT / "workspace.yaml")], quiet)

    def start_celery_workers(self, count: int | None = None, quiet: bool = True) -> None:
        """``count`` Celery worker processes (default EUDR_CELERY_WORKERS), each taking one
        run at a time from the broker (production profile only)."""
        if not production_profile(self.settings):
            return
        for i in range(1, (count or self.settings.celery_workers) + 1):
            self._spawn(f"celery-worker-{i}", [sys.executable, "-m", "eudr_pipeline.cli", "celery-worker",
                                               "--name", f"eudr-{i}"], quiet)

    def start_webserver(self, quiet: bool = True) -> None:
        self._spawn("dagster-webserver", [bin_path("dagster-webserver"), "-w", str(PROJECT_ROOT / "workspace.yaml"),
                                          "-h", "127.0.0.1", "-p", str(self.settings.dagster_port)], quiet)

    def wait_http(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[0]} exited with {p.returncode}; see {self.log_dir}")
            try:
                urllib.request.urlopen(url, timeout=2).read(1)
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"{url} did not answer in {timeout:.0f} s")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs.clear()


def ensure_demo_layers(settings: Settings) -> None:
    """Ingest the versions in force of the layer sources (demo by default) into the store."""
    from eudr_pipeline.layers.refresh import ingest_new_versions
    from eudr_pipeline.layers.store import LayerStore

    failed = [o for o in ingest_new_versions(settings.resolved_layer_sources(), LayerStore.from_settings(settings))
              if not o.ok]
    if failed:
        raise RuntimeError("; ".join(f"{o.layer} {o.version}: {o.error or o.row.status}" for o in failed))


def upgrade_job_database(settings: Settings) -> None:
    """Create or upgrade the job database to the current schema (eudr db upgrade)."""
    from eudr_pipeline.service.database import engine_for
    from eudr_pipeline.service.migrations import upgrade_database

    upgrade_database(engine_for(settings.resolved_database_url()))


DEMO_USERS = (("demo", "demo-password", 1000), ("auditor", "auditor-password", 100))


def ensure_demo_users(state) -> None:
    """The demo users with their tokens, created once."""
    for name, password, tokens in DEMO_USERS:
        if not state.accounts.exists(name):
            state.accounts.add_user(name, password, tokens)
