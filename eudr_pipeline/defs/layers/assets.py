"""One observable source asset and one ingestion asset per reference layer.

`<layer>_source` observes the layer source directory and reports the version in force
there as its data version: in every `layer_refresh` run, and every
EUDR_LAYER_OBSERVE_MINUTES through the ``layer_observation_sensor`` (sensors.py), so a new
version folder shows in Dagster (`<layer>` stale: its source has a new data version)
before it is ingested. `<layer>` ingests that version into the layer store (COG /
GeoParquet + catalogue row) and reports the version as its data version, so every
downstream analysis shows as stale when a new version lands. A version already in the
catalogue is never ingested twice: the asset then materializes nothing."""

import base64
import io
import warnings

import dagster as dg
import numpy as np

from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.errors import LayerSourceError
from eudr_pipeline.layers.catalogue import LayerVersion
from eudr_pipeline.layers.store import LayerStore
from eudr_pipeline.layers.reference_layers import ALL_LAYERS, DESCRIPTIONS, VECTOR_LAYERS
from eudr_pipeline.layers.source_directory import current_version, layer_versions

ABSENT = "absent"
"""The data version of a layer source without any version folder."""


def source_key(layer: str) -> dg.AssetKey:
    """The key of the observable source asset of ``layer``: `<layer>_source`."""
    return dg.AssetKey(f"{layer}_source")


def observed_version(src, layer: str) -> str:
    """The data version of `<layer>_source`: the version in force in the layer source
    directory ``src`` (newest folder, or the manifest's pin), or ABSENT."""
    return current_version(src, layer) or ABSENT


def source_metadata(src, layer: str) -> dict:
    """What an observation of `<layer>_source` shows besides its data version: every
    version folder present, and where."""
    return {"versions": dg.MetadataValue.json(layer_versions(src, layer)), "source": str(src / layer)}


def _preview_md(store: LayerStore, row: LayerVersion) -> str | None:
    """A small PNG of the first band's overview (an imagery version: its latest scene in
    colour), as Markdown, for the asset page."""
    if row.kind not in ("raster", "imagery") or not row.store_path:
        return None
    import rasterio
    from PIL import Image

    index = store.tile_index(row)
    with rasterio.open(store.file_path(row, index[-1 if row.kind == "imagery" else 0]["file"])) as ds:
        scale = max(ds.width, ds.height) / 256
        shape = (max(1, int(ds.height / scale)), max(1, int(ds.width / scale)))
        if row.kind == "imagery":
            img = Image.fromarray(np.moveaxis(ds.read([1, 2, 3], out_shape=(3, *shape)), 0, -1), "RGB")
        else:
            a = ds.read(1, out_shape=shape).astype(np.float64)
            img = Image.fromarray((np.clip(a / (np.percentile(a, 99) or 1.0), 0, 1) * 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return f"![{row.layer} {row.version}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def _bounds_km2(row: LayerVersion) -> float:
    """Geodesic area (km2) of the layer version's bounding box."""
    if row.west is None:
        return 0.0
    from eudr_pipeline.core.grid import cell_area_m2

    return float(cell_area_m2(row.south, row.north, row.east - row.west)) / 1e6


def version_metadata(store: LayerStore, row: LayerVersion) -> dict:
    md = {
        "version": row.version,
        "status": row.status,
        "source_uri": row.source_uri,
        "checksum_sha256": row.checksum,
        "bounds_wsen": dg.MetadataValue.json([row.west, row.south, row.east, row.north]),
        "area_covered_km2": round(_bounds_km2(row), 1),
        "licence": row.licence or "",
        "store_path": dg.MetadataValue.path(row.store_path or ""),
    }
    if row.kind == "raster":
        md.update({"tile_count": row.tile_count, "pixel_size_deg": row.pixel_size_x})
    elif row.kind == "imagery":
        md.update({"scenes": dg.MetadataValue.json(row.details.get("dates", []))})
    else:
        md.update({"row_count": row.row_count, "repaired_polygons": row.repaired_count})
    preview = _preview_md(store, row)
    if preview:
        md["preview"] = dg.MetadataValue.md(preview)
    return md


def build_layer_assets(layer: str) -> tuple:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _build_layer_assets(layer)


def _build_layer_assets(layer: str) -> tuple:
    @dg.observable_source_asset(
        name=f"{layer}_source", group_name="layers",
        description=f"The version of {layer} in force in the layer source directory (newest folder, or the manifest's pin).",
    )
    def layer_source(layer_store: LayerStoreResource) -> dg.ObserveResult:
        src = layer_store.source_dir()
        return dg.ObserveResult(data_version=dg.DataVersion(observed_version(src, layer)),
                                metadata=source_metadata(src, layer))

    @dg.asset(name=layer, group_name="layers", deps=[layer_source], output_required=False, kinds={"duckdb", "parquet" if layer in VECTOR_LAYERS else "geotiff"},
              description=DESCRIPTIONS[layer])
    def layer_asset(context: dg.AssetExecutionContext, layer_store: LayerStoreResource):
        store = layer_store.store()
        src = layer_store.source_dir()
        version = current_version(src, layer)
        if version is None:
            context.log.info(f"{layer}: no version in {src}; nothing to ingest")
            return
        last = context.instance.get_latest_materialization_event(context.asset_key)
        if last is not None and last.asset_materialization.tags.get("dagster/data_version") == version:
            context.log.info(f"{layer} {version} is already in the store and recorded; nothing to do")
            return
        try:
            row = store.ingest(src, layer, version)  # a version ingested by `eudr layers ingest` is only recorded
        except LayerSourceError as exc:
            raise dg.Failure(description=f"{layer} {version} cannot be ingested: {exc}",
                             metadata={"layer": layer, "version": version}) from exc
        if row.status != "ok":
            failed = "; ".join(f"{c['name']}: {c['detail']}" for c in row.failed_checks)
            raise dg.Failure(description=f"{layer} {version} rejected, the previous version stays in use: {failed}",
                             metadata={"failed_checks": dg.MetadataValue.json(row.failed_checks)})
        yield dg.MaterializeResult(data_version=dg.DataVersion(version), metadata=version_metadata(store, row))

    return layer_source, layer_asset


LAYER_ASSETS = {layer: build_layer_assets(layer) for layer in ALL_LAYERS}
source_assets = [pair[0] for pair in LAYER_ASSETS.values()]
layer_assets = [pair[1] for pair in LAYER_ASSETS.values()]
