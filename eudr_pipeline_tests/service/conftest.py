"""A real PostgreSQL server for the service tests, started in a temporary folder for the
session (as the `postgres` system user when the tests run as root, which initdb requires)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time

import pytest

from eudr_pipeline.service.deploy import free_port


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: run scripts/ensure-postgres.sh (make test does)")
    return found


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("pg")
    data = root / "data"
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(root, "postgres")
        os.chmod(root, 0o755)
        for parent in list(root.parents)[:-1]:  # the server user must reach its folder
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
    port = free_port()
    subprocess.run(prefix + [_pg_bin("initdb"), "-D", str(data), "-U", "eudr", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run(prefix + [_pg_bin("pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                             f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        for _ in range(50):
            if subprocess.run([_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "eudr", "eudr"], check=True)
        yield f"postgresql+psycopg://eudr@127.0.0.1:{port}/eudr"
    finally:
        subprocess.run(prefix + [_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
