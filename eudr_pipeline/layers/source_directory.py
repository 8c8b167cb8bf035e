"""Reading a layer source directory (analysis.md section 1).

    SOURCES/<layer>/<version>/<files>

The version string is the folder name; the newest version is the greatest under natural
sort unless ``SOURCES/<layer>/manifest.json`` pins one (``{"version": "V2"}``). Sources
may be local folders or any fsspec/GDAL URI (``layers/remote.py``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from eudr_pipeline.core.analysis import LayerSet
from eudr_pipeline.core.rasters import RasterLayer
from eudr_pipeline.errors import LayerSourceError
from eudr_pipeline.layers.reference_layers import (
    ALL_LAYERS,
    ATTRIBUTIONS,
    EXTRA_LAYERS,
    IMAGERY_LAYER,
    INDICATORS,
    RASTER_LAYERS,
    RASTER_SUFFIXES,
    VECTOR_LAYERS,
    band,
    extra_bands,
)
from eudr_pipeline.layers.remote import files_in, gdal_path
from eudr_pipeline.layers.vectors import read_vector_layer

if TYPE_CHECKING:
    from eudr_pipeline.core.imagery import Imagery


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


def as_source(sources):
    """``sources`` as a Path or RemotePath (a string or URI is resolved by source_path)."""
    return sources if hasattr(sources, "iterdir") else source_path(sources)


def layer_versions(sources: Path, layer: str) -> list[str]:
    """Version folders of ``layer`` under ``sources``, oldest first (natural sort)."""
    d = as_source(sources) / layer
    if not d.is_dir():
        return []
    return sorted((p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")), key=natural_key)


def current_version(sources: Path, layer: str) -> str | None:
    """The version in force: the manifest's pin, else the newest folder."""
    versions = layer_versions(sources, layer)
    manifest = as_source(sources) / layer / "manifest.json"
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


def open_raster_band(folder: Path, layer: str, band_name: str, version: str) -> RasterLayer | None:
    """The tiles of one raster band of a layer version folder as a RasterLayer (None when
    the folder has no file of that band)."""
    b = band(layer, band_name)
    files = files_in(folder, RASTER_SUFFIXES, b.pattern)
    if not files:
        return None
    return RasterLayer.open(b.analysis_name, version, [gdal_path(f) for f in files], source_name=ATTRIBUTIONS[layer])


def loss_last_year(folder: Path, version: str) -> int:
    """The last loss year of the Hansen version folder ``folder``."""
    return hansen_last_year(version, files_in(folder, RASTER_SUFFIXES, band("hansen_gfc", "lossyear").pattern))


def open_layer_set(sources: Path | str) -> LayerSet:
    """Open the version in force of every layer under ``sources``."""
    sources = as_source(sources)
    if not sources.is_dir():
        raise LayerSourceError(f"layer source directory {sources} does not exist")
    v = {layer: current_version(sources, layer) for layer in ALL_LAYERS}
    if not any(v.values()):
        raise LayerSourceError(
            f"{sources} holds no layer folders (expected {', '.join(name + '/' for name in ALL_LAYERS)})")

    def raster(layer: str, band_name: str) -> RasterLayer | None:
        return open_raster_band(sources / layer / v[layer], layer, band_name, v[layer]) if v[layer] else None

    def vector(layer: str):
        return read_vector_layer(sources / layer / v[layer], layer, v[layer]) if v[layer] else None

    loss = raster("hansen_gfc", "lossyear")
    extra_rasters = {f"{layer}/{b.name}": r for layer in RASTER_LAYERS for b in extra_bands(layer)
                     if (r := raster(layer, b.name)) is not None}
    extra_vectors = {layer: vl for layer in EXTRA_LAYERS if layer in VECTOR_LAYERS and (vl := vector(layer)) is not None}
    return LayerSet(forest_2020=raster("jrc_gfc2020", "forest_2020"), loss_year=loss,
                    loss_last_year=loss_last_year(sources / "hansen_gfc" / v["hansen_gfc"], v["hansen_gfc"]) if loss else 0,
                    tree_cover_2000=raster("hansen_gfc", "treecover2000"),
                    degradation_year=raster("jrc_tmf", "degradation_year"),
                    protected_areas=vector("wdpa"), indigenous_lands=vector("landmark"),
                    imagery=open_imagery(sources / IMAGERY_LAYER / v[IMAGERY_LAYER], v[IMAGERY_LAYER])
                    if v[IMAGERY_LAYER] else None,
                    extra_rasters=extra_rasters, extra_vectors=extra_vectors, indicators=tuple(INDICATORS),
                    country_of=_country_of)


def _country_of(geometries: list) -> list[str | None]:
    """layers/countries.py ``country_of``, imported when a national indicator first asks
    (pycountry and the country polygons stay off the start of every analysis)."""
    from eudr_pipeline.layers.countries import country_of

    return country_of(geometries)


def open_imagery(folder: Path, version: str) -> Imagery | None:
    """The dated RGB scenes of an imagery version folder (None when it has none)."""
    from eudr_pipeline.core.imagery import Imagery

    files = files_in(folder, RASTER_SUFFIXES)
    return Imagery.from_files(version, [gdal_path(f) for f in files], ATTRIBUTIONS[IMAGERY_LAYER]) if files else None
