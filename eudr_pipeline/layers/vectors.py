"""Reading and normalising the vector layers (WDPA protected areas, LandMark indigenous
and community lands) from their release files: GeoJSON, GeoParquet, GeoPackage,
shapefile or FlatGeobuf, in any CRS, reprojected to lon/lat EPSG:4326 degrees.

Both the layer source reader (``eudr analyze``) and the layer store (ingestion) read
vectors here, so a polygon is repaired and its attributes mapped to analysis.md
section 4 in exactly one way."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from eudr_pipeline.core.overlaps import VectorLayer
from eudr_pipeline.errors import LayerSourceError
from eudr_pipeline.layers.reference_layers import ATTRIBUTIONS, VECTOR_SUFFIXES, WDPA_REQUIRED_COLUMNS
from eudr_pipeline.layers.remote import files_in, gdal_path

IUCN_CATEGORIES = ("Ia", "Ib", "II", "III", "IV", "V", "VI")
LEGALITY_BY_IUCN = {"Ia": "prohibited", "Ib": "prohibited", "II": "prohibited", "III": "prohibited",
                    "IV": "limited", "V": "limited", "VI": "permitted"}
LEGALITY_CONDITIONS = {
    "prohibited": "Extractive activity is prohibited: strict protection (IUCN {cat}).",
    "limited": "Extractive activity is limited: only activities compatible with the area's management plan (IUCN {cat}).",
    "permitted": "Sustainable extractive use is permitted under the area's management (IUCN {cat}).",
    "unknown": "No IUCN category or regulation on record: check the designation ({desig}) with the authority.",
}


@dataclass
class LayerPolygons:
    """The polygons of one vector layer version (lon/lat, valid, polygonal) with their
    normalised attribute records, and what was done to get there."""

    geometries: np.ndarray
    records: list[dict[str, Any]]
    repaired: int  # invalid polygons made valid
    dropped: int  # features without a polygonal geometry


# ---------------------------------------------------------------- files

def _to_wgs84(geoms: np.ndarray, crs: Any) -> np.ndarray:
    """Geometries reprojected from ``crs`` to EPSG:4326 lon/lat (no-op when already there)."""
    if crs in (None, "", "EPSG:4326", "OGC:CRS84"):
        return geoms
    from pyproj import CRS, Transformer

    src = CRS.from_user_input(crs)
    if src.to_epsg() == 4326 or src.equals(CRS.from_user_input("OGC:CRS84")):
        return geoms
    t = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _read_geojson(path: Path) -> tuple[np.ndarray, list[dict[str, Any]]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    feats = doc.get("features", []) if isinstance(doc, dict) else []
    geoms = np.array([shapely.geometry.shape(f["geometry"]) if f.get("geometry") else None for f in feats], dtype=object)
    crs = ((doc.get("crs") or {}).get("properties") or {}).get("name")
    return _to_wgs84(geoms, None if crs and "CRS84" in crs else crs), [dict(f.get("properties") or {}) for f in feats]


def _read_parquet(path: Path) -> tuple[np.ndarray, list[dict[str, Any]]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path if isinstance(path, Path) else io.BytesIO(path.read_bytes()))
    geo = json.loads((table.schema.metadata or {}).get(b"geo", b"{}"))
    col = geo.get("primary_column", "geometry")
    crs = ((geo.get("columns") or {}).get(col) or {}).get("crs")
    geoms = shapely.from_wkb(table.column(col).to_numpy(zero_copy_only=False))
    return _to_wgs84(geoms, json.dumps(crs) if isinstance(crs, dict) else crs), table.drop_columns([col]).to_pylist()


def _read_with_gdal(path: Path) -> tuple[np.ndarray, list[dict[str, Any]]]:
    import pyogrio.raw

    meta, _, wkb, fields = pyogrio.raw.read(gdal_path(path))
    geoms = shapely.from_wkb(wkb)
    names = list(meta["fields"])
    records = [dict(zip(names, row)) for row in zip(*[f.tolist() for f in fields])] if names else [{} for _ in geoms]
    return _to_wgs84(geoms, meta.get("crs")), records


def read_vector_file(path: Path) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Geometries (lon/lat, EPSG:4326) and attribute dicts of a vector file. GeoJSON and
    GeoParquet are read directly; other formats (GeoPackage, shapefile...) through GDAL."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".geojson", ".json"):
            return _read_geojson(path)
        if suffix == ".parquet":
            return _read_parquet(path)
        return _read_with_gdal(path)
    except LayerSourceError:
        raise
    except Exception as exc:  # GDAL, arrow and JSON readers raise many kinds
        raise LayerSourceError(f"cannot read {path}: {exc}") from exc


def repair_polygons(geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """Invalid polygons made valid (and counted), keeping only their polygonal part."""
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    n = int(invalid.sum())
    if n:
        geoms = geoms.copy()
        for k, g in zip(np.flatnonzero(invalid), shapely.make_valid(geoms[invalid])):
            if g.geom_type not in ("Polygon", "MultiPolygon"):
                polys = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
                g = shapely.union_all(polys) if polys else None
            geoms[k] = g
    return geoms, n


# ---------------------------------------------------------------- attributes

def _isnan(v: Any) -> bool:
    return isinstance(v, float) and v != v


def _first(attrs: dict, *names: str) -> Any:
    lower = {k.lower(): v for k, v in attrs.items()}
    for n in names:
        v = lower.get(n.lower())
        if v is not None and not _isnan(v):
            return v
    return None


def normalise_iucn(value: Any) -> str | None:
    """IUCN_CAT as one of Ia..VI, else None ("Not Reported", "Not Applicable", ...)."""
    if value is None:
        return None
    s = str(value).strip()
    return next((cat for cat in IUCN_CATEGORIES if s.lower() == cat.lower()), None)


def read_regulations(path: Path) -> dict[str, list[tuple[str, str]]]:
    """regulations.csv rows (WDPAID, regulation_name, regulation_url) by WDPAID."""
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


def protected_area_record(attrs: dict[str, Any], regulations: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The analysis.md section 4 fields of one WDPA polygon from its WDPA attributes."""
    attrs = {k: (None if _isnan(v) else v) for k, v in attrs.items()}
    cat = normalise_iucn(attrs.get("IUCN_CAT"))
    legality = LEGALITY_BY_IUCN.get(cat, "unknown") if cat else "unknown"
    wdpaid = attrs.get("WDPAID")
    if isinstance(wdpaid, float) and wdpaid.is_integer():
        wdpaid = int(wdpaid)
    source = attrs.get("MANG_AUTH") or attrs.get("DATA_PROVIDER") or attrs.get("METADATAID") or "WDPA"
    if isinstance(source, str) and source.strip().lower() in ("not reported", "not applicable", ""):
        source = "WDPA"
    regs = regulations or []
    return {
        "area_id": str(wdpaid),
        "area_name": attrs.get("NAME"),
        "local_name": attrs.get("ORIG_NAME"),
        "source_name": str(source),
        "iucn_category": cat,
        "extractive_activity_legality": legality,
        "extractive_activity_conditions": LEGALITY_CONDITIONS[legality].format(
            cat=cat, desig=attrs.get("DESIG_ENG") or "unknown designation"),
        "regulation_names": [n for n, _ in regs],
        "regulation_urls": [u for _, u in regs],
        "type": attrs.get("DESIG_ENG"),
    }


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


