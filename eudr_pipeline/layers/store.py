"""The versioned layer store: ingestion of layer versions from a layer source into
cloud-optimized GeoTIFFs (rasters) and GeoParquet (vectors), catalogued in DuckDB, and the
LayerSet the analysis reads from it.

    <store>/catalogue.duckdb
    <store>/<layer>/<version>/<band>/<tile>.tif     COG: 512 px tiles, deflate, overviews
    <store>/<layer>/<version>/tiles.json            tile index: band, file, bounds, size
    <store>/<layer>/<version>/<layer>.parquet       GeoParquet 1.1 with a bbox covering column

A version is written into a temporary folder and renamed into place when complete, so a
crash never leaves a half-written version behind; the catalogue row is written last.
Rasters are converted and scanned block by block (bounded memory whatever the tile size)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import rasterio
import rasterio.shutil
import shapely

from eudr_pipeline.core.analysis import LayerSet
from eudr_pipeline.core.overlaps import VectorLayer
from eudr_pipeline.core.rasters import RasterLayer, RasterLayerError
from eudr_pipeline.layers.catalogue import Catalogue, LayerVersion
from eudr_pipeline.layers.remote import gdal_path
from eudr_pipeline.layers.source_directory import (
    LAYER_SOURCES,
    RASTER_SUFFIXES,
    VECTOR_SUFFIXES,
    WDPA_REQUIRED,
    LayerSourceError,
    _files,
    _read_vector,
    _repair,
    current_version,
    hansen_last_year,
    source_path,
    landmark_record,
    read_regulations,
)
from eudr_pipeline.core.overlaps import protected_area_record

GDAL_CACHE_MB = 128  # GDAL's default is 5 % of RAM (1.2 GB here): bound it for ingestion


@dataclass(frozen=True)
class RasterBand:
    """One raster of a layer version: its name, the file-name pattern that finds its tiles
    in the source, whether it must be present, and its valid value domain."""

    name: str
    pattern: str | None
    required: bool
    domain: Callable[[dict[str, Any]], tuple[int, int]]  # facts -> (min, max) valid values
    zero_ok: bool = True


RASTER_LAYERS: dict[str, list[RasterBand]] = {
    "jrc_gfc2020": [RasterBand("forest_2020", None, True, lambda f: (0, 1))],
    "hansen_gfc": [
        RasterBand("lossyear", r"lossyear", True, lambda f: (0, f["last_year"] - 2000)),
        RasterBand("treecover2000", r"treecover2000", False, lambda f: (0, 100)),
    ],
    "jrc_tmf": [RasterBand("degradation_year", r"DegradationYear", True, lambda f: (1982, 2100))],
}
VECTOR_LAYERS = ("wdpa", "landmark")
ALL_LAYERS = ("jrc_gfc2020", "hansen_gfc", "jrc_tmf", "wdpa", "landmark")


class IngestError(LayerSourceError):
    """A layer version cannot be ingested; the message names the file and the reason."""


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


def _scan_values(path: str) -> dict[int, int]:
    """Histogram of a single-band integer raster, read block by block (nodata excluded)."""
    counts: dict[int, int] = {}
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), rasterio.open(path) as ds:
        nodata = ds.nodata
        for _, win in ds.block_windows(1):
            a = ds.read(1, window=win)
            if nodata is not None:
                a = a[a != nodata]
            if a.dtype.kind not in "iu":
                raise IngestError(f"{path}: {a.dtype} values, expected integers")
            if a.size == 0:
                continue
            lo = int(a.min())
            bc = np.bincount((a.astype(np.int64) - lo).ravel())
            for v in np.flatnonzero(bc):
                counts[int(v) + lo] = counts.get(int(v) + lo, 0) + int(bc[v])
    return counts


def _to_cog(src: str, dst: Path) -> None:
    """Convert a GeoTIFF to a cloud-optimized GeoTIFF (512 px tiles, deflate, overviews),
    streamed by GDAL with a bounded block cache."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB, GDAL_NUM_THREADS="2"):
        rasterio.shutil.copy(src, str(dst), driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512, OVERVIEWS="AUTO",
                             RESAMPLING="NEAREST", BIGTIFF="IF_SAFER")


