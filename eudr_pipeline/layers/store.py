"""The versioned layer store: ingestion of layer versions from a layer source into
cloud-optimized GeoTIFFs (rasters) and GeoParquet (vectors), catalogued in DuckDB, and the
LayerSet the analysis reads from it.

    <store>/catalogue.duckdb
    <store>/<layer>/<version>/<band>/<tile>.tif     COG: 512 px tiles, deflate, overviews
    <store>/<layer>/<version>/tiles.json            tile index: band, file, bounds, size
    <store>/<layer>/<version>/<layer>.parquet       GeoParquet 1.1 with a bbox covering column
    <store>/imagery/<version>/scenes/<date>.tif     COG of an RGB scene (optional layer)

``<store>`` is the root of an object store (object_store.py): a folder, or
s3://bucket/prefix on S3 or an S3-compatible server (EUDR_OBJECT_STORE). A version is
built in a local staging folder (GDAL writes COGs locally) and published when complete:
renamed into place in a folder, every file uploaded to S3; the catalogue row, naming the
version's URI (``store_path``), is written last, so a crash never leaves a catalogued
half-written version. Readers open rasters where they are (GDAL, by window: /vsis3/ on
S3), tiles.json and GeoParquet through fsspec (row groups outside the bbox skipped); the
catalogue is a DuckDB file kept as an object (catalogue.py). Rasters are converted and
scanned block by block (bounded memory whatever the tile size)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.warp import transform_bounds
import shapely

from eudr_pipeline.core.analysis import LayerSet
from eudr_pipeline.core.imagery import Imagery
from eudr_pipeline.core.overlaps import VectorLayer
from eudr_pipeline.core.rasters import RasterLayer
from eudr_pipeline.errors import IngestError, LayerSourceError, RasterLayerError
from eudr_pipeline.files import write_geoparquet
from eudr_pipeline.layers.catalogue import Catalogue, LayerVersion, newest_accepted
from eudr_pipeline.layers.reference_layers import (
    ALL_LAYERS,
    ATTRIBUTIONS,
    EXTRA_LAYERS,
    IMAGERY_LAYER,
    INDICATORS,
    RASTER_LAYERS,
    RASTER_SUFFIXES,
    VECTOR_LAYERS,
    VECTOR_SUFFIXES,
    RasterBand,
    band,
    extra_bands,
)
from eudr_pipeline.layers.countries import country_of
from eudr_pipeline.layers.remote import files_in, gdal_path
from eudr_pipeline.layers.source_directory import as_source, current_version, loss_last_year
from eudr_pipeline.layers.vectors import read_layer_polygons
from eudr_pipeline.object_store import ObjectStore, key_join

if TYPE_CHECKING:
    from eudr_pipeline.config import Settings

GDAL_CACHE_MB = 128  # GDAL's default is 5 % of RAM (1.2 GB here): bound it for ingestion


def _checksum(files: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=str):
        h.update(str(f.relative_to(root)).encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _check(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "passed": bool(passed), "detail": detail}


def _status(checks: list[dict[str, Any]]) -> str:
    return "ok" if all(c["passed"] for c in checks) else "rejected"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)  # the catalogue's TIMESTAMP is naive UTC


def _value_checks(b: RasterBand, hist: dict[int, int], facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The value-domain and not-empty checks of one band from its value histogram."""
    lo, hi = b.domain(facts)
    bad = sorted(v for v in hist if not (lo <= v <= hi or (b.zero_ok and v == 0)))
    domain = (f"values {min(hist, default=None)}..{max(hist, default=None)}; expected "
              f"{'0 or ' if b.zero_ok and lo > 0 else ''}{lo}..{hi}" + (f"; out of domain: {bad[:10]}" if bad else ""))
    return [_check(f"{b.name}: value domain", not bad, domain),
            _check(f"{b.name}: not empty", sum(hist.values()) > 0, f"{sum(hist.values())} cells with data")]


