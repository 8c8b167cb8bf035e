"""Running the local deployment: the API server, the Dagster code server, the Dagster
daemon (sensors, schedule, run queue) and optionally the Dagster webserver, as child
processes sharing one data folder and one Dagster instance (DAGSTER_HOME under
EUDR_DATA_DIR).

**One code server for the deployment.** The daemon and the webserver load the code
location from one long-lived `dagster code-server start` process, through the
deployment's workspace file ($DAGSTER_HOME/workspace.yaml, a `grpc_server` entry). Left
to load `workspace.yaml`'s python_module itself, the daemon would start a code server of
its own and, every 60 seconds (Dagster's RELOAD_WORKSPACE_INTERVAL in
dagster/_daemon/controller.py), drop it and start a fresh one: the dropped one receives no
more heartbeats and exits 20 seconds later (DAEMON_GRPC_SERVER_HEARTBEAT_TTL) with "No
heartbeat received in 20 seconds, shutting down". That cost a process importing the whole
pipeline every minute and filled the daemon log. With a `grpc_server` entry the daemon
only re-reads the server's snapshot each minute; the server runs until the deployment
stops (RELIABILITY.md, "The daemon's code server")."""

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
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from eudr_pipeline.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTANCE_YAML = """\
# Written by eudr: the local Dagster instance of this deployment (EUDR_MAX_CONCURRENT_RUNS).
telemetry:
  enabled: false
nux:
  enabled: false  # no "join the community" dialog over an operator's first page
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
# The sensor loop turns every 0.5 s (eudr_pipeline/defs/daemon.py) and the job sensor is
# evaluated every second: keep its skipped ticks (tens of thousands a day) one day.
retention:
  sensor:
    purge_after_days:
      skipped: 1
      failure: 30
      success: -1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CODE_LOCATION = "eudr_pipeline.definitions"
"""The code location's name: the module, as `workspace.yaml` loads it, so runs, sensors and
schedules keep their identity whichever workspace file a process reads."""
PROJECT_WORKSPACE = PROJECT_ROOT / "workspace.yaml"
WORKSPACE_YAML = """\
# Written by eudr when the deployment starts, removed when it stops: the daemon, the
# webserver and operators' `dagster` commands reach the code location through the
# deployment's one code server (`dagster code-server start`, port {port}) instead of each
# starting code servers of their own (the daemon replaced its own every minute: see
# RELIABILITY.md, "The daemon's code server").
load_from:
  - grpc_server:
      host: 127.0.0.1
      port: {port}
      location_name: {location}