# ---------------------------------------------------------------- a layer version

def _records(layer: str, folder: Path, attrs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if layer == "wdpa":
        regs = read_regulations(folder / "regulations.csv")
        return [protected_area_record(a, regs.get(str(a.get("WDPAID")).removesuffix(".0"))) for a in attrs]
    return [landmark_record(a, i) for i, a in enumerate(attrs)]


def read_layer_polygons(folder: Path, layer: str) -> LayerPolygons | None:
    """Every polygon of a vector layer version folder (``wdpa`` or ``landmark``),
    repaired, with normalised records; None when the folder holds no vector file. A
    WDPA file without the WDPAID column is a LayerSourceError naming it."""
    files = files_in(folder, VECTOR_SUFFIXES)
    if not files:
        return None
    geoms_all, attrs_all = [], []
    for f in files:
        g, attrs = read_vector_file(f)
        missing = [c for c in WDPA_REQUIRED_COLUMNS if c not in (set(attrs[0]) if attrs else set())]
        if layer == "wdpa" and missing:
            raise LayerSourceError(f"{f}: WDPA file lacks columns {missing} (needs {list(WDPA_REQUIRED_COLUMNS)})")
        geoms_all.append(g)
        attrs_all += attrs
    geoms, repaired = repair_polygons(np.concatenate(geoms_all))
    records = _records(layer, folder, attrs_all)
    keep = np.isin(shapely.get_type_id(geoms), (3, 6)) & ~shapely.is_empty(geoms)
    return LayerPolygons(geoms[keep], [r for r, k in zip(records, keep) if k], repaired, int((~keep).sum()))


def read_vector_layer(folder: Path, layer: str, version: str) -> VectorLayer | None:
    """A vector layer version folder as the analysis reads it (None: no vector file)."""
    polygons = read_layer_polygons(folder, layer)
    if polygons is None:
        return None
    return VectorLayer(layer, version, polygons.geometries, polygons.records, source_name=ATTRIBUTIONS[layer])
