"""The layer source directory: versions, pins, vector formats, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from eudr_pipeline.layers.source_directory import (
    current_version,
    hansen_last_year,
    layer_versions,
    open_layer_set,
)
from eudr_pipeline.errors import LayerSourceError
from eudr_pipeline.layers.vectors import read_vector_layer
from eudr_pipeline_tests.conftest import box_feature, write_tif

SHARED_WDPA = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "wdpa_internal_only"


def test_newest_version_by_natural_sort_unless_pinned(tmp_path):
    for v in ("v1.9", "v1.12", "v1.10"):
        (tmp_path / "hansen_gfc" / v).mkdir(parents=True)
    assert layer_versions(tmp_path, "hansen_gfc") == ["v1.9", "v1.10", "v1.12"]
    assert current_version(tmp_path, "hansen_gfc") == "v1.12"
    (tmp_path / "hansen_gfc" / "manifest.json").write_text(json.dumps({"version": "v1.10"}))
    assert current_version(tmp_path, "hansen_gfc") == "v1.10"
    (tmp_path / "hansen_gfc" / "manifest.json").write_text(json.dumps({"version": "v2"}))
    with pytest.raises(LayerSourceError, match="pins version 'v2', which is not a folder"):
        current_version(tmp_path, "hansen_gfc")


def test_hansen_last_year():
    assert hansen_last_year("v1.12", [Path("Hansen_GFC-2024-v1.12_lossyear_10N_080W.tif")]) == 2024
    assert hansen_last_year("v1.11", [Path("lossyear.tif")]) == 2023
    with pytest.raises(LayerSourceError, match="cannot tell the last loss year"):
        hansen_last_year("latest", [Path("lossyear.tif")])


def test_wrong_crs_and_off_grid_tiles_are_named(tmp_path):
    d = tmp_path / "jrc_gfc2020" / "V1"
    write_tif(d / "a.tif", np.ones((10, 10), np.uint8), 0.0, 0.0, 0.001, crs="EPSG:3857")
    with pytest.raises(LayerSourceError, match=r"a.tif has CRS EPSG:3857, expected EPSG:4326"):
        open_layer_set(tmp_path)
    (d / "a.tif").unlink()
    write_tif(d / "a.tif", np.ones((10, 10), np.uint8), 0.0, 0.0, 0.001)
    write_tif(d / "b.tif", np.ones((10, 10), np.uint8), 0.0104, 0.0, 0.001)  # 0.4 cell off
    with pytest.raises(LayerSourceError, match="b.tif is not on the grid"):
        open_layer_set(tmp_path)


def test_geopackage_in_another_crs_is_reprojected(tmp_path):
    import pyogrio.raw
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", "EPSG:32630", always_xy=True)
    poly = shapely.box(-5.30, 6.80, -5.28, 6.82)
    projected = shapely.transform(poly, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    folder = tmp_path / "wdpa" / "2024"
    folder.mkdir(parents=True)
    fields = {"WDPAID": np.array([7], dtype=np.int64), "NAME": np.array(["Gpkg park"], dtype=object),
              "IUCN_CAT": np.array(["Ib"], dtype=object), "DESIG_ENG": np.array(["Reserve"], dtype=object)}
    pyogrio.raw.write(folder / "wdpa.gpkg", geometry=shapely.to_wkb(np.array([projected], dtype=object)),
                      field_data=list(fields.values()), fields=list(fields), geometry_type="Polygon",
                      crs="EPSG:32630", driver="GPKG")
    layer = read_vector_layer(folder, "wdpa", "2024")
    assert layer.records[0]["area_id"] == "7" and layer.records[0]["extractive_activity_legality"] == "prohibited"
    back = layer.geometries[0]
    assert shapely.hausdorff_distance(back, poly) < 1e-6


def test_invalid_protected_polygons_are_repaired(tmp_path):
    folder = tmp_path / "wdpa" / "1"
    folder.mkdir(parents=True)
    bowtie = {"type": "Feature", "properties": {"WDPAID": 1, "NAME": "Bowtie", "IUCN_CAT": "V"},
              "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}}
    (folder / "w.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [bowtie, box_feature(
        2, 2, 3, 3, WDPAID=2, NAME="Ok", IUCN_CAT="Not Reported")]}))
    layer = read_vector_layer(folder, "wdpa", "1")
    assert shapely.is_valid(layer.geometries).all()
    assert layer.records[1]["iucn_category"] is None and layer.records[1]["extractive_activity_legality"] == "unknown"


def test_real_wdpa_geopackage_reader():
    """Extra check on the real WDPA files beside the project (never copied into it)."""
    if not SHARED_WDPA.is_dir():
        pytest.skip("no real WDPA file at hand (its terms forbid shipping one with the project): the WDPA "
                    "reader is checked on generated polygons with the WDPA columns only")
    layer = read_vector_layer(SHARED_WDPA, "wdpa", "real")
    by_id = {r["area_id"]: r for r in layer.records}
    assert by_id["12555"]["area_name"] == "Cerro San Gil"
    assert by_id["12555"]["iucn_category"] == "III" and by_id["12555"]["extractive_activity_legality"] == "prohibited"
    assert by_id["12555"]["type"] == "Watershed Protection Reserve"
    assert by_id["12555"]["source_name"] == "CONSEJO EJECUTIVO LOCAL DE CERRO SAN GIL"
    assert "478140" in by_id
    assert all(g.geom_type in ("Polygon", "MultiPolygon") for g in layer.geometries)


def test_source_uris():
    from eudr_pipeline.layers.remote import RemotePath
    from eudr_pipeline.layers.source_directory import source_path

    assert source_path("file:///data/sources") == Path("/data/sources")
    assert source_path("/data/sources") == Path("/data/sources")
    remote = source_path("https://example.org/layers")
    assert isinstance(remote, RemotePath)
    assert (remote / "hansen_gfc" / "v1.12" / "t.tif").gdal_path == "/vsicurl/https://example.org/layers/hansen_gfc/v1.12/t.tif"
    with pytest.raises(LayerSourceError, match="ftp:// is not supported"):
        source_path("ftp://host/sources")
