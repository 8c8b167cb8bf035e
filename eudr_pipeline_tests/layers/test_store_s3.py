"""The layer store on S3 (moto's S3-compatible HTTP server): the demo layers ingested into
an s3:// store give the same analysis, number for number, as the same layers in a local
store; the catalogue names s3:// versions and travels as an object; nothing of a version
stays on the local disk, where only the cache is."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest

from eudr_pipeline.defs.layers.checks import crs_and_pixel_size, geometry_validity, imagery_scenes, value_domain
from eudr_pipeline.demo import write_demo
from eudr_pipeline.layers.reference_layers import ALL_LAYERS, IMAGERY_LAYER
from eudr_pipeline.layers.store import LayerStore
from eudr_pipeline_tests.layers.test_store import analyse
from eudr_pipeline_tests.s3_store import object_keys, s3_env, s3_server_env, s3_uri  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo layer sources and plots, written once for the module."""
    return write_demo(tmp_path_factory.mktemp("demo"))


def ingest_all(store: LayerStore, sources) -> None:
    for layer in ALL_LAYERS:
        row = store.ingest(sources, layer)
        assert row.status == "ok", (layer, row.failed_checks)


def test_the_demo_layers_on_s3_analyse_as_on_a_local_store(demo, s3_uri, s3_env, tmp_path):
    sources, plots = demo
    data_dir = tmp_path / "data"  # EUDR_DATA_DIR of the process using the S3 store: only its cache
    cache = data_dir / "cache" / "layers"
    local, remote = LayerStore(tmp_path / "local_store"), LayerStore(f"{s3_uri}/layers", cache)
    ingest_all(local, sources)
    ingest_all(remote, sources)
    features = json.loads(plots.read_text())["features"]
    on_s3 = analyse(remote.open_layer_set(), features)
    assert on_s3 == analyse(local.open_layer_set(), features)  # every number, every version, every source
    assert sum(r["analysis"]["forest_area_2020"] for r in on_s3 if r.get("analysis")) > 0
    rows = remote.catalogue.versions()
    assert {r.layer for r in rows} == set(ALL_LAYERS)
    assert all(r.store_path == f"{s3_uri}/layers/{r.layer}/{r.version}" for r in rows), [r.store_path for r in rows]
    keys = object_keys(s3_env, f"{s3_uri}/layers")
    assert "catalogue.duckdb" in keys
    for r in rows:
        version_keys = {k for k in keys if k.startswith(f"{r.layer}/{r.version}/")}
        assert f"{r.layer}/{r.version}/{'tiles.json' if r.kind != 'vector' else r.layer + '.parquet'}" in version_keys
    assert any(k.endswith(".tif") for k in keys) and any(k.endswith(".parquet") for k in keys)
    on_disk = {p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*") if p.is_file()}
    assert on_disk and all(p.startswith("cache/layers/") for p in on_disk), on_disk
    assert not [p for p in on_disk if p.endswith((".tif", ".parquet", "tiles.json"))], on_disk  # read in place
    assert not list((cache / ".staging").iterdir())  # every staged version was published and removed


def test_readers_elsewhere_see_new_versions_and_the_checks_read_s3(demo, s3_uri, tmp_path):
    sources, _ = demo
    writer = LayerStore(f"{s3_uri}/layers", tmp_path / "ingest-host")
    for layer in ("jrc_gfc2020", "hansen_gfc", "wdpa", IMAGERY_LAYER):
        writer.ingest(sources, layer)
    reader = LayerStore(f"{s3_uri}/layers", tmp_path / "api-host")  # another host: its own cache
    assert reader.catalogue.current("jrc_gfc2020").version == "V3"
    newer = tmp_path / "sources"
    shutil.copytree(sources, newer)
    shutil.copytree(newer / "jrc_gfc2020" / "V3", newer / "jrc_gfc2020" / "V4")
    assert writer.ingest(newer, "jrc_gfc2020").version == "V4"
    assert reader.catalogue.current("jrc_gfc2020").version == "V4"  # the reader's copy was refreshed
    assert reader.open_layer_set().versions()["jrc_gfc2020"] == "V4"
    writer.catalogue.set_status("jrc_gfc2020", "V4", "rejected")  # what the check sensor does
    assert reader.catalogue.current("jrc_gfc2020").version == "V3"
    # the asset checks judge the stored files where they are
    current = {layer: reader.catalogue.current(layer) for layer in ("jrc_gfc2020", "hansen_gfc", "wdpa", IMAGERY_LAYER)}
    for layer in ("jrc_gfc2020", "hansen_gfc"):
        assert crs_and_pixel_size(reader, current[layer]).passed and value_domain(reader, current[layer]).passed
    assert geometry_validity(reader, current["wdpa"]).passed
    assert imagery_scenes(reader, current[IMAGERY_LAYER]).passed
    # the GeoParquet is read through fsspec, row groups outside the bbox skipped
    everything, _ = reader.polygons(current["wdpa"])
    near, _ = reader.polygons(current["wdpa"], (-5.2700, 6.8210, -5.2690, 6.8220))
    far, _ = reader.polygons(current["wdpa"], (10.0, 10.0, 10.1, 10.1))
    assert (len(everything), len(near), len(far)) == (2, 1, 0)
    # a store sent to a map-drawing worker process opens the same layers there
    again = pickle.loads(pickle.dumps(reader))
    layers = again.open_layer_set()
    try:
        assert layers.versions()["jrc_gfc2020"] == "V3" and layers.imagery is not None
    finally:
        layers.close()