STAGE_ROWS = 512  # rows per read of a tile being ingested: one row of COG tiles (20 MB of a 40,000 px uint8 band)
COUNT_CHUNK = 1 << 17  # cells per np.bincount call: its int64 copy (1 MiB) stays in the CPU cache
COG_THREADS = "ALL_CPUS"  # GDAL compresses COG tiles (and stages) on every core
COG_ENV = dict(GDAL_CACHEMAX=GDAL_CACHE_MB, GDAL_NUM_THREADS=COG_THREADS,
               ZSTD_LEVEL_OVERVIEW=1)  # the COG driver's temporary overview file: ZSTD level 9 by default, 2x the CPU


def _value_counts(a: np.ndarray, nodata: float | None) -> dict[int, int]:
    """Histogram {value: cells} of an integer array, ``nodata`` excluded. uint8 (Hansen,
    GFC2020, TMF) is counted by pairs of cells, a uint16 view into 65,536 bins folded back
    to 256, in cache-sized chunks: 4-5x faster than np.bincount over a 20 MB block, whose
    int64 copy of the block was most of the scan's time. Other types are counted from
    their minimum, nodata removed first (it may lie far from the data: -32768, -2^31)."""
    flat = np.ascontiguousarray(a).reshape(-1)
    if flat.dtype == np.uint8:
        pairs, bins = flat[: flat.size - flat.size % 2].view(np.uint16), np.zeros(1 << 16, np.int64)
        for k in range(0, pairs.size, COUNT_CHUNK):
            bins += np.bincount(pairs[k:k + COUNT_CHUNK], minlength=1 << 16)
        square = bins.reshape(256, 256)
        lo, counts = 0, square.sum(axis=0) + square.sum(axis=1)  # either cell of a pair, whatever the byte order
        if flat.size % 2:
            counts[flat[-1]] += 1
        if nodata is not None and float(nodata).is_integer() and 0 <= nodata <= 255:
            counts[int(nodata)] = 0
    else:
        flat = flat[flat != nodata] if nodata is not None else flat
        lo = int(flat.min()) if flat.size else 0
        counts = np.bincount(flat.astype(np.int64) - lo)
    return {int(v) + lo: int(counts[v]) for v in np.flatnonzero(counts)}


def _stage_profile(ds: rasterio.io.DatasetReader) -> dict[str, Any] | None:
    """Creation profile of the tiled copy _scan_values stages for _to_cog: 512 px tiles,
    ZSTD level 1 (fast to write and to read back; deleted once the COG is written). None
    when a plain copy of the bands would lose something GDAL's COG driver keeps (a mask or
    alpha band, bands of different types): such a source is converted directly."""
    plain = all(set(f) <= {rasterio.enums.MaskFlags.all_valid, rasterio.enums.MaskFlags.nodata}
                for f in ds.mask_flag_enums)
    if not plain or len(set(ds.dtypes)) != 1:
        return None
    return dict(driver="GTiff", width=ds.width, height=ds.height, count=ds.count, dtype=ds.dtypes[0], crs=ds.crs,
                transform=ds.transform, nodata=ds.nodata, tiled=True, blockxsize=512, blockysize=512,
                compress="zstd", ZSTD_LEVEL=1, NUM_THREADS=COG_THREADS, BIGTIFF="YES")


def _copy_metadata(ds: rasterio.io.DatasetReader, out: rasterio.io.DatasetWriter) -> None:
    """Tags, band descriptions, units, scales/offsets, colour tables and interpretation of
    ``ds`` onto its staged copy, so the COG written from the copy carries what it would
    have carried written from the source."""
    out.update_tags(**ds.tags())
    for i in ds.indexes:
        out.update_tags(i, **ds.tags(i))
        if ds.descriptions[i - 1]:
            out.set_band_description(i, ds.descriptions[i - 1])
        try:
            out.write_colormap(i, ds.colormap(i))
        except ValueError:  # no colour table
            pass
    out.units, out.scales, out.offsets = ds.units, ds.scales, ds.offsets
    out.colorinterp = ds.colorinterp


