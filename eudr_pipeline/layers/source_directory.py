"""Reading a layer source directory (analysis.md section 1).

    SOURCES/<layer>/<version>/<files>

The version string is the folder name; the newest version is the greatest under natural
sort unless ``SOURCES/<layer>/manifest.json`` pins one (``{"version": "V2"}``)."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from eudr_pipeline.core.analysis import LayerSet
from eudr_pipeline.core.overlaps import VectorLayer, protected_area_record
from eudr_pipeline.core.rasters import RasterLayer, RasterLayerError
from eudr_pipeline.layers.remote import gdal_path

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt")
VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".parquet", ".fgb")

# source names and attributions written into every analysis' `sources`
LAYER_SOURCES = {
    "jrc_gfc2020": "JRC Global Forest Cover 2020 (EC JRC, CC BY 4.0)",
    "hansen_gfc": "Hansen/UMD/Google/USGS/NASA Global Forest Change (CC BY 4.0)",
    "jrc_tmf": "JRC Tropical Moist Forest (EC JRC, CC BY 4.0)",
    "wdpa": "WDPA (UNEP-WCMC and IUCN, Protected Planet)",
    "landmark": "LandMark: Global Platform of Indigenous and Community Lands",
}
WDPA_REQUIRED = ("WDPAID",)  # the rest of the WDPA schema (NAME, IUCN_CAT, ...) is read where present


class LayerSourceError(ValueError):
    """A layer source directory or one of its files is unusable; the message names it."""


def source_path(uri: str | Path):
    """A layer source given as a path, a file:// URI, or any fsspec/GDAL URI (https://,
    s3://, gs://, az://): a local Path, or a RemotePath with the same reading methods."""
    text = str(uri)
    if text.startswith("file://"):
        return Path(text[len("file://"):])
    if "://" in text:
        from eudr_pipeline.layers.remote import VSI_PREFIX, RemotePath

        scheme = text.split("://", 1)[0]
        if scheme not in VSI_PREFIX:
            raise LayerSourceError(f"layer source {text}: {scheme}:// is not supported "
                                   f"(use a path, file://, or one of {', '.join(s + '://' for s in VSI_PREFIX)})")
        try:
            return RemotePath(text)
        except (ImportError, ValueError) as exc:
            raise LayerSourceError(f"layer source {text}: {exc}") from exc
    return Path(text)


def natural_key(s: str) -> list:
    """Sort key comparing digit runs as numbers: v1.9 < v1.12, V2 < V10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _as_source(sources):
    return sources if hasattr(sources, "iterdir") else source_path(sources)


def layer_versions(sources: Path, layer: str) -> list[str]:
    """Version folders of ``layer`` under ``sources``, oldest first (natural sort)."""
    d = _as_source(sources) / layer
    if not d.is_dir():
        return []
    return sorted((p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")), key=natural_key)


def current_version(sources: Path, layer: str) -> str | None:
    """The version in force: the manifest's pin, else the newest folder."""
    versions = layer_versions(sources, layer)
    manifest = _as_source(sources) / layer / "manifest.json"
    if manifest.is_file():
        try:
            pin = json.loads(manifest.read_text()).get("version")
        except (json.JSONDecodeError, AttributeError) as exc:
            raise LayerSourceError(f"{manifest}: not a JSON object with a 'version': {exc}") from exc
        if pin is not None:
            if str(pin) not in versions:
                raise LayerSourceError(f"{manifest} pins version {pin!r}, which is not a folder of {layer}")
            return str(pin)
    return versions[-1] if versions else None


def _files(folder: Path, suffixes: tuple[str, ...], pattern: str | None = None) -> list[Path]:
    out = []
    for p in sorted(folder.rglob("*"), key=str):
        if p.is_file() and p.suffix.lower() in suffixes and (pattern is None or re.search(pattern, p.name, re.I)):
            out.append(p)
    return out


def hansen_last_year(version: str, files: list[Path]) -> int:
    """Last loss year of a Hansen GFC release: from file names (GFC-2024-v1.12 -> 2024),
    else from the version (v1.N -> 2012 + N)."""
    for f in files:
        m = re.search(r"GFC-(\d{4})", f.name)
        if m:
            return int(m.group(1))
    m = re.match(r"v?1\.(\d+)$", version, re.I)
    if m:
        return 2012 + int(m.group(1))
    raise LayerSourceError(
        f"hansen_gfc/{version}: cannot tell the last loss year (name files like Hansen_GFC-2024-v1.12_lossyear_*.tif "
        "or the version folder like v1.12)"
    )


