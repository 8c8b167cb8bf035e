"""Countries: the ISO 3166-1 alpha-2 code of the country a plot lies in, and of a country
as users write it ("Côte d'Ivoire", "Cote d Ivoire", "Ivory Coast", "CI", "CIV", "384").

The boundaries are the package's ``data/countries.parquet``: Natural Earth 1:10m admin 0
(public domain; data/NOTICE.md), simplified at 0.0075 deg by
scripts/build_country_boundaries.py. A simplified boundary lies within 0.0075 deg (about
0.85 km) of Natural Earth's, whose 1:10m lines themselves depart from the legal ones by up
to a few km in places: a plot closer than about BORDER_MARGIN_DEG (0.02 deg, about 2 km)
to a border may be given the neighbour. Loaded once per process; no network."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pycountry
import shapely
from shapely.geometry.base import BaseGeometry

DATA = Path(__file__).resolve().parents[1] / "data" / "countries.parquet"
SIMPLIFY_TOLERANCE_DEG = 0.0075
BORDER_MARGIN_DEG = 0.02  # simplification (0.0075 deg) + Natural Earth's 1:10m generalisation
COAST_SNAP_DEG = 0.05  # a plot outside every polygon (a coast moved inland) takes the nearest within this
FUZZY_MIN_CHARS = 4  # pycountry's fuzzy search finds Malta for "xx"
# Codes outside ISO 3166-1 that the EU institutions use (Interinstitutional Style Guide).
EXTRA_CODES = {"XK": "Kosovo"}
# Spellings neither pycountry nor Natural Earth's names give (normalised by _key).
ALIASES = {
    "ivorycoast": "CI", "brasil": "BR", "drc": "CD", "drcongo": "CD", "congokinshasa": "CD", "congodr": "CD",
    "democraticrepublicofcongo": "CD", "congobrazzaville": "CG", "republicofcongo": "CG", "turkey": "TR",
    "russia": "RU", "southkorea": "KR", "northkorea": "KP", "uk": "GB", "greatbritain": "GB", "england": "GB",
    "usa": "US", "unitedstatesofamerica": "US", "burma": "MM", "capeverde": "CV", "swaziland": "SZ",
    "easttimor": "TL", "holland": "NL", "kosovo": "XK", "vietnam": "VN", "laos": "LA",
}


def is_country_code(code: Any) -> bool:
    """Whether ``code`` is an ISO 3166-1 alpha-2 code (or one of EXTRA_CODES)."""
    return isinstance(code, str) and len(code) == 2 and (
        code in EXTRA_CODES or pycountry.countries.get(alpha_2=code) is not None)


def _key(text: str) -> str:
    """``text`` without accents, case, spaces or punctuation: "Côte d’Ivoire" -> "cotedivoire"."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"[^0-9a-z]", "", plain.casefold())


