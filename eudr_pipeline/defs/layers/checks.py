"""Asset checks on the layer version in use. They only look: a failed check, being
blocking, stops downstream assets in the same run, and the ``layer_check_sensor``
(sensors.py) reacts to it by demoting that version, so analyses fall back to the
previous accepted version."""

import dagster as dg
import numpy as np
import rasterio
import shapely

from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.layers.catalogue import LayerVersion
from eudr_pipeline.layers.reference_layers import ALL_LAYERS, IMAGERY_LAYER, RASTER_LAYERS
from eudr_pipeline.layers.store import LayerStore


def _raster_header_problems(store: LayerStore, row: LayerVersion) -> tuple[list[str], list[str]]:
    """(CRS problems, pixel-size problems) of the stored tiles of ``row``."""
    crs, pixel = [], []
    sizes = {}
    for t in store.tile_index(row):
        with rasterio.open(store.file_path(row, t["file"])) as ds:
            if ds.crs is None or ds.crs.to_epsg() != 4326:
                crs.append(f"{t['file']}: {ds.crs}")
            sizes.setdefault(t["band"], set()).add((round(ds.transform.a, 12), round(-ds.transform.e, 12)))
    for band, s in sizes.items():
        if len(s) > 1:
            pixel.append(f"{band}: {sorted(s)}")
    return crs, pixel


def _result(row: LayerVersion, passed: bool, detail: str, **metadata) -> dg.AssetCheckResult:
    """The check's verdict on ``row``; its metadata names the version it judged."""
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.ERROR,
                               metadata={"version": row.version, "detail": detail, **metadata})


NO_VERSION = dg.AssetCheckResult(passed=False, metadata={"detail": "no accepted version in the store"})


def crs_and_pixel_size(store: LayerStore, row: LayerVersion) -> dg.AssetCheckResult:
    crs, pixel = _raster_header_problems(store, row)
    detail = "; ".join(crs + pixel) or f"{row.tile_count} tiles, EPSG:4326, {row.pixel_size_x:.10g} deg"
    return _result(row, not crs and not pixel, detail)


def value_domain(store: LayerStore, row: LayerVersion) -> dg.AssetCheckResult:
    found = [c for c in row.checks if c["name"].endswith(("value domain", "not empty"))]
    bad = [c for c in found if not c["passed"]]
    return _result(row, bool(found) and not bad, "; ".join(f"{c['name']}: {c['detail']}" for c in found),
                   ranges=dg.MetadataValue.json({k: v for k, v in row.details.items() if k.endswith("_values")}))


def geometry_validity(store: LayerStore, row: LayerVersion) -> dg.AssetCheckResult:
    geoms, _ = store.polygons(row)
    invalid = int((~shapely.is_valid(geoms)).sum())
    non_polygon = int((~np.isin(shapely.get_type_id(geoms), (3, 6))).sum())
    return _result(row, len(geoms) > 0 and invalid == 0 and non_polygon == 0,
                   f"{len(geoms)} polygons, {invalid} invalid, {non_polygon} not polygonal, "
                   f"{row.repaired_count} repaired at ingestion",
                   rows=len(geoms), invalid=invalid, repaired_at_ingestion=row.repaired_count or 0)


def imagery_scenes(store: LayerStore, row: LayerVersion) -> dg.AssetCheckResult:
    problems = []
    index = store.tile_index(row)
    for t in index:
        with rasterio.open(store.file_path(row, t["file"])) as ds:
            if ds.crs is None or ds.count < 3 or any(d != "uint8" for d in ds.dtypes[:3]):
                problems.append(f"{t['file']}: {ds.count} band(s) {', '.join(ds.dtypes)}, CRS {ds.crs}")
    return _result(row, bool(index) and not problems,
                   "; ".join(problems) or f"{len(index)} RGB scenes dated {', '.join(t['date'] for t in index)}",
                   scenes=len(index))


CHECKS = {  # name -> (what it verifies, the judge of a stored version in its store)
    "crs_and_pixel_size": ("Every stored tile is EPSG:4326 and every tile of a band has the same pixel size.",
                           crs_and_pixel_size),
    "value_domain": ("Values within the layer's domain (forest 0/1, loss year 0..N, tree cover 0..100, "
                     "degradation year) and not empty.", value_domain),
    "geometry_validity": ("The stored polygons are valid, polygonal and not empty; repaired polygons counted.",
                          geometry_validity),
    "imagery_scenes": ("Every stored scene is georeferenced with three uint8 bands (red, green, blue).",
                       imagery_scenes),
}
LAYER_CHECKS = {layer: ("crs_and_pixel_size", "value_domain") if layer in RASTER_LAYERS
                else ("imagery_scenes",) if layer == IMAGERY_LAYER else ("geometry_validity",) for layer in ALL_LAYERS}


def build_check(layer: str, name: str) -> dg.AssetChecksDefinition:
    """The blocking check ``name`` of ``layer``, judging the layer's version in use."""
    description, judge = CHECKS[name]

    @dg.asset_check(asset=layer, name=name, blocking=True, description=description)
    def check(layer_store: LayerStoreResource) -> dg.AssetCheckResult:
        store = layer_store.store()
        row = store.catalogue.current(layer)
        return NO_VERSION if row is None else judge(store, row)

    return check


layer_checks = [build_check(layer, name) for layer, names in LAYER_CHECKS.items() for name in names]