def _scan_values(path: str, stage: Path | None = None) -> dict[int, int]:
    """Histogram {value: cells} of band 1 of an integer raster (nodata excluded), read in
    bands of STAGE_ROWS full-width rows (bounded memory whatever the tile size).
    With ``stage``, the same pass writes every band to a tiled copy there (see
    _stage_profile; skipped when it would lose something) for _to_cog, so the source is
    decoded once: GDAL's COG driver reads a tiled copy in seconds, but a source in one-row
    strips (Hansen's layout) took minutes, re-reading 512 strips for every 512 px tile."""
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), rasterio.open(path) as ds:
        if np.dtype(ds.dtypes[0]).kind not in "iu":
            raise IngestError(f"{path}: {ds.dtypes[0]} values, expected integers")
        profile = _stage_profile(ds) if stage is not None else None
        out = rasterio.open(stage, "w", **profile) if profile else None
        hist: dict[int, int] = {}
        try:
            if out:
                _copy_metadata(ds, out)  # before any pixel: a colour table sets the TIFF's photometric tag
            for r0 in range(0, ds.height, STAGE_ROWS):
                win = rasterio.windows.Window(0, r0, ds.width, min(STAGE_ROWS, ds.height - r0))
                a = ds.read(window=win) if out else ds.read(1, window=win)[None]
                if out:
                    out.write(a, window=win)
                for v, n in _value_counts(a[0], ds.nodata).items():
                    hist[v] = hist.get(v, 0) + n
        finally:
            if out:
                out.close()
    return hist


