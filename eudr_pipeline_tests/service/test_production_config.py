"""The production profile's shipped configuration files agree with the code that runs them:
every variable the instance YAML and docker-compose.yml name is one the deployment sets or
a setting the code reads, the commands they run exist, and the settings a deployment hands
its child processes read back as the same settings."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from eudr_pipeline.cli import build_parser
from eudr_pipeline.config import Settings
from eudr_pipeline.errors import SettingsError
from eudr_pipeline.service.deploy import (
    CODE_LOCATION,
    PRODUCTION_INSTANCE,
    PROJECT_ROOT,
    dagster_postgres_url,
    instance_env,
    instance_yaml,
    production_profile,
    settings_env,
)

COMPOSE = PROJECT_ROOT / "deploy" / "production" / "docker-compose.yml"
PRODUCTION = Settings(dagster_postgres_url="postgresql://eudr:pw@db:5432/dagster", celery_broker_url="redis://r:6379/0",
                      celery_workers=3)


def env_names(node) -> set[str]:
    """Every `env: NAME` of a Dagster YAML document."""
    if isinstance(node, dict):
        return {node["env"]} if set(node) == {"env"} else set().union(*(env_names(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(env_names(v) for v in node)) if node else set()
    return set()


def setting_variables() -> set[str]:
    return {f"EUDR_{f.name.upper()}" for f in dataclasses.fields(Settings)}


def test_the_instance_yaml_reads_only_variables_the_deployment_sets():
    wanted = env_names(yaml.safe_load(PRODUCTION_INSTANCE.read_text()))
    assert wanted == set(instance_env(PRODUCTION))
    assert instance_yaml(PRODUCTION) == PRODUCTION_INSTANCE.read_text()
    assert instance_env(PRODUCTION)["EUDR_MAX_CONCURRENT_RUNS"] == "3"  # one run per worker by default
    assert instance_env(PRODUCTION)["EUDR_DAGSTER_POSTGRES_URL"].startswith("postgresql+psycopg2://")


def test_the_profile_needs_both_postgres_and_a_broker():
    assert not production_profile(Settings())
    assert production_profile(PRODUCTION)
    with pytest.raises(SettingsError, match="both EUDR_DAGSTER_POSTGRES_URL and EUDR_CELERY_BROKER_URL"):
        production_profile(Settings(celery_broker_url="redis://r:6379/0"))
    assert "storage" not in yaml.safe_load(instance_yaml(Settings()))  # local profile: SQLite under DAGSTER_HOME


def test_compose_sets_only_known_variables_and_runs_known_commands():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    env = services["api"]["environment"]
    eudr_vars = {k for k in env if k.startswith("EUDR_")}
    assert eudr_vars <= setting_variables(), eudr_vars - setting_variables()
    assert set(instance_env(PRODUCTION)) <= set(env)  # what dagster.yaml reads, every container has
    assert env["EUDR_DAGSTER_POSTGRES_URL"].startswith("postgresql+psycopg2://")
    parser = build_parser()
    for name in ("api", "worker"):
        command = services[name]["command"]
        assert command[0] == "eudr"
        parser.parse_args(command[1:])  # exits on an unknown command or option
    assert services["worker"]["deploy"]["replicas"] >= 2
    for name in ("api", "webserver"):  # published on the host's loopback only (behind a proxy)
        assert all(p.startswith("127.0.0.1:") for p in services[name]["ports"])
    dockerfile = (COMPOSE.parent / "Dockerfile").read_text()
    assert "deploy/production/dagster.yaml $DAGSTER_HOME/dagster.yaml" in dockerfile
    example = dict(re.findall(r"^([A-Z_]+)=(.*)$", (COMPOSE.parent / "env.example").read_text(), re.M))
    referenced = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text()))
    assert referenced <= set(example), referenced - set(example)


def test_child_processes_read_back_the_same_settings(tmp_path: Path):
    settings = dataclasses.replace(PRODUCTION, data_dir=tmp_path, api_port=8123, api_workers=1,
                                   risk_medium_if_prohibited_protected_area=False, risk_high_loss_ha=2.5)
    env = settings_env(settings)
    assert Settings.from_env(env) == settings
    assert "EUDR_CANOPY_THRESHOLD" not in env  # defaults are left to the defaults


def test_a_bare_postgres_url_gets_the_driver_dagster_postgres_is_written_for():
    assert dagster_postgres_url("postgresql://u@h/d") == "postgresql+psycopg2://u@h/d"
    assert dagster_postgres_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg2://u@h/d"
    assert dagster_postgres_url("postgresql+psycopg2://u@h/d") == "postgresql+psycopg2://u@h/d"


def test_compose_daemon_and_webserver_load_the_one_code_server():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    workspace = yaml.safe_load((COMPOSE.parent / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]
    server = services["code-server"]["command"]
    assert workspace["host"] == "code-server" and str(workspace["port"]) == server[server.index("-p") + 1]
    assert workspace["location_name"] == CODE_LOCATION == server[server.index("--location-name") + 1]
    for name in ("daemon", "webserver"):
        command = services[name]["command"]
        assert command[command.index("-w") + 1] == "deploy/production/workspace.yaml"
    # the daemon is dagster-daemon with the sensor loop shortened (eudr_pipeline/defs/daemon.py)
    assert services["daemon"]["command"][:4] == ["python", "-m", "eudr_pipeline.defs.daemon", "run"]
    shown = subprocess.run([sys.executable, "-m", "eudr_pipeline.defs.daemon", "run", "--help"],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "dagster-daemon run" in shown.stdout, shown.stdout + shown.stderr
