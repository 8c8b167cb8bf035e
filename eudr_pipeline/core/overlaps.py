"""Overlaps of plots with protected areas and indigenous/community lands.

Every area is geodesic (WGS84) in ha. A plot's total overlap is the area of the plot
intersected with the union of the overlapping polygons, never a sum of the details
(protected areas overlap each other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.strtree import STRtree

from eudr_pipeline.core.geometry import geodesic_areas_ha

# extractive-activity legality of a protected area (set at ingestion from IUCN_CAT, layers/vectors.py)
LEGALITY_RANK = {"prohibited": 3, "limited": 2, "permitted": 1, "unknown": 0}


@dataclass
class VectorLayer:
    """Polygons of a vector layer with their normalised attribute records (one dict per
    polygon; keys depend on the layer kind). Geometries are lon/lat degrees."""

    name: str
    version: str
    geometries: np.ndarray
    records: list[dict[str, Any]]
    source_name: str = ""
    _tree: STRtree | None = field(default=None, repr=False)

    @property
    def tree(self) -> STRtree:
        if self._tree is None:
            self._tree = STRtree(self.geometries)
        return self._tree

    def source(self) -> dict[str, str]:
        return {"source_name": self.source_name or self.name, "data_version": self.version}


def most_restrictive(legalities: list[str]) -> str | None:
    """prohibited > limited > permitted > unknown; None when the list is empty."""
    if not legalities:
        return None
    return max(legalities, key=lambda s: LEGALITY_RANK.get(s, 0))


@dataclass
class Overlap:
    """A plot's overlap with one layer: per-polygon details and the union total."""

    details: list[tuple[dict[str, Any], float]]  # (record, overlap_area_ha)
    total_ha: float


def overlaps(plots: np.ndarray, layer: VectorLayer | None) -> list[Overlap]:
    """For each plot (lon/lat (Multi)Polygon), the polygons of ``layer`` it intersects
    with their geodesic overlap area (ha) and the geodesic area of the union."""
    result = [Overlap([], 0.0) for _ in range(len(plots))]
    if layer is None or len(layer.geometries) == 0 or len(plots) == 0:
        return result
    plot_idx, poly_idx = layer.tree.query(plots, predicate="intersects")
    if plot_idx.size == 0:
        return result
    pieces = shapely.intersection(plots[plot_idx], layer.geometries[poly_idx])
    piece_ha = geodesic_areas_ha(pieces)
    by_plot: dict[int, list[int]] = {}
    for k, p in enumerate(plot_idx.tolist()):
        if piece_ha[k] > 0:
            by_plot.setdefault(p, []).append(k)
    plots_hit = list(by_plot)
    unions = [pieces[ks[0]] if len(ks) == 1 else shapely.union_all(pieces[ks]) for ks in by_plot.values()]
    union_ha = geodesic_areas_ha(np.array(unions, dtype=object))
    for p, ks, total in zip(plots_hit, by_plot.values(), union_ha):
        details = [(layer.records[int(poly_idx[k])], float(piece_ha[k])) for k in ks]
        result[p] = Overlap(details=details, total_ha=float(total))
    return result
