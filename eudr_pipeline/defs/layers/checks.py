"""Asset checks on the layer version in use. A failed check demotes that version in the
catalogue (status "rejected"), so analyses fall back to the previous accepted version,
and, being blocking, stops downstream assets in the same run."""

import json
from pathlib import Path

import dagster as dg
import numpy as np
import rasterio
import shapely

from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.layers.catalogue import LayerVersion
from eudr_pipeline.layers.store import ALL_LAYERS, RASTER_LAYERS, read_geoparquet


def _raster_header_problems(row: LayerVersion) -> tuple[list[str], list[str]]:
    """(CRS problems, pixel-size problems) of the stored tiles of ``row``."""
    crs, pixel = [], []
    index = json.loads((Path(row.store_path) / "tiles.json").read_text())
    sizes = {}
    for t in index:
        with rasterio.open(Path(row.store_path) / t["file"]) as ds:
            if ds.crs is None or ds.crs.to_epsg() != 4326:
                crs.append(f"{t['file']}: {ds.crs}")
            sizes.setdefault(t["band"], set()).add((round(ds.transform.a, 12), round(-ds.transform.e, 12)))
    for band, s in sizes.items():
        if len(s) > 1:
            pixel.append(f"{band}: {sorted(s)}")
    return crs, pixel


def _result(store, row: LayerVersion, passed: bool, detail: str, **metadata) -> dg.AssetCheckResult:
    if not passed:
        store.catalogue.set_status(row.layer, row.version, "rejected")
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.ERROR,
                               metadata={"version": row.version, "detail": detail, **metadata})


NO_VERSION = dg.AssetCheckResult(passed=False, metadata={"detail": "no accepted version in the store"})


def build_checks(layer: str) -> list:
    checks = []

    def current(layer_store: LayerStoreResource):
        store = layer_store.store()
        return store, store.catalogue.current(layer)

    def recorded(row: LayerVersion, prefix: str) -> list[dict]:
        return [c for c in row.checks if c["name"].endswith(prefix)]

    if layer in RASTER_LAYERS:
        @dg.asset_check(asset=layer, name="crs_and_pixel_size", blocking=True,
                        description="Every stored tile is EPSG:4326 and every tile of a band has the same pixel size.")
        def crs_and_pixel_size(layer_store: LayerStoreResource) -> dg.AssetCheckResult:
            store, row = current(layer_store)
            if row is None:
                return NO_VERSION
            crs, pixel = _raster_header_problems(row)
            detail = "; ".join(crs + pixel) or f"{row.tile_count} tiles, EPSG:4326, {row.pixel_size_x:.10g} deg"
            return _result(store, row, not crs and not pixel, detail)

        @dg.asset_check(asset=layer, name="value_domain", blocking=True,
                        description="Values within the layer's domain (forest 0/1, loss year 0..N, tree cover 0..100, degradation year) and not empty.")
        def value_domain(layer_store: LayerStoreResource) -> dg.AssetCheckResult:
            store, row = current(layer_store)
            if row is None:
                return NO_VERSION
            found = recorded(row, "value domain") + recorded(row, "not empty")
            bad = [c for c in found if not c["passed"]]
            return _result(store, row, bool(found) and not bad, "; ".join(f"{c['name']}: {c['detail']}" for c in found),
                           ranges=dg.MetadataValue.json({k: v for k, v in row.details.items() if k.endswith("_values")}))

        checks += [crs_and_pixel_size, value_domain]
    else:
        @dg.asset_check(asset=layer, name="geometry_validity", blocking=True,
                        description="The stored polygons are valid, polygonal and not empty; repaired polygons counted.")
        def geometry_validity(layer_store: LayerStoreResource) -> dg.AssetCheckResult:
            store, row = current(layer_store)
            if row is None:
                return NO_VERSION
            geoms, _ = read_geoparquet(Path(row.store_path) / f"{layer}.parquet")
            invalid = int((~shapely.is_valid(geoms)).sum())
            non_polygon = int((~np.isin(shapely.get_type_id(geoms), (3, 6))).sum())
            passed = len(geoms) > 0 and invalid == 0 and non_polygon == 0
            return _result(store, row, passed,
                           f"{len(geoms)} polygons, {invalid} invalid, {non_polygon} not polygonal, "
                           f"{row.repaired_count} repaired at ingestion",
                           rows=len(geoms), invalid=invalid, repaired_at_ingestion=row.repaired_count or 0)

        checks.append(geometry_validity)
    return checks


layer_checks = [c for layer in ALL_LAYERS for c in build_checks(layer)]
