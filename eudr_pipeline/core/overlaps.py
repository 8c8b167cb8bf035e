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

IUCN_CATEGORIES = ("Ia", "Ib", "II", "III", "IV", "V", "VI")
LEGALITY_BY_IUCN = {"Ia": "prohibited", "Ib": "prohibited", "II": "prohibited", "III": "prohibited",
                    "IV": "limited", "V": "limited", "VI": "permitted"}
LEGALITY_RANK = {"prohibited": 3, "limited": 2, "permitted": 1, "unknown": 0}
LEGALITY_CONDITIONS = {
    "prohibited": "Extractive activity is prohibited: strict protection (IUCN {cat}).",
    "limited": "Extractive activity is limited: only activities compatible with the area's management plan (IUCN {cat}).",
    "permitted": "Sustainable extractive use is permitted under the area's management (IUCN {cat}).",
    "unknown": "No IUCN category or regulation on record: check the designation ({desig}) with the authority.",
}


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


def normalise_iucn(value: Any) -> str | None:
    """IUCN_CAT as one of Ia..VI, else None ("Not Reported", "Not Applicable", ...)."""
    if value is None:
        return None
    s = str(value).strip()
    for cat in IUCN_CATEGORIES:
        if s.lower() == cat.lower():
            return cat
    return None


def protected_area_record(attrs: dict[str, Any], regulations: list[tuple[str, str]] | None = None,
                          legality_override: str | None = None) -> dict[str, Any]:
    """The analysis.md section 4 fields of one WDPA polygon from its WDPA attributes."""
    cat = normalise_iucn(attrs.get("IUCN_CAT"))
    legality = legality_override or (LEGALITY_BY_IUCN.get(cat, "unknown") if cat else "unknown")
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
