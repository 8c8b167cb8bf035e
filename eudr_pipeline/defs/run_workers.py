"""Pre-imported run workers for the local deployment.

A run worker launched the default way is a new interpreter that imports Dagster and the
code location before it does anything (about 3 s on this machine: most of a 1-plot job's
time, BENCHMARKS.md). The run worker pool is one long-lived process, started by the
deployment before the daemon, that imports the code location and what the job steps use
once, then waits on a Unix socket (mode 600, in a private temporary folder named by
``EUDR_RUN_WORKER_SOCKET``). For each run the launcher (defs/launcher.py) sends, it forks a
child that executes the run exactly as ``dagster api execute_run`` does, with the function
dagster-celery's workers call (the production profile's counterpart: Celery's prefork
pool over code imported once). The child is the run worker: it records its pid as the
default launcher's workers do, so run monitoring's health check (``check_run_worker_health``)
judges it the same way, and it stays in the pool's process group, so stopping the
deployment stops it.

When no pool answers (not started, or gone), the launcher falls back to Dagster's default
launch: runs are never lost, only slower to start."""

from __future__ import annotations

import gc
import importlib
import os
import signal
import socket
import sys
import tempfile
from pathlib import Path

SOCKET_ENV = "EUDR_RUN_WORKER_SOCKET"
PRELOAD = ("eudr_pipeline.definitions", "eudr_pipeline.service.maps", "eudr_pipeline.service.reports",
           "geopandas", "pyarrow.parquet", "PIL.Image")
"""Imported by the pool before it forks: the code location and what the job steps import."""


def socket_path() -> Path:
    """A new socket path in a private folder (short: Unix socket paths hold 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix="eudr-runs-")) / "pool.sock"


def launch(path: str, run_id: str, timeout: float = 10.0) -> int | None:
    """Ask the pool at ``path`` to execute run ``run_id``: the run worker's pid, or None
    when no pool answers there."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(run_id.encode() + b"\n")
            answer = s.makefile("rb").readline().strip()
        return int(answer) if answer.isdigit() else None
    except OSError:
        return None


def serve(path: Path) -> None:
    """The pool: preload, then fork a run worker for each run id received on ``path``."""
    for module in PRELOAD:
        importlib.import_module(module)
    from eudr_pipeline.layers.countries import country_layer

    country_layer()  # the shipped boundaries of the maps' locator, read once (0.8 s) for every run
    _build_definitions_once()
    gc.freeze()  # the imported objects: never collected again, so the run workers' pages stay shared
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # ended run workers are reaped by the kernel
    path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        os.chmod(path, 0o600)
        server.listen(16)
        print(f"run worker pool ready on {path}", flush=True)
        while True:
            conn, _ = server.accept()
            with conn:
                run_id = conn.makefile("rb").readline().strip().decode("ascii", "replace")
                if not run_id:
                    continue
                pid = os.fork()
                if pid == 0:
                    server.close()
                    conn.close()
                    _run_worker(run_id)
                conn.sendall(f"{pid}\n".encode())


def _build_definitions_once() -> None:
    """The code location's definitions built as each run builds them (``definitions.defs``),
    and the Dagster instance opened and closed, so that their modules are imported here:
    each run then builds and opens them in about 0.15 s instead of 1.5 s."""
    import dagster as dg

    from eudr_pipeline.definitions import defs

    defs().get_repository_def()
    with dg.DagsterInstance.get() as instance:  # its storage modules loaded (0.8 s), closed before any fork
        instance.get_run_records(limit=1)


def _run_worker(run_id: str) -> None:
    """The forked child: execute the run, then exit without returning to the pool's loop."""
    code = 1
    try:
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)  # the steps wait for their own children (map drawing)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import dagster as dg
        from dagster._cli.api import _execute_run_command_body  # what dagster-celery's workers call

        with dg.DagsterInstance.get() as instance:
            code = _execute_run_command_body(run_id=run_id, instance=instance, write_stream_fn=lambda _: None,
                                             set_exit_code_on_failure=True)
    except BaseException as exc:  # noqa: BLE001 - the run's own failure is in its event log
        print(f"run {run_id}: {exc!r}", file=sys.stderr, flush=True)
    finally:
        sys.stdout.flush()
        os._exit(code)


if __name__ == "__main__":
    serve(Path(os.environ[SOCKET_ENV]))