class LayerStore:
    """The versioned store under ``root`` and its catalogue."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.catalogue = Catalogue(self.root / "catalogue.duckdb")

    def version_dir(self, layer: str, version: str) -> Path:
        return self.root / layer / version

    # ------------------------------------------------------------------ ingestion

    def needs_ingest(self, layer: str, version: str) -> bool:
        """False when this version was already ingested (accepted or rejected)."""
        return self.catalogue.get(layer, version) is None

    def ingest(self, sources: Path, layer: str, version: str | None = None) -> LayerVersion:
        """Ingest ``version`` (default: the version in force in ``sources``) of ``layer``.
        Returns the catalogue row: status "ok", or "rejected" with its failed checks (the
        version is then stored but never used). Raises IngestError when the files cannot
        be read at all. Ingesting a catalogued version again returns its row unchanged."""
        sources = source_path(sources) if not hasattr(sources, "iterdir") else sources
        version = version or current_version(sources, layer)
        if version is None:
            raise IngestError(f"{sources}/{layer}: no version folder")
        existing = self.catalogue.get(layer, version)
        if existing is not None:
            return existing
        folder = sources / layer / version
        if not folder.is_dir():
            raise IngestError(f"{folder}: no such version folder")
        tmp = self.root / layer / f".{version}.{uuid.uuid4().hex}.tmp"
        tmp.mkdir(parents=True)
        try:
            if layer in RASTER_LAYERS:
                row = self._ingest_raster(folder, layer, version, tmp)
            elif layer in VECTOR_LAYERS:
                row = self._ingest_vector(folder, layer, version, tmp)
            else:
                raise IngestError(f"unknown layer {layer!r} (expected one of {', '.join(ALL_LAYERS)})")
            final = self.version_dir(layer, version)
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        row.store_path = str(final)
        self.catalogue.record(row)
        return row

    def _ingest_raster(self, folder: Path, layer: str, version: str, out: Path) -> LayerVersion:
        files = _files(folder, RASTER_SUFFIXES)
        facts: dict[str, Any] = {}
        if layer == "hansen_gfc":
            facts["last_year"] = hansen_last_year(version, [f for f in files if re.search("lossyear", f.name, re.I)])
        checks: list[dict[str, Any]] = []
        index: list[dict[str, Any]] = []
        bounds = [np.inf, np.inf, -np.inf, -np.inf]
        pixel = None
        used: list[Path] = []
        for band in RASTER_LAYERS[layer]:
            band_files = [f for f in files if band.pattern is None or re.search(band.pattern, f.name, re.I)]
            if not band_files:
                if band.required:
                    raise IngestError(f"{folder}: no {band.name} raster (files matching {band.pattern or '*.tif'})")
                continue
            used += band_files
            try:
                grid_layer = RasterLayer.open(f"{layer}/{band.name}", version, [gdal_path(f) for f in band_files])
            except RasterLayerError as exc:
                raise IngestError(str(exc)) from exc
            g = grid_layer.grid
            if pixel is None:
                pixel = (g.dx, g.dy)
            checks.append(_check(f"{band.name}: CRS EPSG:4326", True, "every tile is EPSG:4326, north-up"))
            checks.append(_check(f"{band.name}: one pixel size", True, f"{g.dx:.10g} x {g.dy:.10g} deg on every tile"))
            lo, hi = band.domain(facts)
            hist: dict[int, int] = {}
            for tile in grid_layer.tiles:
                try:
                    for v, n in _scan_values(tile.path).items():
                        hist[v] = hist.get(v, 0) + n
                    dst = out / band.name / tile.path.rstrip("/").rsplit("/", 1)[-1]
                    _to_cog(tile.path, dst)
                except rasterio.errors.RasterioError as exc:
                    raise IngestError(f"{tile.path}: unreadable raster ({exc})") from exc
                w, s, e, n = (g.x0 + tile.col0 * g.dx, g.y0 - (tile.row0 + tile.height) * g.dy,
                              g.x0 + (tile.col0 + tile.width) * g.dx, g.y0 - tile.row0 * g.dy)
                bounds = [min(bounds[0], w), min(bounds[1], s), max(bounds[2], e), max(bounds[3], n)]
                index.append({"band": band.name, "file": f"{band.name}/{dst.name}", "west": w,
                              "south": s, "east": e, "north": n, "width": tile.width, "height": tile.height})
            bad = sorted(v for v in hist if not (lo <= v <= hi or (band.zero_ok and v == 0)))
            checks.append(_check(f"{band.name}: value domain", not bad,
                                 f"values {min(hist, default=None)}..{max(hist, default=None)}; expected "
                                 f"{'0 or ' if band.zero_ok and lo > 0 else ''}{lo}..{hi}"
                                 + (f"; out of domain: {bad[:10]}" if bad else "")))
            checks.append(_check(f"{band.name}: not empty", sum(hist.values()) > 0,
                                 f"{sum(hist.values())} cells with data"))
            facts[f"{band.name}_values"] = {"min": min(hist, default=None), "max": max(hist, default=None)}
            grid_layer.close()
        (out / "tiles.json").write_text(json.dumps(index, indent=1))
        return LayerVersion(
            layer=layer, version=version, kind="raster",
            status="ok" if all(c["passed"] for c in checks) else "rejected",
            source_uri=str(folder), checksum=_checksum(used, folder),
            ingested_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
            west=bounds[0], south=bounds[1], east=bounds[2], north=bounds[3],
            pixel_size_x=pixel[0] if pixel else None, pixel_size_y=pixel[1] if pixel else None,
            tile_count=len(index), licence=LAYER_SOURCES.get(layer), checks=checks, details=facts,
        )

    def _ingest_vector(self, folder: Path, layer: str, version: str, out: Path) -> LayerVersion:
        files = [f for f in _files(folder, VECTOR_SUFFIXES)]
        if not files:
            raise IngestError(f"{folder}: no vector file ({', '.join(VECTOR_SUFFIXES)})")
        geoms_all, attrs_all = [], []
        for f in files:
            g, attrs = _read_vector(f)
            if layer == "wdpa":
                columns = set(attrs[0]) if attrs else set()
                missing = [c for c in WDPA_REQUIRED if c not in columns]
                if missing:
                    raise IngestError(f"{f}: WDPA file lacks columns {missing}")
            geoms_all.append(g)
            attrs_all += attrs
        geoms = np.concatenate(geoms_all) if geoms_all else np.empty(0, dtype=object)
        missing_geom = int(shapely.is_missing(geoms).sum())
        geoms, repaired = _repair(geoms)
        polygonal = shapely.get_type_id(geoms) != -1
        geoms = np.where(polygonal, geoms, None)
        if layer == "wdpa":
            regs = read_regulations(folder / "regulations.csv")
            records = []
            for a in attrs_all:
                a = {k: (None if isinstance(v, float) and v != v else v) for k, v in a.items()}
                records.append(protected_area_record(a, regs.get(str(a.get("WDPAID")).removesuffix(".0"))))
        else:
            records = [landmark_record(a, i) for i, a in enumerate(attrs_all)]
        keep = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
        geoms = geoms[keep]
        records = [r for r, k in zip(records, keep) if k]
        write_geoparquet(out / f"{layer}.parquet", geoms, records)
        b = shapely.total_bounds(geoms) if len(geoms) else [None] * 4
        checks = [
            _check("not empty", len(geoms) > 0, f"{len(geoms)} polygons"),
            _check("geometry validity", True, f"{repaired} invalid polygons repaired, {missing_geom} without geometry dropped"),
            _check("polygons only", bool(np.isin(shapely.get_type_id(geoms), (3, 6)).all()) if len(geoms) else True,
                   "every geometry is a Polygon or MultiPolygon"),
        ]
        return LayerVersion(
            layer=layer, version=version, kind="vector",
            status="ok" if all(c["passed"] for c in checks) else "rejected",
            source_uri=str(folder), checksum=_checksum(files, folder),
            ingested_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
            west=b[0], south=b[1], east=b[2], north=b[3], row_count=len(geoms), repaired_count=repaired,
            licence=LAYER_SOURCES.get(layer), checks=checks, details={},
        )

    # ------------------------------------------------------------------ reading

    def raster(self, layer: str, band: str, row: LayerVersion) -> RasterLayer | None:
        index = json.loads((Path(row.store_path) / "tiles.json").read_text())
        paths = [Path(row.store_path) / t["file"] for t in index if t["band"] == band]
        if not paths:
            return None
        return RasterLayer.open(layer if band in ("forest_2020", "lossyear", "degradation_year") else f"{layer}_{band}",
                                row.version, paths, source_name=row.licence or layer)

    def vector(self, layer: str, row: LayerVersion, bbox: tuple[float, float, float, float] | None) -> VectorLayer:
        geoms, records = read_geoparquet(Path(row.store_path) / f"{layer}.parquet", bbox)
        return VectorLayer(layer, row.version, geoms, records, source_name=row.licence or layer)

    def current_versions(self) -> dict[str, LayerVersion]:
        out = {}
        for layer in ALL_LAYERS:
            v = self.catalogue.current(layer)
            if v is not None:
                out[layer] = v
        return out

    def open_layer_set(self, bbox: tuple[float, float, float, float] | None = None,
                       versions: dict[str, str] | None = None) -> LayerSet:
        """The layers in use (newest accepted version of each, or ``versions``), vectors
        restricted to polygons whose bbox intersects ``bbox`` (lon/lat degrees)."""
        rows = self.current_versions()
        for layer, v in (versions or {}).items():
            row = self.catalogue.get(layer, v)
            if row is None or row.status != "ok":
                raise LayerSourceError(f"layer {layer} version {v} is not an accepted version in the store")
            rows[layer] = row
        gfc, hansen, tmf = rows.get("jrc_gfc2020"), rows.get("hansen_gfc"), rows.get("jrc_tmf")
        return LayerSet(
            forest_2020=self.raster("jrc_gfc2020", "forest_2020", gfc) if gfc else None,
            loss_year=self.raster("hansen_gfc", "lossyear", hansen) if hansen else None,
            loss_last_year=int(hansen.details["last_year"]) if hansen else 0,
            tree_cover_2000=self.raster("hansen_gfc", "treecover2000", hansen) if hansen else None,
            degradation_year=self.raster("jrc_tmf", "degradation_year", tmf) if tmf else None,
            protected_areas=self.vector("wdpa", rows["wdpa"], bbox) if "wdpa" in rows else None,
            indigenous_lands=self.vector("landmark", rows["landmark"], bbox) if "landmark" in rows else None,
        )


# ---------------------------------------------------------------------- GeoParquet

def write_geoparquet(path: Path, geoms: np.ndarray, records: list[dict[str, Any]]) -> None:
    """GeoParquet 1.1: WKB geometry, a ``bbox`` struct covering column, JSON attributes
    (their keys vary by layer), rows sorted by location so row groups cover small areas."""
    b = shapely.bounds(geoms) if len(geoms) else np.empty((0, 4))
    order = np.lexsort((b[:, 0], np.floor(b[:, 1]))) if len(geoms) else np.empty(0, int)
    geoms = geoms[order]
    b = b[order]
    records = [records[i] for i in order]
    bbox = pa.StructArray.from_arrays([pa.array(b[:, k], pa.float64()) for k in range(4)],
                                      names=["xmin", "ymin", "xmax", "ymax"])
    table = pa.table({
        "geometry": pa.array(shapely.to_wkb(geoms).tolist(), pa.binary()),
        "bbox": bbox,
        "attributes": pa.array([json.dumps(r, ensure_ascii=False, default=str) for r in records], pa.string()),
    })
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": {
        "encoding": "WKB", "geometry_types": ["Polygon", "MultiPolygon"], "crs": None,
        "bbox": [float(x) for x in shapely.total_bounds(geoms)] if len(geoms) else [],
        "covering": {"bbox": {"xmin": ["bbox", "xmin"], "ymin": ["bbox", "ymin"],
                              "xmax": ["bbox", "xmax"], "ymax": ["bbox", "ymax"]}}}}}
    table = table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    pq.write_table(table, path, row_group_size=2048, compression="zstd")


def read_geoparquet(path: Path, bbox: tuple[float, float, float, float] | None = None) -> tuple[np.ndarray, list[dict]]:
    """Geometries and attribute dicts of a store GeoParquet, only rows whose bbox column
    intersects ``bbox`` (row groups outside it are skipped by their statistics)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    dataset = ds.dataset(path, format="parquet")
    flt = None
    if bbox is not None:
        w, s, e, n = bbox
        f = pc.field
        flt = ((f("bbox", "xmin") <= e) & (f("bbox", "xmax") >= w) & (f("bbox", "ymin") <= n) & (f("bbox", "ymax") >= s))
    table = dataset.to_table(columns=["geometry", "attributes"], filter=flt)
    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    records = [json.loads(a) for a in table.column("attributes").to_pylist()]
    return np.asarray(geoms, dtype=object), records
