"""Real servers for the tests, each started in a temporary folder on a free loopback port
and stopped when its context ends: PostgreSQL (as the `postgres` system user when the tests
run as root, which initdb requires), Redis (Celery's broker) and moto's S3-compatible HTTP
server. The system packages come from scripts/ensure-*.sh (make test runs them)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

from eudr_pipeline.service.deploy import free_port


def _bin(name: str, package: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if not found:
        raise RuntimeError(f"{name} is not installed (Debian package {package}): make test installs it")
    return found


@contextlib.contextmanager
def postgres_server(root: Path, databases: tuple[str, ...] = ("eudr",)) -> Iterator[dict[str, str]]:
    """A PostgreSQL server; yields {database: SQLAlchemy URL (psycopg 3)} for ``databases``."""
    data = root / "data"
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(root, "postgres")
        os.chmod(root, 0o755)
        for parent in list(root.parents)[:-1]:  # the server user must reach its folder
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
    port = free_port()
    subprocess.run(prefix + [_bin("initdb", "postgresql"), "-D", str(data), "-U", "eudr", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run(prefix + [_bin("pg_ctl", "postgresql"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                             f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                             "start"], check=True, capture_output=True)
    try:
        for _ in range(50):
            if subprocess.run([_bin("pg_isready", "postgresql"), "-h", "127.0.0.1", "-p", str(port)],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        for db in databases:
            subprocess.run([_bin("createdb", "postgresql"), "-h", "127.0.0.1", "-p", str(port), "-U", "eudr", db],
                           check=True)
        yield {db: f"postgresql+psycopg://eudr@127.0.0.1:{port}/{db}" for db in databases}
    finally:
        subprocess.run(prefix + [_bin("pg_ctl", "postgresql"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)


@contextlib.contextmanager
def redis_server(root: Path) -> Iterator[str]:
    """A Redis server without persistence; yields its URL (database 0)."""
    port = free_port()
    proc = subprocess.Popen([_bin("redis-server", "redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(root)],
                            stdout=open(root / "redis.log", "wb"), stderr=subprocess.STDOUT)
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def s3_server(bucket: str) -> Iterator[dict[str, str]]:
    """moto's S3-compatible server with ``bucket`` created; yields the AWS_* variables a
    client (botocore, s3fs, GDAL through the project's settings) needs to reach it."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    try:
        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                     aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket=bucket)
        yield env
    finally:
        server.stop()
