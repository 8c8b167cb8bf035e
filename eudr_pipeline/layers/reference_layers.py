"""The reference layers: their names, kinds, raster bands (how their files are found and
which values are valid), attributions and descriptions. Every other module asks here;
nothing else lists the layers. Five feed the analysis; ``imagery`` (optional, RGB
scenes by date, core/imagery.py) is drawn under the maps only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class RasterBand:
    """One raster of a layer version: its name, the file-name pattern that finds its tiles
    in the source (None: every raster of the folder), whether it must be present, its
    valid value domain, and the name its RasterLayer carries in an analysis."""

    name: str
    pattern: str | None
    required: bool
    domain: Callable[[dict[str, Any]], tuple[int, int]]  # facts -> (min, max) valid values
    analysis_name: str
    zero_ok: bool = True


RASTER_LAYERS: dict[str, tuple[RasterBand, ...]] = {
    "jrc_gfc2020": (RasterBand("forest_2020", None, True, lambda f: (0, 1), "jrc_gfc2020"),),
    "hansen_gfc": (
        RasterBand("lossyear", r"lossyear", True, lambda f: (0, f["last_year"] - 2000), "hansen_gfc"),
        RasterBand("treecover2000", r"treecover2000", False, lambda f: (0, 100), "hansen_gfc_treecover2000"),
    ),
    "jrc_tmf": (RasterBand("degradation_year", r"DegradationYear", True, lambda f: (1982, 2100), "jrc_tmf"),),
}
VECTOR_LAYERS = ("wdpa", "landmark")
IMAGERY_LAYER = "imagery"
ALL_LAYERS = ("jrc_gfc2020", "hansen_gfc", "jrc_tmf", "wdpa", "landmark", IMAGERY_LAYER)

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt")
VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".parquet", ".fgb")

# source names and attributions written into every analysis' `sources`
ATTRIBUTIONS = {
    "jrc_gfc2020": "JRC Global Forest Cover 2020 (EC JRC, CC BY 4.0)",
    "hansen_gfc": "Hansen/UMD/Google/USGS/NASA Global Forest Change (CC BY 4.0)",
    "jrc_tmf": "JRC Tropical Moist Forest (EC JRC, CC BY 4.0)",
    "wdpa": "WDPA (UNEP-WCMC and IUCN, Protected Planet)",
    "landmark": "LandMark: Global Platform of Indigenous and Community Lands",
    "imagery": "Imagery (optional RGB scenes; licence as given by their provider)",
}

DESCRIPTIONS = {
    "jrc_gfc2020": "JRC Global Forest Cover 2020 (10 m): 1 = forest on 31 Dec 2020. Drives forest_area_2020 and the JRC loss series.",
    "hansen_gfc": "UMD/Hansen Global Forest Change: loss year (30 m) and tree cover 2000. Drives the yearly loss series.",
    "jrc_tmf": "JRC Tropical Moist Forest degradation year (30 m). Drives logging_area.",
    "wdpa": "WDPA protected areas (GeoParquet), with IUCN category and extractive-activity legality.",
    "landmark": "LandMark indigenous and community lands (GeoParquet).",
    "imagery": "Optional RGB imagery, one scene per date (files named YYYY-MM-DD.tif), drawn under the classes of "
               "each plot's map at the 2020 baseline and the analysis end. No number reads it.",
}

WDPA_REQUIRED_COLUMNS = ("WDPAID",)  # the rest of the WDPA schema (NAME, IUCN_CAT, ...) is read where present


def band(layer: str, name: str) -> RasterBand:
    """The raster band ``name`` of ``layer``."""
    return next(b for b in RASTER_LAYERS[layer] if b.name == name)