"""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def running_workspace(home: Path) -> Path | None:
    """The workspace file of the deployment running on DAGSTER_HOME ``home``: its code
    server answers; None when no deployment wrote one or its code server is gone."""
    import yaml

    path = home / "workspace.yaml"
    try:
        entry = yaml.safe_load(path.read_text())["load_from"][0]["grpc_server"]
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
        return None
    return path if port_open(int(entry["port"]), entry.get("host", "127.0.0.1")) else None


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
    code_server: subprocess.Popen | None = None
    run_worker_pool: subprocess.Popen | None = None
    launchers: list[subprocess.Popen] = field(default_factory=list)
    """`dagster job launch` commands started by launch_layer_refresh (not stopped: each ends
    when its run is launched, or ended)."""

    @property
    def home(self) -> Path:
        """The deployment's DAGSTER_HOME (absolute): what the `dagster` CLI needs."""
        return Path(self.env["DAGSTER_HOME"])

    def workspace(self) -> Path:
        """The workspace file for Dagster processes and commands: the deployment's own (its
        code server) while it runs, else the project's workspace.yaml."""
        return running_workspace(self.home) or PROJECT_WORKSPACE

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

    def start_code_server(self, quiet: bool = True, timeout: float = 300) -> None:
        """The deployment's one code server (module docstring), once; returns when it
        answers (the code is loaded before it listens), then writes the workspace file."""
        if self.code_server is not None and self.code_server.poll() is None:
            return
        port = free_port()
        self.code_server = self._spawn("dagster-code-server", [
            bin_path("dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(port), "-m", CODE_LOCATION,
            "--location-name", CODE_LOCATION], quiet)
        deadline = time.monotonic() + timeout
        while not port_open(port):
            if self.code_server.poll() is not None:
                raise RuntimeError(f"the Dagster code server exited with {self.code_server.returncode}; "
                                   f"see {self.log_dir / 'dagster-code-server.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Dagster code server did not answer on port {port} in {timeout:.0f} s")
            time.sleep(0.2)
        from eudr_pipeline.files import write_atomic

        write_atomic(self.home / "workspace.yaml", WORKSPACE_YAML.format(port=port, location=CODE_LOCATION).encode())

    def start_run_worker_pool(self, quiet: bool = True, timeout: float = 120) -> None:
        """The pre-imported run worker pool (defs/run_workers.py) of the local profile, once;
        returns when it listens. Processes started after it (the daemon, the webserver)
        hand their runs to it."""
        from eudr_pipeline.defs import run_workers

        if production_profile(self.settings) or (self.run_worker_pool and self.run_worker_pool.poll() is None):
            return
        path = run_workers.socket_path()
        self.env = {**self.env, run_workers.SOCKET_ENV: str(path)}  # for the pool and the processes after it
        self.run_worker_pool = self._spawn("run-worker-pool", [sys.executable, "-m", "eudr_pipeline.defs.run_workers"],
                                           quiet)
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.run_worker_pool.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the run worker pool did not start; see {self.log_dir / 'run-worker-pool.log'}")
            time.sleep(0.1)

    def start_daemon(self, quiet: bool = True) -> None:
        """The Dagster daemon (sensors, schedules, run queue, run monitoring) on the
        deployment's code server, launching runs into the run worker pool; its sensor
        loop shortened (defs/daemon.py)."""
        self.start_code_server(quiet)
        self.start_run_worker_pool(quiet)
        self._spawn("dagster-daemon", [sys.executable, "-m", "eudr_pipeline.defs.daemon", "run", "-w",
                                       str(self.home / "workspace.yaml")], quiet)  # dagster-daemon, sensor loop 0.5 s

    @contextlib.contextmanager
    def instance(self):
        """The deployment's Dagster instance, opened in this process."""
        from dagster import DagsterInstance

        with _environment(instance_env(self.settings)), DagsterInstance.from_config(str(self.home)) as instance:
            yield instance

    def launch_layer_refresh(self, timeout: float = 300) -> str:
        """Launch a run of the `layer_refresh` job in the deployment's instance, exactly as an
        operator's `dagster job launch -w <workspace> -j layer_refresh` does (a run in the UI,
        executed by the run launcher: a process of the code server, or a Celery worker);
        returns its run id once the run exists. Without a running deployment the command
        loads the code in a code server of its own and lives until the run ends (its output:
        logs/layer-refresh-launch.log)."""
        run_id = str(uuid.uuid4())
        log = self.log_dir / "layer-refresh-launch.log"
        with open(log, "ab") as out:
            launcher = subprocess.Popen([bin_path("dagster"), "job", "launch", "-w", str(self.workspace()), "-j",
                                         "layer_refresh", "--run-id", run_id], env=self.env, cwd=PROJECT_ROOT,
                                        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.launchers.append(launcher)
        deadline = time.monotonic() + timeout
        with self.instance() as instance:
            while instance.get_run_by_id(run_id) is None:
                if launcher.poll() is not None and instance.get_run_by_id(run_id) is None:
                    raise RuntimeError(f"launching layer_refresh failed (exit {launcher.returncode}):\n"
                                       + log.read_text(errors="replace")[-2000:])
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no layer_refresh run after {timeout:.0f} s; see {log}")
                time.sleep(0.2)
        return run_id

    def follow_layer_refresh(self, run_id: str, write: Callable[[str], None] | None = None,
                             keep_going: Callable[[], bool] = lambda: True):
        """Print (or ``write``) one line per layer of run ``run_id`` as it is ingested, until
        the run ends (defs/layers/progress.py); the run's final status, None if stopped."""
        from eudr_pipeline.defs.layers.progress import follow_refresh

        def out(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

        with self.instance() as instance:
            return follow_refresh(instance, run_id, write or out, keep_going)

    def processes_alive(self) -> bool:
        """Whether every process of the deployment still runs."""
        return all(p.poll() is None for p in self.procs)

    def start_celery_workers(self, count: int | None = None, quiet: bool = True) -> None:
        """``count`` Celery worker processes (default EUDR_CELERY_WORKERS), each taking one
        run at a time from the broker (production profile only)."""
        if not production_profile(self.settings):
            return
        for i in range(1, (count or self.settings.celery_workers) + 1):
            self._spawn(f"celery-worker-{i}", [sys.executable, "-m", "eudr_pipeline.cli", "celery-worker",
                                               "--name", f"eudr-{i}"], quiet)

    def start_webserver(self, quiet: bool = True) -> None:
        self.start_code_server(quiet)
        self.start_run_worker_pool(quiet)
        self._spawn("dagster-webserver", [bin_path("dagster-webserver"), "-w", str(self.home / "workspace.yaml"),
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
        if self.code_server is not None:
            (self.home / "workspace.yaml").unlink(missing_ok=True)
            self.code_server = None
        if self.run_worker_pool is not None:
            from eudr_pipeline.defs.run_workers import SOCKET_ENV

            shutil.rmtree(Path(self.env.pop(SOCKET_ENV)).parent, ignore_errors=True)
            self.run_worker_pool = None
        self.launchers = [p for p in self.launchers if p.poll() is None]  # reap the ended ones


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