def _raster(sources: Path, layer: str, version: str, pattern: str | None, label: str) -> RasterLayer | None:
    files = _files(_as_source(sources) / layer / version, RASTER_SUFFIXES, pattern)
    if not files:
        return None
    try:
        return RasterLayer.open(label, version, [gdal_path(f) for f in files], source_name=LAYER_SOURCES.get(layer, layer))
    except RasterLayerError as exc:
        raise LayerSourceError(str(exc)) from exc


def _to_wgs84(geoms: np.ndarray, crs: Any, path: Path) -> np.ndarray:
    """Reproject lon/lat-less geometries to EPSG:4326 (no-op when already there)."""
    if crs in (None, "", "EPSG:4326", "OGC:CRS84"):
        return geoms
    from pyproj import CRS, Transformer

    src = CRS.from_user_input(crs)
    if src.to_epsg() == 4326 or src.equals(CRS.from_user_input("OGC:CRS84")):
        return geoms
    t = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _read_vector(path: Path) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Geometries (lon/lat, EPSG:4326) and attribute dicts of a vector file. GeoJSON and
    GeoParquet are read directly; other formats (GeoPackage, shapefile...) through GDAL."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".geojson", ".json"):
            doc = json.loads(path.read_text(encoding="utf-8"))
            feats = doc.get("features", []) if isinstance(doc, dict) else []
            geoms = np.array([shapely.geometry.shape(f["geometry"]) if f.get("geometry") else None for f in feats],
                             dtype=object)
            crs = ((doc.get("crs") or {}).get("properties") or {}).get("name")
            if crs and "CRS84" in crs:
                crs = None
            return _to_wgs84(geoms, crs, path), [dict(f.get("properties") or {}) for f in feats]
        if suffix == ".parquet":
            import io

            import pyarrow.parquet as pq

            table = pq.read_table(io.BytesIO(path.read_bytes()) if not isinstance(path, Path) else path)
            geo = json.loads((table.schema.metadata or {}).get(b"geo", b"{}"))
            col = geo.get("primary_column", "geometry")
            crs = ((geo.get("columns") or {}).get(col) or {}).get("crs")
            geoms = shapely.from_wkb(table.column(col).to_numpy(zero_copy_only=False))
            records = table.drop_columns([col]).to_pylist()
            return _to_wgs84(geoms, json.dumps(crs) if isinstance(crs, dict) else crs, path), records
        import pyogrio.raw

        meta, _, wkb, fields = pyogrio.raw.read(gdal_path(path))
        geoms = shapely.from_wkb(wkb)
        names = list(meta["fields"])
        records = [dict(zip(names, row)) for row in zip(*[f.tolist() for f in fields])] if names else [{} for _ in geoms]
        return _to_wgs84(geoms, meta.get("crs"), path), records
    except LayerSourceError:
        raise
    except Exception as exc:  # GDAL, arrow and JSON readers raise many kinds
        raise LayerSourceError(f"cannot read {path}: {exc}") from exc


def _repair(geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """Make polygons valid (counted), keeping only their polygonal part."""
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    n = int(invalid.sum())
    if n:
        geoms = geoms.copy()
        fixed = shapely.make_valid(geoms[invalid])
        for k, g in zip(np.flatnonzero(invalid), fixed):
            if g.geom_type not in ("Polygon", "MultiPolygon"):
                polys = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
                g = shapely.union_all(polys) if polys else None
            geoms[k] = g
    return geoms, n


def read_regulations(path: Path) -> dict[str, list[tuple[str, str]]]:
    """regulations.csv rows (WDPAID, regulation_name, regulation_url[, legality]) by WDPAID."""
    out: dict[str, list[tuple[str, str]]] = {}
    if not path.is_file():
        return out
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"WDPAID", "regulation_name", "regulation_url"} - set(reader.fieldnames or [])
        if missing:
            raise LayerSourceError(f"{path}: missing columns {sorted(missing)}")
        for row in reader:
            key = str(row["WDPAID"]).strip().removesuffix(".0")
            out.setdefault(key, []).append((row["regulation_name"], row["regulation_url"]))
    return out


