"""Raster layers are read by window through a bounded chunk cache, never whole."""

import numpy as np

from eudr_pipeline.core.rasters import RasterLayer
from eudr_pipeline_tests.conftest import write_tif


def test_scattered_cells_from_a_large_tile_with_a_small_cache(tmp_path):
    n = 6000
    rng = np.random.default_rng(3)
    data = (np.arange(n, dtype=np.uint32)[:, None] * 7 + np.arange(n, dtype=np.uint32)[None, :]) % 251
    path = write_tif(tmp_path / "big.tif", data.astype(np.uint8), 10.0, 5.0, 0.0001)
    layer = RasterLayer.open("big", "1", [path])
    layer.chunk = 512
    layer.cache_bytes = 3 * 512 * 512 * 2  # room for three chunks (values + mask)
    rows = rng.integers(-50, n + 50, 20000)
    cols = rng.integers(-50, n + 50, 20000)
    values, covered = layer.sample(rows, cols)
    inside = (rows >= 0) & (rows < n) & (cols >= 0) & (cols < n)
    np.testing.assert_array_equal(covered, inside)
    np.testing.assert_array_equal(values[inside], data[rows[inside], cols[inside]].astype(np.uint8))
    assert (values[~inside] == layer.fill).all()
    assert layer._cached_bytes <= layer.cache_bytes
    assert len(layer._cache) <= 3
    layer.close()
