"""The Dagster code location loads as `dagster dev` loads it, with every domain."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from eudr_pipeline.config import Settings
from eudr_pipeline.definitions import build_definitions


def test_definitions_load_with_groups_and_descriptions(tmp_path):
    defs = build_definitions(Settings(data_dir=tmp_path))
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"job_analyses", "jrc_gfc2020", "hansen_gfc", "jrc_tmf", "wdpa", "landmark", "wdpa_source"} <= keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name in ("layers", "analysis", "service", "operations"), key
        assert node.description, key
    assert defs.resolve_schedule_def("layer_refresh_schedule").cron_schedule == "0 3 * * *"


def test_workspace_loads_as_dagster_dev_loads_it(tmp_path):
    """`dagster definitions validate -w workspace.yaml`: the same loading path as `dagster dev`."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "EUDR_DATA_DIR": str(tmp_path / "data")}
    p = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
                       cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Validation failed" not in p.stdout + p.stderr
