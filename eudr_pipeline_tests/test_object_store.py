"""The object store of results and layers (object_store.py), the same calls on a local
folder and on s3:// (moto's S3-compatible server over HTTP): objects written whole, read,
listed, folders published, and working copies that follow an overwrite by another
process (here: another store object with its own working folder, as on another host)."""

from __future__ import annotations

import os
import pickle

import pytest

from eudr_pipeline.config import Settings
from eudr_pipeline.errors import ObjectNotFound, ObjectStoreError
from eudr_pipeline.object_store import ObjectStore, gdal_s3_env, key_join
from eudr_pipeline_tests.s3_store import object_keys, s3_env, s3_server_env, s3_uri  # noqa: F401 (fixtures)


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path) -> str:
    """The root of a store: a folder, or a fresh s3://bucket/prefix."""
    return str(tmp_path / "store") if request.param == "local" else request.getfixturevalue("s3_uri")


def store_at(root: str, work_dir) -> ObjectStore:
    return ObjectStore(root, work_dir)


def test_put_read_exists_list(root, tmp_path):
    store = store_at(root, tmp_path / "work")
    path = store.put_bytes("job-1/response.json", b'{"a": 1}')
    assert path == store.local_path("job-1/response.json") and path.read_bytes() == b'{"a": 1}'
    store.put_bytes("job-1/images/thumbs/p1.png", b"png1")
    store.put_bytes("job-10/response.json", "text, written as UTF-8: é")
    assert store.read_bytes("job-1/response.json") == b'{"a": 1}'
    assert store.read_bytes("job-10/response.json").decode() == "text, written as UTF-8: é"
    assert store.exists("job-1/images/thumbs/p1.png") and not store.exists("job-1/images/thumbs/p2.png")
    assert store.info("job-1/response.json").size == 8
    assert [i.key for i in store.list("job-1")] == ["job-1/images/thumbs/p1.png", "job-1/response.json"]  # not job-10
    assert [i.key for i in store.list("job-1/images")] == ["job-1/images/thumbs/p1.png"]
    assert store.list("no-such-job") == []
    assert {i.key for i in store.list()} == {"job-1/images/thumbs/p1.png", "job-1/response.json", "job-10/response.json"}
    with pytest.raises(ObjectNotFound, match="no-such-key"):
        store.read_bytes("job-1/no-such-key")
    with pytest.raises(FileNotFoundError):  # the builtin it inherits
        store.read_bytes("job-1/no-such-key")
    assert store.working_copy("job-1/no-such-key") is None
    if root.startswith("s3://"):
        assert {"job-1/response.json", "job-10/response.json"} <= object_keys(dict(os.environ), root)


def test_put_file_from_anywhere(root, tmp_path):
    store = store_at(root, tmp_path / "work")
    src = tmp_path / "elsewhere.parquet"
    src.write_bytes(b"PAR1...PAR1")
    store.put_file("job-2/run-1.parquet", src)
    assert store.read_bytes("job-2/run-1.parquet") == b"PAR1...PAR1"
    assert src.read_bytes() == b"PAR1...PAR1"  # the source is left alone
    working = store.local_path("job-2/run-2.parquet")  # a writer's own working copy, published
    working.parent.mkdir(parents=True, exist_ok=True)
    working.write_bytes(b"run 2")
    store.put_file("job-2/run-2.parquet", working)
    assert store.read_bytes("job-2/run-2.parquet") == b"run 2"
    before = working.stat()
    assert store.working_copy("job-2/run-2.parquet") == working  # already fresh: nothing downloaded
    after = working.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # the same file, not replaced