def _to_cog(src: str, dst: Path, resampling: str = "NEAREST", scan: bool = False) -> dict[int, int]:
    """Convert a GeoTIFF to a cloud-optimized GeoTIFF (512 px tiles, deflate, overviews
    resampled by ``resampling``: NEAREST for classes, BILINEAR for imagery), streamed by
    GDAL with a bounded block cache, tiles compressed on every core. With ``scan``, returns
    the histogram of band 1 (_scan_values), counted in the one pass over the source that
    stages the tiled copy the COG is then written from; else returns {}."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    stage = dst.with_name(f".{dst.stem}.stage.tif")
    hist: dict[int, int] = {}
    try:
        if scan:
            hist = _scan_values(src, stage=stage)
            src = str(stage) if stage.exists() else src
        with rasterio.Env(**COG_ENV):
            rasterio.shutil.copy(src, str(dst), driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512, OVERVIEWS="AUTO",
                                 RESAMPLING=resampling, BIGTIFF="IF_SAFER")
    finally:
        stage.unlink(missing_ok=True)
    return hist


def _scene_header(path: str) -> tuple[list[str], tuple[float, float, float, float]]:
    """(problems, lon/lat bounds) of an imagery scene: it must be georeferenced, with at
    least three uint8 bands (red, green, blue)."""
    with rasterio.open(path) as ds:
        problems = [] if ds.crs is not None else [f"{path}: no CRS"]
        if ds.count < 3 or any(d != "uint8" for d in ds.dtypes[:3]):
            problems.append(f"{path}: {ds.count} band(s) of {', '.join(sorted(set(ds.dtypes)))}; expected 3 uint8 (RGB)")
        bounds = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds) if ds.crs is not None else (0.0, 0.0, 0.0, 0.0)
    return problems, bounds


class LayerStore:
    """The versioned store at ``root`` (a folder, or s3://bucket/prefix) and its catalogue;
    ``cache_dir``: this process's working copies for an s3:// root (object_store.py)."""

    def __init__(self, root: str | Path, cache_dir: Path | None = None) -> None:
        self.objects = ObjectStore(root, cache_dir)
        self.root = self.objects.root
        self.catalogue = Catalogue(self.objects, "catalogue.duckdb")
        self._tile_indexes: dict[str, list[dict[str, Any]]] = {}  # by store_path: a catalogued version never changes

    @classmethod
    def from_settings(cls, settings: "Settings") -> "LayerStore":
        """The deployment's layer store (EUDR_OBJECT_STORE, else under EUDR_DATA_DIR)."""
        return cls(settings.layer_store_uri(), settings.layer_store_cache_dir())

    def __reduce__(self):  # to worker processes (maps): rebuilt there from its root
        return LayerStore, (self.objects.uri(), self.objects.work_dir)

    # ------------------------------------------------------------------ ingestion

    def needs_ingest(self, layer: str, version: str) -> bool:
        """False when this version was already ingested (accepted or rejected)."""
        return self.catalogue.get(layer, version) is None

    def ingest(self, sources: Path, layer: str, version: str | None = None) -> LayerVersion:
        """Ingest ``version`` (default: the version in force in ``sources``) of ``layer``.
        Returns the catalogue row: status "ok", or "rejected" with its failed checks (the
        version is then stored but never used). Raises IngestError when the files cannot
        be read at all. Ingesting a catalogued version again returns its row unchanged."""
        sources = as_source(sources)
        version = version or current_version(sources, layer)
        if version is None:
            raise IngestError(f"{sources}/{layer}: no version folder")
        existing = self.catalogue.get(layer, version)
        if existing is not None:
            return existing
        folder = sources / layer / version
        if not folder.is_dir():
            raise IngestError(f"{folder}: no such version folder")
        prefix = key_join(layer, version)
        tmp = self.objects.staging_folder(prefix)
        try:
            if layer in RASTER_LAYERS:
                row = self._ingest_raster(folder, layer, version, tmp)
            elif layer in VECTOR_LAYERS:
                row = self._ingest_vector(folder, layer, version, tmp)
            elif layer == IMAGERY_LAYER:
                row = self._ingest_imagery(folder, version, tmp)
            else:
                raise IngestError(f"unknown layer {layer!r} (expected one of {', '.join(ALL_LAYERS)})")
            self.objects.publish_folder(tmp, prefix)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        row.store_path = self.objects.uri(prefix)
        self.catalogue.record(row)
        return row

    def _ingest_raster(self, folder: Path, layer: str, version: str, out: Path) -> LayerVersion:
        facts: dict[str, Any] = {"last_year": loss_last_year(folder, version)} if layer == "hansen_gfc" else {}
        checks: list[dict[str, Any]] = []
        index: list[dict[str, Any]] = []
        used: list[Path] = []
        pixel = None
        for b in RASTER_LAYERS[layer]:
            band_files = files_in(folder, RASTER_SUFFIXES, b.pattern)
            if not band_files:
                if b.required:
                    raise IngestError(f"{folder}: no {b.name} raster (files matching {b.pattern or '*.tif'})")
                continue
            used += band_files
            band_pixel = self._ingest_band(layer, version, b, band_files, out, facts, checks, index)
            pixel = pixel or band_pixel
        (out / "tiles.json").write_text(json.dumps(index, indent=1))
        west, south = min(t["west"] for t in index), min(t["south"] for t in index)
        east, north = max(t["east"] for t in index), max(t["north"] for t in index)
        return LayerVersion(
            layer=layer, version=version, kind="raster", status=_status(checks), source_uri=str(folder),
            checksum=_checksum(used, folder), ingested_at=_now(), west=west, south=south, east=east, north=north,
            pixel_size_x=pixel[0], pixel_size_y=pixel[1], tile_count=len(index), licence=ATTRIBUTIONS[layer],
            checks=checks, details=facts,
        )

    def _ingest_band(self, layer: str, version: str, b: RasterBand, files: list[Path], out: Path,
                     facts: dict[str, Any], checks: list[dict[str, Any]], index: list[dict[str, Any]]) -> tuple[float, float]:
        """Convert one band's tiles to COGs, scanning their values in the same pass (see
        _to_cog), append the band's checks and tile index rows. Returns the band's pixel
        size (degrees)."""
        try:
            grid_layer = RasterLayer.open(f"{layer}/{b.name}", version, [gdal_path(f) for f in files])
        except RasterLayerError as exc:
            raise IngestError(str(exc)) from exc
        g = grid_layer.grid
        checks.append(_check(f"{b.name}: CRS EPSG:4326", True, "every tile is EPSG:4326, north-up"))
        checks.append(_check(f"{b.name}: one pixel size", True, f"{g.dx:.10g} x {g.dy:.10g} deg on every tile"))
        hist: dict[int, int] = {}
        for tile in grid_layer.tiles:
            dst = out / b.name / tile.path.rstrip("/").rsplit("/", 1)[-1]
            try:
                for v, n in _to_cog(tile.path, dst, scan=True).items():
                    hist[v] = hist.get(v, 0) + n
            except rasterio.errors.RasterioError as exc:
                raise IngestError(f"{tile.path}: unreadable raster ({exc})") from exc
            index.append({"band": b.name, "file": f"{b.name}/{dst.name}", "width": tile.width, "height": tile.height,
                          "west": g.x0 + tile.col0 * g.dx, "south": g.y0 - (tile.row0 + tile.height) * g.dy,
                          "east": g.x0 + (tile.col0 + tile.width) * g.dx, "north": g.y0 - tile.row0 * g.dy})
        grid_layer.close()
        checks += _value_checks(b, hist, facts)
        facts[f"{b.name}_values"] = {"min": min(hist, default=None), "max": max(hist, default=None)}
        return g.dx, g.dy

    def _ingest_vector(self, folder: Path, layer: str, version: str, out: Path) -> LayerVersion:
        try:
            polygons = read_layer_polygons(folder, layer)
        except LayerSourceError as exc:
            raise IngestError(str(exc)) from exc
        if polygons is None:
            raise IngestError(f"{folder}: no vector file ({', '.join(VECTOR_SUFFIXES)})")
        geoms = polygons.geometries
        write_vector_layer(out / f"{layer}.parquet", geoms, polygons.records)
        b = shapely.total_bounds(geoms) if len(geoms) else [None] * 4
        checks = [
            _check("not empty", len(geoms) > 0, f"{len(geoms)} polygons"),
            _check("geometry validity", True,
                   f"{polygons.repaired} invalid polygons repaired, {polygons.dropped} without polygonal geometry dropped"),
        ]
        return LayerVersion(
            layer=layer, version=version, kind="vector", status=_status(checks), source_uri=str(folder),
            checksum=_checksum(files_in(folder, VECTOR_SUFFIXES), folder),
            ingested_at=_now(), west=b[0], south=b[1], east=b[2], north=b[3], row_count=len(geoms),
            repaired_count=polygons.repaired, licence=ATTRIBUTIONS[layer], checks=checks, details={},
        )

    def _ingest_imagery(self, folder: Path, version: str, out: Path) -> LayerVersion:
        """Each dated RGB scene as a COG ``scenes/<date>.tif``, indexed in tiles.json."""
        files = files_in(folder, RASTER_SUFFIXES)
        if not files:
            raise IngestError(f"{folder}: no imagery scene (GeoTIFFs named by date, e.g. 2020-12-15.tif)")
        try:
            imagery = Imagery.from_files(version, [gdal_path(f) for f in files])
        except LayerSourceError as exc:
            raise IngestError(str(exc)) from exc
        problems, index = [], []
        for scene in imagery.scenes:
            dst = out / "scenes" / f"{scene.date.isoformat()}.tif"
            try:
                bad, (west, south, east, north) = _scene_header(scene.path)
                _to_cog(scene.path, dst, resampling="BILINEAR")
            except rasterio.errors.RasterioError as exc:
                raise IngestError(f"{scene.path}: unreadable raster ({exc})") from exc
            problems += bad
            index.append({"band": "rgb", "date": scene.date.isoformat(), "file": f"scenes/{dst.name}",
                          "west": west, "south": south, "east": east, "north": north})
        (out / "tiles.json").write_text(json.dumps(index, indent=1))
        dates = [t["date"] for t in index]
        checks = [_check("scenes: RGB", not problems, "; ".join(problems) or f"{len(index)} scenes of 3 uint8 bands"),
                  _check("scenes: dated", True, f"dates {', '.join(dates)}")]
        return LayerVersion(
            layer=IMAGERY_LAYER, version=version, kind="imagery", status=_status(checks), source_uri=str(folder),
            checksum=_checksum(files, folder), ingested_at=_now(), west=min(t["west"] for t in index),
            south=min(t["south"] for t in index), east=max(t["east"] for t in index),
            north=max(t["north"] for t in index), tile_count=len(index), licence=ATTRIBUTIONS[IMAGERY_LAYER],
            checks=checks, details={"dates": dates})

    # ------------------------------------------------------------------ reading

    def _version(self, row: LayerVersion) -> tuple[ObjectStore, str]:
        """The object store holding the files of ``row`` and the key of its version folder
        there: this store's, or (a version catalogued elsewhere) one rooted at it."""
        key = self.objects.key_of(row.store_path)
        return (self.objects, key) if key is not None else (ObjectStore(row.store_path, self.objects.work_dir), "")

    def tile_index(self, row: LayerVersion) -> list[dict[str, Any]]:
        """The tiles.json of a stored raster or imagery version, read once per version
        (each band of a layer reads it: one GET each on S3 otherwise)."""
        if row.store_path not in self._tile_indexes:
            objects, prefix = self._version(row)
            self._tile_indexes[row.store_path] = json.loads(objects.read_bytes(key_join(prefix, "tiles.json")))
        return self._tile_indexes[row.store_path]

    def file_path(self, row: LayerVersion, file: str) -> str:
        """The GDAL path of ``file`` (a tiles.json ``file``) of a stored version: read in
        place, by window (/vsis3/... on S3)."""
        return self.file_paths(row, [file])[0]

    def file_paths(self, row: LayerVersion, files: list[str]) -> list[str]:
        """``file_path`` of each of ``files``, the version's store resolved once."""
        objects, prefix = self._version(row)
        return [objects.gdal_path(key_join(prefix, f)) for f in files]

    def polygons(self, row: LayerVersion, bbox: tuple[float, float, float, float] | None = None
                 ) -> tuple[np.ndarray, list[dict]]:
        """Geometries and attribute records of a stored vector version (only rows whose bbox
        meets ``bbox``), read through fsspec."""
        objects, prefix = self._version(row)
        key = key_join(prefix, f"{row.layer}.parquet")
        if objects.is_local:
            return read_stored_polygons(objects.local_path(key), bbox)
        return read_stored_polygons(objects.fs_path(key), bbox, filesystem=objects.fs)

    def imagery(self, row: LayerVersion) -> Imagery:
        """The scenes of a stored imagery version."""
        return Imagery.from_files(row.version, self.file_paths(row, [t["file"] for t in self.tile_index(row)]),
                                  source_name=row.licence or IMAGERY_LAYER)

    def raster(self, layer: str, band_name: str, row: LayerVersion) -> RasterLayer | None:
        """One band of a stored raster layer version (None when the version lacks it)."""
        paths = self.file_paths(row, [t["file"] for t in self.tile_index(row) if t["band"] == band_name])
        if not paths:
            return None
        return RasterLayer.open(band(layer, band_name).analysis_name, row.version, paths,
                                source_name=row.licence or layer)

    def vector(self, layer: str, row: LayerVersion, bbox: tuple[float, float, float, float] | None) -> VectorLayer:
        """A stored vector layer version, only its polygons whose bbox meets ``bbox``."""
        geoms, records = self.polygons(row, bbox)
        return VectorLayer(layer, row.version, geoms, records, source_name=row.licence or layer)

    def current_versions(self) -> dict[str, LayerVersion]:
        """The version in use of each layer that has one."""
        return self.catalogue.current_versions(ALL_LAYERS)

    def open_layer_set(self, bbox: tuple[float, float, float, float] | None = None,
                       versions: dict[str, str] | None = None) -> LayerSet:
        """The layers in use (newest accepted version of each, or ``versions``), vectors
        restricted to polygons whose bbox intersects ``bbox`` (lon/lat degrees)."""
        catalogued = self.catalogue.versions()  # one read of the catalogue
        rows = {layer: v for layer in ALL_LAYERS
                if (v := newest_accepted(r for r in catalogued if r.layer == layer)) is not None}
        for layer, v in (versions or {}).items():
            row = next((r for r in catalogued if r.layer == layer and r.version == v), None)
            if row is None or row.status != "ok":
                raise LayerSourceError(f"layer {layer} version {v} is not an accepted version in the store")
            rows[layer] = row

        def raster(layer: str, band_name: str) -> RasterLayer | None:
            return self.raster(layer, band_name, rows[layer]) if layer in rows else None

        def vector(layer: str) -> VectorLayer | None:
            return self.vector(layer, rows[layer], bbox) if layer in rows else None

        hansen = rows.get("hansen_gfc")
        extra_rasters = {f"{layer}/{b.name}": r for layer in RASTER_LAYERS for b in extra_bands(layer)
                         if (r := raster(layer, b.name)) is not None}
        extra_vectors = {layer: vector(layer) for layer in EXTRA_LAYERS if layer in VECTOR_LAYERS and layer in rows}
        return LayerSet(
            forest_2020=raster("jrc_gfc2020", "forest_2020"), loss_year=raster("hansen_gfc", "lossyear"),
            loss_last_year=int(hansen.details["last_year"]) if hansen else 0,
            tree_cover_2000=raster("hansen_gfc", "treecover2000"), degradation_year=raster("jrc_tmf", "degradation_year"),
            protected_areas=vector("wdpa"), indigenous_lands=vector("landmark"),
            imagery=self.imagery(rows[IMAGERY_LAYER]) if IMAGERY_LAYER in rows else None,
            extra_rasters=extra_rasters, extra_vectors=extra_vectors, indicators=tuple(INDICATORS), country_of=country_of,
        )


# ---------------------------------------------------------------------- vector layers as GeoParquet

def write_vector_layer(path: Path, geoms: np.ndarray, records: list[dict[str, Any]]) -> None:
    """A vector layer version as GeoParquet (files.py): the polygons, their records as a
    JSON ``attributes`` column (keys vary by layer), rows sorted by location so that each
    row group of 2048 covers a small area and a bbox read skips the others."""
    b = shapely.bounds(geoms) if len(geoms) else np.empty((0, 4))
    order = np.lexsort((b[:, 0], np.floor(b[:, 1]))) if len(geoms) else np.empty(0, int)
    attributes = [json.dumps(records[i], ensure_ascii=False, default=str) for i in order]
    write_geoparquet(path, geoms[order], {"attributes": attributes}, row_group_size=2048)


def read_stored_polygons(path: Path | str, bbox: tuple[float, float, float, float] | None = None,
                         filesystem=None) -> tuple[np.ndarray, list[dict]]:
    """Geometries and attribute dicts of a stored vector layer, only rows whose bbox
    covering column intersects ``bbox`` (row groups outside it are skipped). ``path`` is
    of ``filesystem`` (fsspec, e.g. s3fs: read by ranges) when given, else local."""
    import geopandas as gpd

    frame = gpd.read_parquet(path, columns=["geometry", "attributes"], bbox=bbox,
                             **({"filesystem": filesystem} if filesystem is not None else {}))
    return np.asarray(frame.geometry.values, dtype=object), [json.loads(a) for a in frame["attributes"]]
