"""The layer store: ingestion of real clips and generated multi-tile layers; reading the
store gives the same numbers as reading the raw sources."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from eudr_pipeline.core.analysis import analyze_plots
from eudr_pipeline.core.intake import request_from_feature
from eudr_pipeline.demo import write_demo
from eudr_pipeline.layers.source_directory import open_layer_set
from eudr_pipeline.errors import IngestError
from eudr_pipeline.layers.reference_layers import ALL_LAYERS
from eudr_pipeline.layers.store import LayerStore, read_stored_polygons
from eudr_pipeline_tests.conftest import FIXTURES, write_tif
from eudr_pipeline_tests.core.test_exactextract_crosscheck import random_plots


def analyse(layers, features, end=dt.date(2024, 12, 31)):
    try:
        reqs = [request_from_feature(f, i, harvest_date=end) for i, f in enumerate(features)]
        return [r.to_json() for r in analyze_plots(reqs, layers)]
    finally:
        layers.close()


def strip_sources(results):
    """Everything but the free-text source names (the store names its licence)."""
    out = json.loads(json.dumps(results))
    for r in out:
        a = r.get("analysis") or {}
        a.pop("sources", None)
        for block in ("protected_areas", "indigenous_land"):
            if block in a:
                a[block].pop("sources", None)
    return out


def test_demo_sources_store_equals_raw(tmp_path):
    sources, plots = write_demo(tmp_path / "demo")
    store = LayerStore(tmp_path / "store")
    for layer in ALL_LAYERS:
        assert store.ingest(sources, layer).status == "ok"
    features = json.loads(plots.read_text())["features"]
    raw = analyse(open_layer_set(sources), features)
    stored = analyse(store.open_layer_set(), features)
    assert strip_sources(stored) == strip_sources(raw)
    # the stored rasters are COGs with overviews and 512 px tiles
    row = store.catalogue.current("jrc_gfc2020")
    assert row.tile_count == 2 and row.pixel_size_x == pytest.approx(8.983152841195215e-05)
    with rasterio.open(next((Path(row.store_path) / "forest_2020").glob("*.tif"))) as ds:
        assert ds.profile["blockxsize"] == 512 and ds.profile["compress"] == "deflate"
        assert ds.overviews(1) or max(ds.shape) <= 512


def test_real_clips_ingest_and_agree(tmp_path):
    src = FIXTURES / "whisp_civ_10m" / "sources"
    store = LayerStore(tmp_path / "store")
    for layer in ("jrc_gfc2020", "hansen_gfc", "jrc_tmf"):
        row = store.ingest(src, layer)
        assert row.status == "ok", row.failed_checks
    assert store.catalogue.current("hansen_gfc").details["last_year"] == 2024
    with rasterio.open(next((src / "hansen_gfc").rglob("*.tif"))) as ds:
        b = ds.bounds
    features = [json.loads((FIXTURES / "whisp_civ_10m" / "plot_10ha.geojson").read_text())["features"][0]]
    features += random_plots((b.left, b.bottom, b.right, b.top), 10, seed=3)
    assert strip_sources(analyse(store.open_layer_set(), features)) == strip_sources(analyse(open_layer_set(src), features))


def test_generated_multi_tile_layer(tmp_path):
    """Four tiles of a forest map; plots across their edges give the same numbers as one tile."""
    dx = 0.0001
    full = (np.indices((400, 400)).sum(axis=0) % 7 < 4).astype(np.uint8)
    one, four = tmp_path / "one", tmp_path / "four"
    write_tif(one / "jrc_gfc2020" / "V1" / "all.tif", full, 10.0, 5.0, dx)
    for i in range(2):
        for j in range(2):
            write_tif(four / "jrc_gfc2020" / "V1" / f"t{i}{j}.tif", full[i * 200:(i + 1) * 200, j * 200:(j + 1) * 200],
                      10.0 + j * 200 * dx, 5.0 - i * 200 * dx, dx)
    for root in (one, four):
        write_tif(root / "hansen_gfc" / "v1.12" / "Hansen_GFC-2024-v1.12_lossyear_x.tif",
                  np.full((140, 140), 22, np.uint8), 10.0, 5.0, 0.0003, nodata=255)
    stores = [LayerStore(tmp_path / "s1"), LayerStore(tmp_path / "s4")]
    for st, root in zip(stores, (one, four)):
        st.ingest(root, "jrc_gfc2020")
        st.ingest(root, "hansen_gfc")
    assert stores[1].catalogue.current("jrc_gfc2020").tile_count == 4
    features = random_plots((10.0, 5.0 - 0.04, 10.04, 5.0), 20, seed=9)
    a, b = analyse(stores[0].open_layer_set(), features), analyse(stores[1].open_layer_set(), features)
    assert strip_sources(a) == strip_sources(b)
    assert sum(r["analysis"]["forest_area_2020"] for r in a) > 0


def test_corrupt_tile_is_an_error_and_nothing_is_half_written(tmp_path):
    sources, _ = write_demo(tmp_path / "demo")
    store = LayerStore(tmp_path / "store")
    assert store.ingest(sources, "jrc_gfc2020").version == "V3"
    bad = sources / "jrc_gfc2020" / "V4"
    shutil.copytree(sources / "jrc_gfc2020" / "V3", bad)
    victim = sorted(bad.glob("*.tif"))[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # truncated download
    with pytest.raises(IngestError, match=victim.name):
        store.ingest(sources, "jrc_gfc2020")
    assert store.catalogue.get("jrc_gfc2020", "V4") is None
    assert not (store.root / "jrc_gfc2020" / "V4").exists()
    assert [p.name for p in (store.root / "jrc_gfc2020").iterdir()] == ["V3"]
    assert store.catalogue.current("jrc_gfc2020").version == "V3"


def test_geoparquet_bbox_covering_filters_rows(tmp_path):
    sources, _ = write_demo(tmp_path / "demo")
    store = LayerStore(tmp_path / "store")
    row = store.ingest(sources, "wdpa")
    path = Path(row.store_path) / "wdpa.parquet"
    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(path).metadata[b"geo"])
    assert meta["columns"]["geometry"]["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    all_geoms, records = read_stored_polygons(path)
    assert len(all_geoms) == 2 and records[0]["area_id"].startswith("99000")
    near, _ = read_stored_polygons(path, (-5.2700, 6.8210, -5.2690, 6.8220))  # only the landscape (V) area is there
    assert len(near) == 1
    far, _ = read_stored_polygons(path, (10.0, 10.0, 10.1, 10.1))
    assert len(far) == 0


def test_layer_source_behind_https(tmp_path):
    """The same source served over HTTP (listing + byte ranges): fsspec lists it, GDAL reads
    it by range through /vsicurl/, and the store and the analysis agree with the local copy."""
    from eudr_pipeline_tests.layers.http_source import serve

    sources, plots = write_demo(tmp_path / "demo")
    base, server = serve(tmp_path / "demo")
    try:
        remote = LayerStore(tmp_path / "remote_store")
        local = LayerStore(tmp_path / "local_store")
        for layer in ALL_LAYERS:
            r = remote.ingest(f"{base}/sources", layer)
            assert r.status == "ok" and r.source_uri.startswith("http://127.0.0.1")
            assert r.checksum == local.ingest(sources, layer).checksum
        features = json.loads(plots.read_text())["features"]
        via_http = analyse(open_layer_set(f"{base}/sources"), features)
        assert strip_sources(via_http) == strip_sources(analyse(open_layer_set(sources), features))
        assert strip_sources(analyse(remote.open_layer_set(), features)) == strip_sources(via_http)
    finally:
        server.terminate()
        server.wait(10)


def test_imagery_versions_are_ingested_as_dated_rgb_cogs(tmp_path):
    sources, _ = write_demo(tmp_path / "demo")
    store = LayerStore(tmp_path / "store")
    row = store.ingest(sources, "imagery")
    assert row.kind == "imagery" and row.status == "ok" and row.details["dates"] == ["2020-12-15", "2024-10-20"]
    scene = Path(row.store_path) / "scenes" / "2024-10-20.tif"
    with rasterio.open(scene) as ds, rasterio.open(next((sources / "imagery").rglob("2024-10-20*.tif"))) as src:
        assert ds.count == 3 and ds.dtypes == ("uint8",) * 3 and ds.profile["blockxsize"] == 512
        assert (ds.read() == src.read()).all()  # a lossless copy
    imagery = store.open_layer_set().imagery
    assert imagery.version == row.version and [s.date.isoformat() for s in imagery.scenes] == row.details["dates"]
    assert store.open_layer_set().versions()["imagery"] == row.version


def test_imagery_scenes_need_a_date_and_three_bands(tmp_path):
    folder = tmp_path / "src" / "imagery" / "v1"
    write_tif(folder / "scene.tif", np.zeros((4, 4), np.uint8), -5.3, 6.84, 0.001)
    with pytest.raises(IngestError, match="scene.tif has no date"):
        LayerStore(tmp_path / "store").ingest(tmp_path / "src", "imagery")
    (folder / "scene.tif").rename(folder / "2021-03-01.tif")
    row = LayerStore(tmp_path / "store").ingest(tmp_path / "src", "imagery")
    assert row.status == "rejected" and "expected 3 uint8 (RGB)" in row.failed_checks[0]["detail"]
