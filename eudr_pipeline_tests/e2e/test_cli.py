"""The `eudr` command as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eudr_pipeline.demo import write_demo


def eudr(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eudr_pipeline.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Path]:
    return write_demo(tmp_path_factory.mktemp("demo"))


def test_analyze_writes_one_object_per_feature_in_input_order(demo, tmp_path):
    sources, plots = demo
    out = tmp_path / "results.json"
    p = eudr("analyze", str(plots), "--sources", str(sources), "--out", str(out))
    assert p.returncode == 0, p.stderr
    results = json.loads(out.read_text())
    features = json.loads(plots.read_text())["features"]
    assert [r["plot_id"] for r in results] == [f["properties"]["plot_id"] for f in features]
    by_id = {r["plot_id"]: r for r in results}
    assert "self-intersecting" in by_id["demo-09"]["error"]
    assert "no jrc_gfc2020 tile covers" in by_id["demo-10"]["error"]
    levels = {r["analysis"]["risk_level"] for r in results if "analysis" in r}
    assert levels == {"High", "Medium", "Low"}
    a = by_id["demo-01"]["analysis"]
    seed_fields = ["analysisEnd", "analysis_end", "risk_level", "forest_percentage_2020", "indigenous_land",
                   "logging_area", "forest_area_2020", "risk_reason", "version", "areaHa", "protected_areas",
                   "deforestation", "deforestation_percentage", "protectedAreas", "indigenous_overlap"]
    assert all(f in a for f in seed_fields)
    assert set(a["deforestation"]) >= {"total_yearly", "total_yearly_jrc", "total", "total_jrc"}
    assert a["analysis_end"] == "2024-11-01"
    assert {s["layer"] for s in a["sources"]} >= {"jrc_gfc2020", "hansen_gfc", "jrc_tmf", "wdpa", "landmark"}
    assert by_id["demo-08"]["analysis"]["analysis_end"] == "2024-03-15"  # latest of harvest_dates
    assert "3 failed" not in p.stderr and "2 failed" in p.stderr


def test_analyze_export_formats_carry_the_analysis_numbers(demo, tmp_path):
    import csv

    import geopandas as gpd

    sources, plots = demo
    assert eudr("analyze", str(plots), "--sources", str(sources), "--out", str(tmp_path / "r.json")).returncode == 0
    analysis = {r["plot_id"]: r["analysis"] for r in json.loads((tmp_path / "r.json").read_text()) if "analysis" in r}
    stderr = {}
    for fmt in ("geojson", "csv", "parquet"):
        p = eudr("analyze", str(plots), "--sources", str(sources), "--format", fmt, "--out", str(tmp_path / f"r.{fmt}"))
        assert p.returncode == 0, p.stderr
        stderr[fmt] = p.stderr
    assert "left out demo-10" in stderr["geojson"]  # failed plots are not filed, and said so
    eu = gpd.read_file(tmp_path / "r.geojson")
    assert eu.crs.to_epsg() == 4326 and set(eu["ProducerCountry"]) == {"CI"}
    rows = {r["plot_id"]: r for r in csv.DictReader((tmp_path / "r.csv").open())}
    table = gpd.read_parquet(tmp_path / "r.parquet").set_index("plot_id")
    for pid, a in analysis.items():
        assert float(rows[pid]["deforestation_total_jrc"]) == a["deforestation"]["total_jrc"]
        assert rows[pid]["risk_level"] == table.loc[pid, "risk_level"] == a["risk_level"]
        assert eu[eu["plot_id"] == pid]["risk_level"].iloc[0] == a["risk_level"]
    parquet_without_out = eudr("analyze", str(plots), "--sources", str(sources), "--format", "parquet")
    assert parquet_without_out.returncode == 2 and "--out" in parquet_without_out.stderr


def test_overrides_act_like_check_config(demo, tmp_path):
    sources, plots = demo
    p = eudr("analyze", str(plots), "--sources", str(sources), "--harvest-date", "2022-06-30", "--commodity", "rubber")
    assert p.returncode == 0, p.stderr
    results = [r for r in json.loads(p.stdout) if "analysis" in r]
    assert all(r["analysis"]["analysis_end"] == "2022-06-30" for r in results)
    assert all(r["analysis"]["commodity"] == "rubber" for r in results)
    assert all(list(r["analysis"]["deforestation"]["total_yearly"]) == ["2021", "2022"] for r in results)


def test_plot_id_from_property_then_id_then_index(tmp_path, demo):
    sources, _ = demo
    sq = {"type": "Polygon", "coordinates": [[[-5.29, 6.83], [-5.289, 6.83], [-5.289, 6.831], [-5.29, 6.831], [-5.29, 6.83]]]}
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "fid", "properties": {"plot_id": "pid"}, "geometry": sq},
        {"type": "Feature", "id": "fid2", "properties": {}, "geometry": sq},
        {"type": "Feature", "properties": {}, "geometry": sq}]}
    f = tmp_path / "p.geojson"
    f.write_text(json.dumps(fc))
    p = eudr("analyze", str(f), "--sources", str(sources))
    assert [r["plot_id"] for r in json.loads(p.stdout)] == ["pid", "fid2", "2"]


@pytest.mark.parametrize("content, args, message", [
    (None, [], "no such file"),
    ("{not json", [], "not JSON (line 1"),
    ('{"type": "Polygon", "coordinates": []}', [], "not a GeoJSON FeatureCollection"),
    ('{"type": "FeatureCollection", "features": []}', [], "has no features"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature"}]}', ["--harvest-date", "2024-13-01"], "is not a valid date"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature"}]}', ["--sources", "/nonexistent/dir"], "does not exist"),
])
def test_bad_files_exit_2_with_one_line(tmp_path, demo, content, args, message):
    sources, _ = demo
    f = tmp_path / "plots.geojson"
    if content is not None:
        f.write_text(content)
    argv = ["analyze", str(f)]
    argv += args if "--sources" in args else ["--sources", str(sources), *args]
    p = eudr(*argv)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], p.stderr
    assert p.stdout == ""


def test_corrupt_tile_is_named(tmp_path, demo):
    sources, plots = demo
    import shutil

    bad = tmp_path / "sources"
    shutil.copytree(sources, bad)
    tile = next((bad / "hansen_gfc").rglob("*lossyear*.tif"))
    tile.write_bytes(b"this is not a tiff")
    p = eudr("analyze", str(plots), "--sources", str(bad))
    assert p.returncode == 2 and tile.name in p.stderr


def test_demo_core_prints_the_table_and_paths(tmp_path):
    p = eudr("demo", "--core", "--out-dir", str(tmp_path / "d"))
    assert p.returncode == 0, p.stderr
    assert "High" in p.stdout and "Medium" in p.stdout and "Low" in p.stdout
    assert str(tmp_path / "d" / "results.json") in p.stdout
    assert len(json.loads((tmp_path / "d" / "results.json").read_text())) == 10


def test_layers_ingest_and_list(tmp_path, demo):
    import os

    sources, _ = demo
    env = {**os.environ, "EUDR_DATA_DIR": str(tmp_path / "data")}
    run = lambda *a: subprocess.run([sys.executable, "-m", "eudr_pipeline.cli", *a], capture_output=True,  # noqa: E731
                                    text=True, env=env, timeout=300)
    p = run("layers", "ingest", "--sources", str(sources))
    assert p.returncode == 0, p.stderr
    assert "hansen_gfc   v1.12      ok" in p.stdout
    p = run("layers", "ingest", "--sources", str(sources), "--layer", "wdpa")
    assert "already in the store" in p.stdout
    p = run("layers", "list")
    assert p.returncode == 0
    assert sum(1 for line in p.stdout.splitlines() if " yes " in line) == 6  # five reference layers and the imagery


def test_make_demo_runs_the_whole_service_flow(tmp_path):
    """`eudr demo` (what `make demo` runs): API + Dagster daemon, the layers ingested by a
    layer_refresh run, a demo user's job through the sensor; the table lists every demo plot
    (the one refused at registration too) and the paths printed are the files."""
    p = eudr("demo", "--out-dir", str(tmp_path / "run"))
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "hansen_gfc v1.12: ingesting... done in " in out and "layer refresh done" in out
    assert "plot demo-09 refused at registration, as it should be: feature 8: self-intersecting polygon" in out
    assert "9 of the 10 demo plots registered" in out
    assert "done-with-errors" in out and "1 refunded for failed plots" in out
    table = {line.split()[0]: line for line in out.splitlines() if line.startswith("demo-")}
    assert sorted(table) == [f"demo-{k:02d}" for k in range(1, 11)]
    assert "error: refused at registration: feature 8: self-intersecting polygon" in table["demo-09"]
    assert "error: no jrc_gfc2020 tile covers" in table["demo-10"]
    for level in ("High", "Medium", "Low"):
        assert level in out
    paths = {line.split(":", 1)[0]: Path(line.split(": ", 1)[1].strip()) for line in out.splitlines()
             if line.startswith(("response JSON:", "images:", "results:"))}
    assert "<" not in out and set(paths) == {"response JSON", "images", "results"}, out
    doc = json.loads(paths["response JSON"].read_text())
    assert doc["status"] == "done-with-errors" and len(doc["plots"]) == 9
    images = paths["images"]  # the maps of the analysis the response shows: <job>/images/<analysis_run>/
    assert images == paths["response JSON"].parent / "images" / doc["analysis_run"]
    # 8 analysed plots: a map and a thumbnail each, and the overview
    assert len(list(images.glob("*.png"))) == 8 + 1 and (images / "overview.png").is_file()
    assert len(list((images / "thumbs").glob("*.png"))) == 8
    import pyarrow.parquet as pq

    assert paths["results"].suffix == ".parquet" and pq.read_table(paths["results"]).num_rows >= 8


def test_a_registry_file_adds_a_dataset_and_the_commodity_rules_apply(demo, tmp_path):
    """EUDR_DATASETS_FILE: a land-cover map added by configuration alone reaches the JSON and
    the CSV columns; EUDR_RISK_RULES=commodity changes the risk of a plot the default rule
    calls Low into "More information needed" (Medium)."""
    import csv
    import os
    import shutil

    import numpy as np

    from eudr_pipeline.demo import NORTH, WEST
    from eudr_pipeline_tests.conftest import write_tif

    sources, plots = demo
    mine = tmp_path / "sources"
    shutil.copytree(sources, mine)
    write_tif(mine / "land_cover" / "2024" / "map.tif", np.full((200, 200), 10, np.uint8), WEST, NORTH, 0.0002)
    registry = tmp_path / "datasets.toml"
    registry.write_text('[datasets.land_cover]\nkind = "raster"\ntitle = "A land-cover map"\n'
                        'bands = [{ name = "classes", valid_range = [0, 100] }]\n'
                        '[[datasets.land_cover.indicators]]\nname = "tree_class"\nkind = "area_where"\nvalues = [10]\n')
    env = {**os.environ, "EUDR_DATASETS_FILE": str(registry), "EUDR_RISK_RULES": "commodity"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "eudr_pipeline.cli", *a], capture_output=True,  # noqa: E731
                                    text=True, env=env, timeout=300)
    p = run("analyze", str(plots), "--sources", str(mine), "--out", str(tmp_path / "r.json"))
    assert p.returncode == 0, p.stderr
    results = {r["plot_id"]: r for r in json.loads((tmp_path / "r.json").read_text())}
    a = results["demo-04"]["analysis"]
    assert a["indicators"]["tree_class"]["area_ha"] == pytest.approx(a["areaHa"], rel=1e-4)
    assert {"layer": "land_cover", "data_version": "2024"}.items() <= {
        k: v for s in a["sources"] if s["layer"] == "land_cover" for k, v in s.items()}.items()
    assert a["risk_level"] == "Medium" and a["risk_assessment"]["outcome"] == "More information needed"
    p = run("analyze", str(plots), "--sources", str(mine), "--format", "csv", "--out", str(tmp_path / "r.csv"))
    assert p.returncode == 0, p.stderr
    rows = {r["plot_id"]: r for r in csv.DictReader((tmp_path / "r.csv").open())}
    assert float(rows["demo-04"]["tree_class_ha"]) == pytest.approx(a["indicators"]["tree_class"]["area_ha"])


def test_features_that_are_not_objects_fail_alone(tmp_path, demo):
    """A feature whose properties are not an object, or a feature that is not an object, is
    a failed plot with its reason; the file's other plots are analysed (exit 0)."""
    sources, _ = demo
    point = {"type": "Point", "coordinates": [-5.27, 6.812]}
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": ["x"], "geometry": point}, 7,
        {"type": "Feature", "properties": None, "geometry": point}]}
    f = tmp_path / "p.geojson"
    f.write_text(json.dumps(fc))
    p = eudr("analyze", str(f), "--sources", str(sources))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert [r.get("error") for r in out[:2]] == ["feature 0: properties must be an object", "feature 1: not a GeoJSON Feature"]
    assert out[2].get("error") is None and out[2]["analysis"]["areaHa"] > 0
