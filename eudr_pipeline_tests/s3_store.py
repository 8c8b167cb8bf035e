"""Fixtures for tests on an s3:// object store: moto's S3-compatible HTTP server (a real
server on 127.0.0.1, eudr_pipeline_tests/servers.py), one per test module with its own
bucket, and per test the AWS_* variables set as a deployment sets them, GDAL's derived
from them by the settings (Settings.apply_object_store_env), and a fresh s3:// prefix."""

from __future__ import annotations

import uuid

import pytest

from eudr_pipeline.config import Settings
from eudr_pipeline.object_store import GDAL_S3_VARIABLES
from eudr_pipeline_tests.servers import s3_server


@pytest.fixture(scope="module")
def s3_server_env():
    """(bucket, AWS_* variables) of a moto server running for the module."""
    bucket = f"eudr-test-{uuid.uuid4().hex[:12]}"
    with s3_server(bucket) as env:
        yield bucket, env


@pytest.fixture
def s3_env(s3_server_env, monkeypatch) -> dict[str, str]:
    """The server's AWS_* variables in os.environ for the test, GDAL's derived from them
    the way a process applies its settings; all restored afterwards."""
    _, env = s3_server_env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in GDAL_S3_VARIABLES:
        monkeypatch.setenv(name, "")  # remembers the value before (or its absence) for the restore
        monkeypatch.delenv(name)
    Settings().apply_object_store_env()
    return env


@pytest.fixture
def s3_uri(s3_server_env, s3_env) -> str:
    """A fresh s3://bucket/prefix for one test (GDAL caches what it read by path)."""
    bucket, _ = s3_server_env
    return f"s3://{bucket}/{uuid.uuid4().hex[:12]}"


def s3_client(env: dict[str, str]):
    """A plain boto3 client of the server: to look at the bucket independently of our code."""
    import boto3

    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_REGION"])


def object_keys(env: dict[str, str], uri: str) -> set[str]:
    """Every key under the s3:// ``uri`` (relative to it), listed by boto3."""
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    pages = s3_client(env).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    return {o["Key"][len(prefix) + 1:] for page in pages for o in page.get("Contents", [])}
