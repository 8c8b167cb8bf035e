"""The fast ingestion path (issue 9): one pass over a source tile counts its values and
stages a tiled copy that GDAL's COG driver converts. Correctness only: the stored COG has
the same pixels, overviews and metadata as a direct conversion of the source, the
histogram is exact, and nothing staged is left behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine

from eudr_pipeline.errors import IngestError
from eudr_pipeline.layers.store import LayerStore, _scan_values, _to_cog

TRANSFORM = Affine(0.00025, 0, -90.0, 0, -0.00025, 20.0)


def striped_tif(path: Path, data: np.ndarray, nodata=None, **extra) -> Path:
    """A GeoTIFF laid out like a Hansen tile: one-row strips, LZW."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype=str(data.dtype), crs="EPSG:4326", transform=TRANSFORM, nodata=nodata, compress="lzw",
                       blockysize=1, **extra) as dst:
        dst.write(data, 1)
    return path


def direct_cog(src: Path, dst: Path) -> Path:
    """The conversion before issue 9: GDAL's COG driver straight from the source."""
    rasterio.shutil.copy(str(src), str(dst), driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512, OVERVIEWS="AUTO",
                         RESAMPLING="NEAREST", BIGTIFF="IF_SAFER")
    return dst


def assert_same_raster(a_path: Path, b_path: Path) -> None:
    """Same profile, tags, colour table and pixels at full resolution and every overview."""
    with rasterio.open(a_path) as a, rasterio.open(b_path) as b:
        assert a.profile == b.profile and a.tags() == b.tags() and a.tags(1) == b.tags(1)
        assert a.descriptions == b.descriptions and a.colorinterp == b.colorinterp
        assert a.overviews(1) == b.overviews(1) and a.overviews(1)
        assert (a.read() == b.read()).all()
        for level in range(len(a.overviews(1))):
            with rasterio.open(a_path, overview_level=level) as ao, rasterio.open(b_path, overview_level=level) as bo:
                assert (ao.read() == bo.read()).all()


def naive_hist(data: np.ndarray, nodata) -> dict[int, int]:
    values, counts = np.unique(data[data != nodata] if nodata is not None else data, return_counts=True)
    return {int(v): int(n) for v, n in zip(values, counts)}


@pytest.mark.parametrize("dtype,nodata,shape", [
    ("uint8", 255, (1300, 1031)),    # odd cell count (the pair-counting path's last cell), several row bands
    ("uint8", None, (7, 9)),
    ("int16", -32768, (600, 517)),   # nodata far below the data
    ("uint16", 0, (513, 300)),
])
def test_scan_counts_every_value_exactly(tmp_path, dtype, nodata, shape):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype)
    data = rng.integers(max(info.min, -200), min(info.max, 300), size=shape, endpoint=True).astype(dtype)
    if nodata is not None:
        data[rng.random(shape) < 0.3] = nodata
    src = striped_tif(tmp_path / "src.tif", data, nodata)
    assert _scan_values(str(src)) == naive_hist(data, nodata)
    stage = tmp_path / "stage.tif"
    assert _scan_values(str(src), stage=stage) == naive_hist(data, nodata)
    with rasterio.open(stage) as ds:  # the staged copy: tiled, same pixels and georeferencing
        assert ds.profile["tiled"] and ds.profile["blockxsize"] == 512 and (ds.read(1) == data).all()
        assert ds.transform == TRANSFORM and ds.crs.to_epsg() == 4326 and ds.nodata == nodata


def test_scan_rejects_non_integer_values(tmp_path):
    src = striped_tif(tmp_path / "f.tif", np.zeros((10, 10), np.float32))
    with pytest.raises(IngestError, match="expected integers"):
        _scan_values(str(src), stage=tmp_path / "stage.tif")


def test_scanned_cog_equals_a_direct_cog_of_the_source(tmp_path):
    rng = np.random.default_rng(2)
    data = np.where(rng.random((1500, 1700)) < 0.2, rng.integers(1, 25, (1500, 1700)), 0).astype(np.uint8)
    data[:40] = 255
    src = striped_tif(tmp_path / "src.tif", data, nodata=255)
    with rasterio.open(src, "r+") as ds:  # metadata the staged copy must carry over
        ds.update_tags(SOURCE="test", AREA_OR_POINT="Area")
        ds.update_tags(1, UNITS_NOTE="years since 2000")
        ds.set_band_description(1, "lossyear")
        ds.write_colormap(1, {0: (0, 0, 0, 0), 1: (255, 0, 0, 255), 24: (0, 0, 255, 255)})
    out = tmp_path / "store" / "lossyear" / "t.tif"
    hist = _to_cog(str(src), out, scan=True)
    assert hist == naive_hist(data, 255)
    assert_same_raster(out, direct_cog(src, tmp_path / "direct.tif"))
    with rasterio.open(out) as ds:
        assert ds.profile["compress"] == "deflate" and ds.profile["blockxsize"] == ds.profile["blockysize"] == 512
        assert ds.colormap(1)[24] == (0, 0, 255, 255) and ds.descriptions == ("lossyear",)
    assert sorted(p.name for p in out.parent.iterdir()) == ["t.tif"]  # the staged copy is gone


def test_source_with_a_mask_band_is_converted_directly(tmp_path):
    data = np.arange(600 * 700, dtype=np.uint32).reshape(600, 700).astype(np.uint8)
    src = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(src, "w", driver="GTiff", width=700, height=600, count=1, dtype="uint8",
                           crs="EPSG:4326", transform=TRANSFORM) as dst:
            dst.write(data, 1)
            mask = np.full(data.shape, 255, np.uint8)
            mask[:100, :100] = 0
            dst.write_mask(mask)
    out = tmp_path / "out" / "masked.tif"
    assert _to_cog(str(src), out, scan=True) == naive_hist(data, None)
    with rasterio.open(out) as ds:
        assert ds.read_masks(1)[:100, :100].max() == 0 and ds.read_masks(1)[100:, 100:].min() == 255
    assert sorted(p.name for p in out.parent.iterdir()) == ["masked.tif"]


def test_striped_hansen_tile_ingests_and_its_domain_is_checked(tmp_path):
    rng = np.random.default_rng(3)
    data = np.where(rng.random((900, 1100)) < 0.1, rng.integers(1, 25, (900, 1100)), 0).astype(np.uint8)
    folder = tmp_path / "sources" / "hansen_gfc" / "v1.12"
    tile = striped_tif(folder / "Hansen_GFC-2024-v1.12_lossyear_20N_090W.tif", data, nodata=255)
    store = LayerStore(tmp_path / "store")
    row = store.ingest(tmp_path / "sources", "hansen_gfc")
    assert row.status == "ok" and row.details["lossyear_values"] == {"min": 0, "max": int(data.max())}
    stored = Path(row.store_path) / "lossyear" / tile.name
    assert_same_raster(stored, direct_cog(tile, tmp_path / "direct.tif"))
    assert [p.name for p in stored.parent.iterdir()] == [tile.name]

    data[5, 7] = 30  # a loss year after the version's last year
    striped_tif(tmp_path / "bad" / "hansen_gfc" / "v1.12" / tile.name, data, nodata=255)
    row = LayerStore(tmp_path / "store2").ingest(tmp_path / "bad", "hansen_gfc")
    assert row.status == "rejected" and any("30" in c["detail"] for c in row.checks if not c["passed"])
