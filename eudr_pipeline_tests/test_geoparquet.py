"""Every GeoParquet file the project writes opens with its CRS (EPSG:4326) and has a
bbox covering column: the layer store's vector layers, the job results of job_analyses,
and the parquet export.

geopandas reads the file itself. For GDAL: the GDAL bundled with pyogrio has no Parquet
driver and Debian's GDAL 3.6 is built without Arrow, so no GDAL here can open the file;
the test checks instead what GDAL's Parquet driver reads, the column's ``crs`` member
(PROJJSON; a null or missing one is "unknown CRS" to GDAL, the defect this guards
against), parsed by pyproj, the PROJ library GDAL uses."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pyarrow.parquet as pq
import pyproj
import pytest
import shapely

from eudr_pipeline.defs.analysis.assets import write_results
from eudr_pipeline.core.analysis import PlotRequest, PlotResult
from eudr_pipeline.demo import write_demo
from eudr_pipeline.layers.store import LayerStore
from eudr_pipeline.service.exports import export_parquet


def assert_geoparquet_epsg4326(path: Path, rows: int) -> None:
    frame = gpd.read_parquet(path)
    assert frame.crs is not None and frame.crs.to_epsg() == 4326, frame.crs
    assert len(frame) == rows
    geo = json.loads(pq.read_schema(path).metadata[b"geo"])
    column = geo["columns"][geo["primary_column"]]
    assert geo["version"] == "1.1.0" and column["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert isinstance(column.get("crs"), dict), column.get("crs")
    assert pyproj.CRS.from_json_dict(column["crs"]).to_epsg() == 4326


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> LayerStore:
    root = tmp_path_factory.mktemp("geoparquet")
    sources, _ = write_demo(root / "demo")
    store = LayerStore(root / "store")
    for layer in ("wdpa", "landmark"):
        store.ingest(sources, layer)
    return store


@pytest.mark.parametrize("layer", ["wdpa", "landmark"])
def test_store_vector_layers(store, layer):
    row = store.catalogue.current(layer)
    assert_geoparquet_epsg4326(Path(row.store_path) / f"{layer}.parquet", row.row_count)


def test_job_results(tmp_path):
    plots = [shapely.box(-5.3, 6.8, -5.29, 6.81), shapely.box(-5.28, 6.8, -5.27, 6.81)]
    requests = [PlotRequest("a", plots[0], None), PlotRequest("b", None, None, error="bad ring")]
    results = [PlotResult("a", 121.0, {"risk_level": "Low"}), PlotResult("b", None, None, error="bad ring")]
    write_results(tmp_path / "run.parquet", requests, results)
    assert_geoparquet_epsg4326(tmp_path / "run.parquet", 2)
    frame = gpd.read_parquet(tmp_path / "run.parquet")
    assert frame.geometry.iloc[0].equals(plots[0]) and frame.geometry.iloc[1] is None


def test_parquet_export(tmp_path):
    ring = [[-5.3, 6.8], [-5.29, 6.8], [-5.29, 6.81], [-5.3, 6.81], [-5.3, 6.8]]
    plot = {"plot_id": "p1", "plot_name": "North", "country": "CI", "commodity": "cocoa", "status": "done", "error": None,
            "area_ha": 121.0, "analysis": {"risk_level": "Low", "deforestation": {"total": 0.0}},
            "geojson_features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}}]}
    path = tmp_path / "export.parquet"
    path.write_bytes(export_parquet({"plots": [plot]}))
    assert_geoparquet_epsg4326(path, 1)
    assert gpd.read_parquet(path)["risk_level"].tolist() == ["Low"]
