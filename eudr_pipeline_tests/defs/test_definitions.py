"""The Dagster code location loads, and its analysis asset materializes on the demo."""

import json

import dagster as dg

from eudr_pipeline.definitions import defs


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_asset_graph().get_all_asset_keys() >= {dg.AssetKey("plot_analyses")}


def test_plot_analyses_materializes_on_the_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("EUDR_DATA_DIR", str(tmp_path))
    result = dg.materialize([defs.get_assets_def("plot_analyses")], instance=dg.DagsterInstance.ephemeral())
    assert result.success
    mat = result.asset_materializations_for_node("plot_analyses")[0]
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["plots"] == 10 and meta["failed_plots"] == 2
    assert meta["risk_high"] >= 1 and meta["risk_medium"] >= 1 and meta["risk_low"] >= 1
    saved = json.loads(open(meta["results_path"]).read())
    assert len(saved) == 10


def test_workspace_loads_as_dagster_dev_loads_it(tmp_path):
    """`dagster definitions validate -w workspace.yaml`: the same loading path as `dagster dev`."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    p = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
                       cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Validation failed" not in p.stdout + p.stderr
