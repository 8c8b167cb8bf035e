"""Commodity-aware risk (EUDR_RISK_RULES=commodity, data/risk_rules.toml): the demo plots,
analysed as each commodity group, reach each outcome of their group's decision steps, with
a reason naming the indicators and thresholds that decided; a commodity map added through
the registry turns "more information needed" into Low; the default rule stays the default."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pytest
import shapely

from eudr_pipeline.config import Settings
from eudr_pipeline.core.analysis import analyze_plots
from eudr_pipeline.core.intake import request_from_feature
from eudr_pipeline.core.risk import MORE_INFO
from eudr_pipeline.demo import NORTH, WEST, write_demo
from eudr_pipeline.errors import SettingsError
from eudr_pipeline.layers import reference_layers
from eudr_pipeline.layers.registry import load_registry
from eudr_pipeline.layers.source_directory import open_layer_set
from eudr_pipeline_tests.conftest import write_tif

COCOA_MAP = """
[datasets.cocoa_probability]
kind = "raster"
title = "Cocoa probability (generated)"
bands = [{ name = "probability", valid_range = [0, 100] }]
[[datasets.cocoa_probability.indicators]]
name = "cocoa_likely"
kind = "area_where"
min = 65
"""
OPTIONS = Settings(risk_rules="commodity").analysis_options()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    sources, plots = write_demo(tmp_path_factory.mktemp("risk"))
    features = {f["properties"]["plot_id"]: f for f in json.loads(plots.read_text())["features"]}
    return sources, features


def outcomes(sources, features, commodity: str, ids: list[str], options=OPTIONS) -> dict[str, dict]:
    layers = open_layer_set(sources)
    try:
        reqs = [request_from_feature(features[i], k, harvest_date=dt.date(2024, 11, 1), commodity=commodity)
                for k, i in enumerate(ids)]
        return {i: r.analysis for i, r in zip(ids, analyze_plots(reqs, layers, options))}
    finally:
        layers.close()


def test_perennial_crops_reach_low_high_and_more_information(demo):
    sources, features = demo
    got = outcomes(sources, features, "cocoa", ["demo-06", "demo-01", "demo-05", "demo-04"])
    assert got["demo-06"]["risk_assessment"]["outcome"] == "Low"  # no tree cover in 2020
    assert "no tree cover (JRC forest) on 31 Dec 2020 (forest_area_2020 0.00 ha" in got["demo-06"]["risk_reason"]
    assert got["demo-01"]["risk_level"] == "High" and "loss_after_2020 2.50 ha (loss_after_2020 >= 0.1 ha)" in \
        got["demo-01"]["risk_reason"]
    assert got["demo-05"]["risk_level"] == "High" and "logging_area 1.22 ha" in got["demo-05"]["risk_reason"]
    more = got["demo-04"]  # forest, no disturbance after 2020, no commodity map to tell
    assert more["risk_assessment"]["outcome"] == MORE_INFO and more["risk_level"] == "Medium"
    assert "unknown (no data for cocoa_likely" in more["risk_reason"] and "decided by default" in more["risk_reason"]
    assert more["risk_assessment"]["signals"]["commodity_2020"] is None


def test_a_commodity_map_from_the_registry_decides_low(demo, tmp_path):
    sources, features = demo
    plot = shapely.geometry.shape(features["demo-04"]["geometry"])
    dx = 0.0002
    n = int(0.04 / dx)
    lon = WEST + (np.arange(n) + 0.5) * dx
    lat = NORTH - (np.arange(n) + 0.5) * dx
    w, s, e, nn = plot.bounds
    inside = (lat[:, None] >= s) & (lat[:, None] <= nn) & (lon[None, :] >= w) & (lon[None, :] <= e)
    write_tif(sources / "cocoa_probability" / "v1" / "cocoa.tif", np.where(inside, 90, 10).astype(np.uint8), WEST, NORTH, dx)
    override = tmp_path / "datasets.toml"
    override.write_text(COCOA_MAP)
    reference_layers.use_registry(load_registry(override))
    try:
        got = outcomes(sources, features, "cocoa", ["demo-04", "demo-01"])
    finally:
        reference_layers.use_registry(load_registry())
        (sources / "cocoa_probability" / "v1" / "cocoa.tif").unlink()
    assert got["demo-04"]["risk_level"] == "Low" and got["demo-04"]["risk_assessment"]["decided_by"] == "if commodity_2020"
    assert "cocoa_likely" in got["demo-04"]["risk_reason"] and ">= 50 %" in got["demo-04"]["risk_reason"]
    assert got["demo-01"]["risk_level"] == "High"  # cocoa map low there: its 2022 loss decides


def test_annual_crops_timber_and_livestock(demo):
    sources, features = demo
    soy = outcomes(sources, features, "soy", ["demo-02", "demo-04", "demo-08"])
    assert [soy[i]["risk_level"] for i in ("demo-02", "demo-04", "demo-08")] == ["High", "Low", "Low"]
    assert soy["demo-04"]["risk_assessment"]["decided_by"] == "default"
    wood = outcomes(sources, features, "wood", ["demo-06", "demo-02", "demo-04", "demo-08"])
    assert wood["demo-06"]["risk_level"] == "High" and "protected area" in wood["demo-06"]["risk_reason"]
    assert wood["demo-02"]["risk_level"] == "High"
    assert wood["demo-04"]["risk_assessment"]["outcome"] == MORE_INFO  # natural forest, intact: ask for more
    assert wood["demo-08"]["risk_level"] == "Low"
    beef = outcomes(sources, features, "beef", ["demo-01", "demo-04", "demo-08"])
    assert [beef[i]["risk_level"] for i in ("demo-01", "demo-04", "demo-08")] == ["High", "Low", "Low"]
    assert all(a["risk_assessment"]["group"] == "livestock" for a in beef.values())


def test_the_default_rule_stays_the_default(demo):
    sources, features = demo
    default = outcomes(sources, features, "cocoa", ["demo-02", "demo-04"], options=Settings().analysis_options())
    assert default["demo-02"]["risk_level"] == "Medium" and "risk_assessment" not in default["demo-02"]
    assert default["demo-04"]["risk_level"] == "Low"
    bare = {"demo-04": {**features["demo-04"], "properties": {
        k: v for k, v in features["demo-04"]["properties"].items() if k != "commodity"}}}
    plain = outcomes(sources, bare, None, ["demo-04"])  # no commodity: the default rule
    assert plain["demo-04"]["risk_level"] == "Low" and "risk_assessment" not in plain["demo-04"]


def test_bad_rule_files_name_what_is_wrong(tmp_path):
    bad = tmp_path / "rules.toml"
    bad.write_text('[signals.a]\nmeasures = [{ name = "forest_area_2020", min_ha = 1 }]\n'
                   '[groups.g]\ncommodities = ["cocoa"]\nsteps = [{ if = "b", outcome = "Low" }]\ndefault = "Low"\n')
    with pytest.raises(SettingsError, match=r"groups.g.steps\[0\]"):
        dataclasses.replace(Settings(), risk_rules="commodity", risk_rules_file=str(bad)).analysis_options()
    with pytest.raises(SettingsError, match="EUDR_RISK_RULES='strict'"):
        Settings(risk_rules="strict").analysis_options()
