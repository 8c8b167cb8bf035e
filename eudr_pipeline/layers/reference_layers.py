"""The layers, as the dataset registry (layers/registry.py, datasets.toml) declares them:
their names, kinds, raster bands (how their files are found and which values are valid),
attributions, descriptions and indicators. Every other module asks here; nothing else
lists the layers. Five feed the seed's fields (``builtin``); ``imagery`` is drawn under the
maps only; any other dataset of the registry feeds its indicators.

The collections below are filled from the shipped registry on import, and refilled in
place by ``use_registry`` where the settings are read (``cli.main``, the Dagster code
location), so that an operator's registry file (EUDR_DATASETS_FILE) reaches every module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from eudr_pipeline.core.indicators import Indicator
from eudr_pipeline.layers.registry import BandSpec, Registry, load_registry


@dataclass(frozen=True)
class RasterBand:
    """One raster of a layer version: its name, the file-name pattern that finds its tiles
    in the source (None: every raster of the folder), whether it must be present, its
    valid value domain, and the name its RasterLayer carries in an analysis."""

    name: str
    pattern: str | None
    required: bool
    domain: Callable[[dict[str, Any]], tuple[float, float]]  # facts -> (min, max) valid values
    analysis_name: str
    zero_ok: bool = True


BUILTIN_RASTERS = ("jrc_gfc2020", "hansen_gfc", "jrc_tmf")
BUILTIN_VECTORS = ("wdpa", "landmark")
IMAGERY_LAYER = "imagery"
BUILTIN_LAYERS = (*BUILTIN_RASTERS, *BUILTIN_VECTORS, IMAGERY_LAYER)  # the demo has each of them
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt")
VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".parquet", ".fgb")
WDPA_REQUIRED_COLUMNS = ("WDPAID",)  # the rest of the WDPA schema (NAME, IUCN_CAT, ...) is read where present

# filled by use_registry (in place: modules that imported them see the registry in force)
RASTER_LAYERS: dict[str, tuple[RasterBand, ...]] = {}
VECTOR_LAYERS: list[str] = []
ALL_LAYERS: list[str] = []
EXTRA_LAYERS: list[str] = []  # raster and vector datasets beyond the builtin ones
ATTRIBUTIONS: dict[str, str] = {}
DESCRIPTIONS: dict[str, str] = {}
INDICATORS: list[Indicator] = []


def _domain(spec: BandSpec) -> Callable[[dict[str, Any]], tuple[float, float]]:
    lo, hi = spec.valid_range if spec.valid_range is not None else (float("-inf"), float("inf"))
    if spec.valid_max_from == "last_loss_year":
        return lambda facts: (lo, facts["last_year"] - 2000)
    return lambda facts: (lo, hi)


def _band(layer: str, spec: BandSpec, only: bool) -> RasterBand:
    name = spec.analysis_name or (layer if only else f"{layer}_{spec.name}")
    return RasterBand(spec.name, spec.pattern, spec.required, _domain(spec), name, spec.zero_ok)


def use_registry(registry: Registry) -> None:
    """Make ``registry`` the one every module reads (refills the collections in place)."""
    datasets = registry.datasets
    RASTER_LAYERS.clear()
    RASTER_LAYERS.update({name: tuple(_band(name, b, len(ds.bands) == 1) for b in ds.bands)
                          for name, ds in datasets.items() if ds.kind == "raster"})
    VECTOR_LAYERS[:] = [name for name, ds in datasets.items() if ds.kind == "vector"]
    ALL_LAYERS[:] = [*datasets]
    EXTRA_LAYERS[:] = [name for name, ds in datasets.items() if not ds.builtin]
    ATTRIBUTIONS.clear()
    ATTRIBUTIONS.update({name: ds.attribution or ds.title for name, ds in datasets.items()})
    DESCRIPTIONS.clear()
    DESCRIPTIONS.update({name: ds.description or ds.title for name, ds in datasets.items()})
    INDICATORS[:] = list(registry.indicators())


def band(layer: str, name: str) -> RasterBand:
    """The raster band ``name`` of ``layer``."""
    return next(b for b in RASTER_LAYERS[layer] if b.name == name)


def extra_bands(layer: str) -> tuple[RasterBand, ...]:
    """The bands of ``layer`` an indicator of the registry reads (opened beside the ones
    the seed's fields read, which the LayerSet names)."""
    read = {i.band for i in INDICATORS if i.dataset == layer}
    return tuple(b for b in RASTER_LAYERS.get(layer, ()) if b.name in read)


use_registry(load_registry())
