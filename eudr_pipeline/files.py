"""How the project writes files: whole or not at all, and GeoParquet in one way.

Every file a user or another process may read (results, images, responses, layer
versions) is written under a temporary name in the same folder and renamed into place,
so a reader never sees half a file and a crash leaves none.

Every GeoParquet file (the layer store's vector layers, job results, the parquet
export) is written here by geopandas: GeoParquet 1.1 with the CRS recorded as
EPSG:4326 (PROJJSON) and a ``bbox`` covering column, so GDAL, geopandas and DuckDB open
it with its CRS and can skip row groups outside a bounding box."""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

WGS84 = "EPSG:4326"


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` whole: a temporary sibling, then an atomic rename."""
    with open_atomic(path) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


@contextlib.contextmanager
def open_atomic(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through, piece by piece: a temporary sibling, renamed
    into place when the block ends, removed if it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            yield fh
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_secret_file(path: Path, secret: str) -> str:
    """The secret in ``path``: written now (mode 600 from its creation) unless another
    process wrote it first, in which case that one is read and used."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret


def geoparquet_bytes(geometries: Sequence[Any], columns: dict[str, Sequence[Any]], *,
                     row_group_size: int | None = None) -> bytes:
    """A GeoParquet 1.1 file (bytes) of ``geometries`` (shapely, lon/lat degrees, EPSG:4326;
    None allowed) with the attribute ``columns`` (one value per geometry)."""
    import geopandas as gpd

    frame = gpd.GeoDataFrame(dict(columns), geometry=gpd.GeoSeries(list(geometries), crs=WGS84))
    buf = io.BytesIO()
    frame.to_parquet(buf, schema_version="1.1.0", write_covering_bbox=True, compression="zstd",
                     row_group_size=row_group_size, index=False)
    return buf.getvalue()


def write_geoparquet(path: Path, geometries: Sequence[Any], columns: dict[str, Sequence[Any]], *,
                     row_group_size: int | None = None) -> Path:
    """``geoparquet_bytes`` written whole to ``path``."""
    return write_atomic(path, geoparquet_bytes(geometries, columns, row_group_size=row_group_size))