def read_protected_areas(folder: Path, version: str) -> VectorLayer | None:
    """WDPA polygons of one version folder, attributes mapped to analysis.md section 4."""
    files = [f for f in _files(folder, VECTOR_SUFFIXES) if f.name != "regulations.csv"]
    if not files:
        return None
    geoms_all: list[np.ndarray] = []
    attrs_all: list[dict[str, Any]] = []
    for f in files:
        g, attrs = _read_vector(f)
        columns = set(attrs[0]) if attrs else set()
        missing = [c for c in WDPA_REQUIRED if c not in columns]
        if missing:
            raise LayerSourceError(f"{f}: WDPA file lacks columns {missing} (needs {list(WDPA_REQUIRED)})")
        geoms_all.append(g)
        attrs_all.extend(attrs)
    regs = read_regulations(folder / "regulations.csv")
    geoms, _ = _repair(np.concatenate(geoms_all))
    records = []
    for attrs in attrs_all:
        attrs = {k: (None if _isnan(v) else v) for k, v in attrs.items()}
        wid = str(attrs.get("WDPAID")).removesuffix(".0")
        records.append(protected_area_record(attrs, regs.get(wid)))
    return VectorLayer("wdpa", version, geoms, records, source_name=LAYER_SOURCES["wdpa"])


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and v != v


def _first(attrs: dict, *names: str) -> Any:
    lower = {k.lower(): v for k, v in attrs.items()}
    for n in names:
        v = lower.get(n.lower())
        if v is not None and not _isnan(v):
            return v
    return None


def landmark_record(attrs: dict[str, Any], index: int) -> dict[str, Any]:
    """Indigenous-land detail fields from LandMark attributes or the minimal schema
    (id, name, land_status, government_acknowledged)."""
    ack = _first(attrs, "government_acknowledged", "Form_Rec", "Gov_Ack")
    if isinstance(ack, str):
        ack = ack.strip().lower().startswith("acknowledged") or ack.strip().lower() in ("true", "yes", "1")
    return {
        "id": str(_first(attrs, "id", "Identity", "OBJECTID", "fid") or index),
        "name": _first(attrs, "name", "Name", "Name_Eng"),
        "government_acknowledged": None if ack is None else bool(ack),
        "land_status": _first(attrs, "land_status", "Doc_Status", "Category", "Status"),
    }


def read_indigenous_lands(folder: Path, version: str) -> VectorLayer | None:
    files = _files(folder, VECTOR_SUFFIXES)
    if not files:
        return None
    read = [_read_vector(f) for f in files]
    geoms, _ = _repair(np.concatenate([g for g, _ in read]))
    records = [landmark_record(a, i) for i, a in enumerate(a for _, attrs in read for a in attrs)]
    return VectorLayer("landmark", version, geoms, records, source_name=LAYER_SOURCES["landmark"])


@dataclass(frozen=True)
class SourceVersions:
    """The version in force of each layer (None where the layer is absent)."""

    jrc_gfc2020: str | None
    hansen_gfc: str | None
    jrc_tmf: str | None
    wdpa: str | None
    landmark: str | None


def source_versions(sources: Path) -> SourceVersions:
    return SourceVersions(*(current_version(sources, n) for n in ("jrc_gfc2020", "hansen_gfc", "jrc_tmf", "wdpa", "landmark")))


def open_layer_set(sources: Path | str) -> LayerSet:
    """Open the version in force of every layer under ``sources``."""
    sources = _as_source(sources)
    if not sources.is_dir():
        raise LayerSourceError(f"layer source directory {sources} does not exist")
    v = source_versions(sources)
    if v.jrc_gfc2020 is None and v.hansen_gfc is None and v.wdpa is None and v.landmark is None:
        raise LayerSourceError(
            f"{sources} holds no layer folders (expected jrc_gfc2020/, hansen_gfc/, jrc_tmf/, wdpa/, landmark/)")
    forest = _raster(sources, "jrc_gfc2020", v.jrc_gfc2020, None, "jrc_gfc2020") if v.jrc_gfc2020 else None
    loss = tree = None
    last_year = 0
    if v.hansen_gfc:
        folder = sources / "hansen_gfc" / v.hansen_gfc
        loss = _raster(sources, "hansen_gfc", v.hansen_gfc, r"lossyear", "hansen_gfc")
        tree = _raster(sources, "hansen_gfc", v.hansen_gfc, r"treecover2000", "hansen_gfc_treecover2000")
        if loss is not None:
            last_year = hansen_last_year(v.hansen_gfc, _files(folder, RASTER_SUFFIXES, r"lossyear"))
    deg = _raster(sources, "jrc_tmf", v.jrc_tmf, r"DegradationYear", "jrc_tmf") if v.jrc_tmf else None
    wdpa = read_protected_areas(sources / "wdpa" / v.wdpa, v.wdpa) if v.wdpa else None
    land = read_indigenous_lands(sources / "landmark" / v.landmark, v.landmark) if v.landmark else None
    return LayerSet(forest_2020=forest, loss_year=loss, loss_last_year=last_year, tree_cover_2000=tree,
                    degradation_year=deg, protected_areas=wdpa, indigenous_lands=land)