def test_publish_folder_replaces_the_older_copy(root, tmp_path):
    store = store_at(root, tmp_path / "work")
    first = store.staging_folder("jrc_gfc2020/V3")
    (first / "forest_2020").mkdir()
    (first / "forest_2020" / "a.tif").write_bytes(b"tile a")
    (first / "forest_2020" / "b.tif").write_bytes(b"tile b")
    (first / "tiles.json").write_text("[]")
    assert store.list("jrc_gfc2020") == []  # staged is not published
    store.publish_folder(first, "jrc_gfc2020/V3")
    assert not first.exists()
    assert [i.key for i in store.list("jrc_gfc2020/V3")] == [
        "jrc_gfc2020/V3/forest_2020/a.tif", "jrc_gfc2020/V3/forest_2020/b.tif", "jrc_gfc2020/V3/tiles.json"]
    again = store.staging_folder("jrc_gfc2020/V3")
    (again / "tiles.json").write_text('[{"file": "x"}]')
    store.publish_folder(again, "jrc_gfc2020/V3")
    assert [i.key for i in store.list("jrc_gfc2020/V3")] == ["jrc_gfc2020/V3/tiles.json"]
    assert store.read_bytes("jrc_gfc2020/V3/tiles.json") == b'[{"file": "x"}]'
    assert store.uri("jrc_gfc2020/V3").endswith("/jrc_gfc2020/V3") and store.key_of(store.uri("jrc_gfc2020/V3")) == \
        "jrc_gfc2020/V3"
    assert store.key_of("/somewhere/else") is None and store.key_of(store.uri()) == ""


def test_working_copy_follows_an_overwrite_by_another_process(root, tmp_path):
    """Results are rewritten (a re-analysis): a reader's working copy is fetched again
    when the object changed, and only then."""
    writer = store_at(root, tmp_path / "host-a")
    reader = store_at(root, tmp_path / "host-b")
    key = key_join("job-3", "images", "overview.png")
    writer.put_bytes(key, b"first map")
    copy = reader.working_copy(key)
    assert copy is not None and copy.read_bytes() == b"first map"
    inode = copy.stat().st_ino
    assert reader.working_copy(key).stat().st_ino == inode  # unchanged object: the same copy, not fetched again
    writer.put_bytes(key, b"the map redrawn after a re-analysis")
    assert reader.working_copy(key).read_bytes() == b"the map redrawn after a re-analysis"
    assert reader.read_bytes(key) == b"the map redrawn after a re-analysis"
    if root.startswith("s3://"):  # a copy replaced behind the stamp's back is not taken for fresh
        assert copy.parent.is_relative_to(tmp_path / "host-b")
        copy.write_bytes(b"a stale copy of another process")
        assert reader.working_copy(key).read_bytes() == b"the map redrawn after a re-analysis"


def test_a_store_travels_to_worker_processes(root, tmp_path):
    store = store_at(root, tmp_path / "work")
    store.put_bytes("k/v.txt", b"v")
    again = pickle.loads(pickle.dumps(store))
    assert again.uri() == store.uri() and again.read_bytes("k/v.txt") == b"v"


def test_gdal_settings_are_derived_from_the_endpoint(monkeypatch):
    assert gdal_s3_env({}) == {}  # AWS itself: GDAL's defaults
    assert gdal_s3_env({"AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}) == {
        "AWS_S3_ENDPOINT": "127.0.0.1:9000", "AWS_HTTPS": "NO", "AWS_VIRTUAL_HOSTING": "FALSE"}
    assert gdal_s3_env({"AWS_ENDPOINT_URL": "https://minio.example.org", "AWS_VIRTUAL_HOSTING": "TRUE"}) == {
        "AWS_S3_ENDPOINT": "minio.example.org", "AWS_HTTPS": "YES"}  # what is set is kept
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    for name in ("AWS_S3_ENDPOINT", "AWS_HTTPS", "AWS_VIRTUAL_HOSTING"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    Settings().apply_object_store_env()
    assert (os.environ["AWS_S3_ENDPOINT"], os.environ["AWS_HTTPS"], os.environ["AWS_VIRTUAL_HOSTING"]) == (
        "localhost:4566", "NO", "FALSE")


def test_settings_place_results_and_layers_under_the_object_store(tmp_path):
    local = Settings(data_dir=tmp_path)
    assert local.results_uri() == str(tmp_path / "results") and local.layer_store_uri() == str(tmp_path / "layers")
    remote = Settings(data_dir=tmp_path, object_store="s3://bucket/eudr/")
    assert remote.results_uri() == "s3://bucket/eudr/results" and remote.layer_store_uri() == "s3://bucket/eudr/layers"
    assert remote.results_dir() == tmp_path / "results"  # the working copy stays local


def test_unusable_roots_are_errors(tmp_path):
    with pytest.raises(ObjectStoreError, match="gs://bucket"):
        ObjectStore("gs://bucket/x", tmp_path)
    with pytest.raises(ObjectStoreError, match="working folder"):
        ObjectStore("s3://bucket/x")
    with pytest.raises(OSError):  # the builtin it inherits
        ObjectStore("s3://", tmp_path)