@dataclass(frozen=True)
class CountryLayer:
    """The country polygons (lon/lat), their alpha-2 codes (None for the few areas without
    one), their English names and an STRtree over them."""

    codes: np.ndarray
    geoms: np.ndarray
    names: dict[str, str]
    tree: shapely.STRtree
    labels: np.ndarray

    @classmethod
    def read(cls, path: Path = DATA) -> CountryLayer:
        import geopandas as gpd

        frame = gpd.read_parquet(path)
        geoms = np.asarray(frame.geometry.values, dtype=object)
        shapely.prepare(geoms)
        codes = np.array([c if isinstance(c, str) else None for c in frame["iso_a2"]], dtype=object)
        return cls(codes, geoms, _name_index(frame), shapely.STRtree(geoms), np.asarray(frame["name"], dtype=object))

    def within(self, bounds: tuple[float, float, float, float]) -> list[tuple[BaseGeometry, str]]:
        """(polygon clipped to ``bounds``, English name) of every country meeting the box
        (west, south, east, north degrees): the land of a locator map."""
        box = shapely.box(*bounds)
        hits = self.tree.query(box, predicate="intersects")
        return [(shapely.intersection(self.geoms[i], box), str(self.labels[i])) for i in hits.tolist()]

    def country_of(self, geometries: Sequence[BaseGeometry | None]) -> list[str | None]:
        """The alpha-2 code of the country containing each geometry's representative point
        (shapely point_on_surface); a point in no polygon takes the nearest country within
        COAST_SNAP_DEG; None when there is none (or for None/empty geometries)."""
        geoms = np.asarray(list(geometries), dtype=object)
        out: list[str | None] = [None] * len(geoms)
        ok = np.array([g is not None and not g.is_empty for g in geoms], dtype=bool)
        if not ok.any():
            return out
        idx = np.flatnonzero(ok)
        points = shapely.point_on_surface(geoms[idx])
        hit_in, hit_tree = self.tree.query(points, predicate="within")
        depth = shapely.distance(points[hit_in], shapely.boundary(self.geoms[hit_tree]))
        best: dict[int, tuple[float, int]] = {}
        for i, t, d in zip(hit_in.tolist(), hit_tree.tolist(), depth.tolist()):
            if i not in best or d > best[i][0]:  # overlapping simplified neighbours: the deeper one
                best[i] = (d, t)
        for i, (_, t) in best.items():
            out[idx[i]] = self.codes[t]
        lost = np.array([i for i in range(len(idx)) if i not in best], dtype=int)
        if len(lost):
            near_in, near_tree = self.tree.query_nearest(points[lost], max_distance=COAST_SNAP_DEG)
            for i, t in zip(near_in.tolist(), near_tree.tolist()):
                out[idx[lost[i]]] = out[idx[lost[i]]] or self.codes[t]
        return out

    def near(self, geometries: Sequence[BaseGeometry], codes: Sequence[str | None],
             max_distance: float = BORDER_MARGIN_DEG) -> list[bool]:
        """Whether each geometry lies within ``max_distance`` degrees of the country of
        the matching code (False for unknown codes)."""
        out = []
        for geom, code in zip(geometries, codes):
            parts = self.geoms[self.codes == code] if code else []
            out.append(bool(len(parts)) and bool(shapely.dwithin(geom, parts, max_distance).any()))
        return out

    def geometry(self, code: str) -> BaseGeometry | None:
        """The boundary (lon/lat, simplified: see the module) of the country whose ISO 3166-1
        alpha-3 or alpha-2 ``code`` is given (case ignored; XK/XKX for Kosovo): the union of
        its polygons. None when ``code`` is no such code or the layer has no polygon for it."""
        text = code.strip().upper() if isinstance(code, str) else ""
        if len(text) == 3:
            found = pycountry.countries.get(alpha_3=text)
            text = found.alpha_2 if found is not None else {"XKX": "XK"}.get(text, "")
        parts = self.geoms[self.codes == text] if len(text) == 2 else []
        return shapely.union_all(parts) if len(parts) else None

    def code(self, text: Any) -> str | None:
        """The alpha-2 code of a country written as ``text``: an alpha-2/alpha-3/numeric
        code or a name in any spelling pycountry or Natural Earth knows (accents, case and
        punctuation ignored), a few common aliases, else pycountry's fuzzy search (texts
        of FUZZY_MIN_CHARS letters or more) when it finds exactly one country. None when nothing (or more than one country) matches."""
        if not isinstance(text, str) or not text.strip():
            return None
        text = text.strip()
        if text.upper() in EXTRA_CODES:
            return text.upper()
        key = _key(text)
        if key in self.names:
            return self.names[key]
        try:
            return pycountry.countries.lookup(text).alpha_2
        except LookupError:
            pass
        if len(key) < FUZZY_MIN_CHARS:
            return None
        try:
            found = pycountry.countries.search_fuzzy(text)
        except LookupError:
            return None
        return found[0].alpha_2 if len(found) == 1 else None


def _name_index(frame: Any) -> dict[str, str]:
    """Normalised spelling -> alpha-2, from pycountry, Natural Earth's names and ALIASES;
    a spelling shared by two countries is left out (ambiguous)."""
    pairs: list[tuple[str, str]] = []
    for c in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            if getattr(c, attr, None):
                pairs.append((_key(getattr(c, attr)), c.alpha_2))
    for code, names in zip(frame["iso_a2"], frame["names"]):
        if isinstance(code, str):
            pairs += [(_key(n), code) for n in str(names).split("|") if n]
    index: dict[str, set[str]] = {}
    for key, code in pairs:
        index.setdefault(key, set()).add(code)
    out = {k: next(iter(v)) for k, v in index.items() if k and len(v) == 1}
    out.update(ALIASES)
    return out


@functools.lru_cache(maxsize=1)
def country_layer() -> CountryLayer:
    """The shipped country layer, read once per process."""
    return CountryLayer.read()


def country_of(geometries: Sequence[BaseGeometry | None]) -> list[str | None]:
    """ISO 3166-1 alpha-2 of the country containing each plot's representative point
    (vectorised through an STRtree); None where no country is found."""
    return country_layer().country_of(geometries)


def country_code(text: Any) -> str | None:
    """The alpha-2 code of a registered country name or code (CountryLayer.code)."""
    return country_layer().code(text)
