"""The publishers of the reference layers, as the data file ``publishers.toml`` describes
them: where each serves its tiles, how it names them, which release it serves, how a
missing tile shows, and what the fetcher may verify. Code here reads and checks that file
and does the tile arithmetic; no URL is written in code.

A **tile** is a cell of a publisher's 10-degree grid named after its north-west corner
(``lat_top``, ``lon_left``, whole degrees): it covers lat [lat_top - size, lat_top] and
lon [lon_left, lon_left + size]. A **release** is the publisher's own name of a version
(``GFC-2024-v1.12``, ``V3``, ``v1_2025``); it is also the version folder the tiles go to
(``SOURCES/<layer>/<release>/``), keeping the publisher's file names."""

from __future__ import annotations

import dataclasses
import math
import re
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import shapely
from shapely.geometry.base import BaseGeometry

from eudr_pipeline.errors import FetchError

DATA = Path(__file__).with_name("publishers.toml")
CONFIDENCE = ("confirmed", "reported", "uncertain")
RELEASE_FROM = ("given", "list", "served")
# placeholders a URL / file name template may use (publishers.toml, header)
TEMPLATE_FIELDS = {"base_url", "release", "release_param", "lat", "lon", "tile", "year", "band"}
GRID_FIELDS = {"abs_lat", "abs_lon", "ns", "ew"}


@dataclass(frozen=True, order=True)
class Tile:
    """A grid cell by its north-west corner, whole degrees."""

    lat_top: int
    lon_left: int


@dataclass(frozen=True)
class TileGrid:
    """A publisher's tile grid: tile size (degrees), the inclusive ranges of published
    corners, and how corners and tiles are spelt."""

    size: int
    lat_tops: tuple[int, int]  # [first, last], north to south
    lon_lefts: tuple[int, int]  # [first, last], west to east
    lat_format: str
    lon_format: str
    tile_format: str

    def labels(self, tile: Tile) -> dict[str, str]:
        """``lat``, ``lon`` and ``tile`` as the publisher spells them (10N, 010W, 10N_010W)."""
        fields = {"abs_lat": abs(tile.lat_top), "abs_lon": abs(tile.lon_left),
                  "ns": "N" if tile.lat_top >= 0 else "S", "ew": "E" if tile.lon_left >= 0 else "W"}
        lat, lon = self.lat_format.format(**fields), self.lon_format.format(**fields)
        return {"lat": lat, "lon": lon, "tile": self.tile_format.format(lat=lat, lon=lon)}

    def name(self, tile: Tile) -> str:
        return self.labels(tile)["tile"]

    def contains(self, tile: Tile) -> bool:
        """Whether the publisher's grid has this corner (inside its coverage)."""
        return (self.lat_tops[1] <= tile.lat_top <= self.lat_tops[0]
                and self.lon_lefts[0] <= tile.lon_left <= self.lon_lefts[1])

    def box(self, tile: Tile) -> BaseGeometry:
        return shapely.box(tile.lon_left, tile.lat_top - self.size, tile.lon_left + self.size, tile.lat_top)

    def covering(self, geometries: Sequence[BaseGeometry]) -> list[Tile]:
        """Every tile of the world-wide lattice whose interior meets one of ``geometries``
        (lon/lat), sorted; a tile a geometry only touches along its edge is not one. Tiles
        outside the publisher's coverage are included: ``contains`` tells them apart."""
        geoms = [g for g in geometries if g is not None and not g.is_empty]
        if not geoms:
            return []
        tree = shapely.STRtree(geoms)
        w, s, e, n = shapely.total_bounds(geoms).tolist()
        k = self.size
        out = []
        for lat_top in range(max(-90 + k, math.ceil(s / k) * k), min(90, math.ceil(n / k) * k) + 1, k):
            for lon_left in range(max(-180, math.floor(w / k) * k), min(180 - k, math.floor(e / k) * k) + 1, k):
                tile = Tile(lat_top, lon_left)
                box = self.box(tile)
                hits = tree.query(box, predicate="intersects")
                if any(not shapely.touches(geoms[i], box) for i in hits.tolist()):
                    out.append(tile)
        return sorted(out, key=lambda t: (-t.lat_top, t.lon_left))


@dataclass(frozen=True)
class Band:
    """One file series of a publisher: its URL and file-name templates, its tile list (if
    the publisher has one), whether it is fetched by default, per-year files."""

    key: str
    url: str
    local_name: str
    default: bool
    confidence: str
    list_url: str | None = None
    list_regex: str | None = None
    served_name: bool = False
    local_match: str | None = None
    per_year: bool = False
    first_year: int | None = None


@dataclass(frozen=True)
class ReleaseRule:
    """How a release is named, read from a user's or a folder's spelling, and found."""

    source: str  # "given" | "list" | "served"
    template: str  # e.g. "GFC-{year}-v1.{n}"
    folder_patterns: tuple[str, ...]
    default: str | None = None
    year_from_n: int | None = None
    served_regex: str | None = None
    probe_band: str | None = None
    param_template: str | None = None

    def groups(self, text: str) -> dict[str, int] | None:
        """``n`` and ``year`` of a spelling one of the folder patterns reads (``year`` from
        ``n`` where the rule says how), None when none reads it."""
        for pattern in self.folder_patterns:
            m = re.match(pattern, text.strip())
            if m:
                return self.complete({k: v for k, v in m.groupdict().items() if v is not None})
        return None

    def complete(self, groups: dict[str, Any]) -> dict[str, int]:
        out = {k: int(v) for k, v in groups.items() if k in ("n", "year") and v is not None}
        if "year" not in out and "n" in out and self.year_from_n is not None:
            out["year"] = self.year_from_n + out["n"]
        return out

    def from_groups(self, groups: dict[str, Any], template: str | None = None) -> str | None:
        """The release (or ``template`` filled) from regex groups ``n`` and/or ``year``;
        None when they do not give every field the template needs."""
        try:
            return (template or self.template).format(**self.complete(groups))
        except (KeyError, ValueError):
            return None

    def normalise(self, text: str) -> str | None:
        """The release a user or a version folder spells as ``text`` (v1.12 and
        GFC-2024-v1.12 are the same Hansen release); None when no pattern reads it."""
        groups = self.groups(text)
        return None if groups is None else self.from_groups(groups)

    def year(self, release: str) -> int | None:
        """The year a release carries (its last year of data), when its spelling gives one."""
        return (self.groups(release) or {}).get("year")


@dataclass(frozen=True)
class Publisher:
    """One entry of publishers.toml. Manual publishers (terms or a form rule out automated
    download) have no grid, bands or release rule."""

    key: str
    layer: str
    name: str
    licence: str
    manual: bool
    page: str
    confidence: str
    sources: tuple[str, ...] = ()
    terms: str | None = None
    attribution: str | None = None
    base_url: str | None = None
    version_hint: str | None = None
    release: ReleaseRule | None = None
    grid: TileGrid | None = None
    bands: dict[str, Band] = dataclasses.field(default_factory=dict)
    missing_status: int = 404
    checksum_headers: tuple[str, ...] = ()

    def with_base_url(self, url: str) -> Publisher:
        """This publisher served from ``url`` instead (a mirror: same paths below it)."""
        return dataclasses.replace(self, base_url=url.rstrip("/"))

    def fill(self, template: str, release: str | None = None, tile: Tile | None = None,
             year: int | None = None, band: str | None = None) -> str:
        """``template`` with the publisher's base URL, the release, a tile's labels, a year."""
        fields: dict[str, Any] = {"base_url": self.base_url, "release": release, "year": year, "band": band,
                                  "release_param": self.release_param(release)}
        if tile is not None and self.grid is not None:
            fields.update(self.grid.labels(tile))
        return template.format(**fields)

    def release_param(self, release: str | None) -> str | None:
        """The release as the publisher's query parameter spells it (GFC2020: V3 -> v3)."""
        rule = self.release
        if release is None or rule is None or rule.param_template is None:
            return release
        groups = rule.groups(release)
        return (rule.from_groups(groups, rule.param_template) if groups is not None else None) or release

    def default_bands(self) -> tuple[str, ...]:
        return tuple(k for k, b in self.bands.items() if b.default)

    def rendered_page(self) -> str:
        default = self.release.default if self.release else None
        return self.page.replace("{base_url}", self.base_url or "").replace("{release}", default or "<release>")


def load_publishers(path: Path = DATA) -> dict[str, Publisher]:
    """The publishers of ``path`` (default: the shipped publishers.toml), checked: every
    key the fetcher needs is there, every template uses known placeholders, every regular
    expression compiles. A FetchError names the entry and the key otherwise."""
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FetchError(f"{path}: cannot read the publishers file ({exc})") from exc
    if doc.get("schema") != 1:
        raise FetchError(f"{path}: schema {doc.get('schema')!r} is not 1")
    entries = doc.get("publishers")
    if not isinstance(entries, dict) or not entries:
        raise FetchError(f"{path}: no [publishers.<name>] tables")
    return {key: _publisher(key, entry, f"{path}: publishers.{key}") for key, entry in entries.items()}


def _need(table: dict[str, Any], key: str, where: str, kind: type = str) -> Any:
    value = table.get(key)
    if not isinstance(value, kind):
        raise FetchError(f"{where}.{key}: missing or not a {kind.__name__} ({value!r})")
    return value


def _template(text: str, where: str, allowed: Iterable[str] = TEMPLATE_FIELDS) -> str:
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise FetchError(f"{where}: bad template {text!r} ({exc})") from exc
    unknown = sorted(n for n in names if n.split(":")[0].split(".")[0] not in set(allowed))
    if unknown:
        raise FetchError(f"{where}: unknown placeholder(s) {unknown} in {text!r} (known: {sorted(allowed)})")
    return text


def _regex(text: str | None, where: str) -> str | None:
    if text is None:
        return None
    try:
        re.compile(text)
    except re.error as exc:
        raise FetchError(f"{where}: not a regular expression ({exc})") from exc
    return text


def _confidence(table: dict[str, Any], where: str) -> str:
    value = table.get("confidence", "uncertain")
    if value not in CONFIDENCE:
        raise FetchError(f"{where}.confidence: {value!r} is not one of {CONFIDENCE}")
    return value


def _publisher(key: str, entry: dict[str, Any], where: str) -> Publisher:
    common = dict(key=key, layer=_need(entry, "layer", where), name=_need(entry, "name", where),
                  licence=_need(entry, "licence", where), manual=bool(entry.get("manual", False)),
                  page=_need(entry, "page", where), confidence=_confidence(entry, where),
                  sources=tuple(entry.get("sources", ())), terms=entry.get("terms"),
                  attribution=entry.get("attribution"), version_hint=entry.get("version_hint"))
    if common["manual"]:
        return Publisher(**common)
    integrity = entry.get("integrity", {})
    bands = {k: _band(k, b, f"{where}.bands.{k}") for k, b in _need(entry, "bands", where, dict).items()}
    release = _release(_need(entry, "release", where, dict), f"{where}.release")
    if release.source == "list" and not any(b.list_url for b in bands.values()):
        raise FetchError(f"{where}.release: from = 'list' needs a band with a list_url")
    if release.source == "served" and release.probe_band not in bands:
        raise FetchError(f"{where}.release.probe_band: {release.probe_band!r} is not a band of {key}")
    return Publisher(**common, base_url=_need(entry, "base_url", where).rstrip("/"), release=release,
                     grid=_grid(_need(entry, "grid", where, dict), f"{where}.grid"), bands=bands,
                     missing_status=int(entry.get("missing_tile", {}).get("http_status", 404)),
                     checksum_headers=tuple(h.lower() for h in integrity.get("checksum_headers", ())))


def _band(key: str, b: dict[str, Any], where: str) -> Band:
    served = b.get("served_name")
    if served not in (None, "content-disposition"):
        raise FetchError(f"{where}.served_name: {served!r} is not 'content-disposition'")
    if b.get("list_url") and not b.get("list_regex"):
        raise FetchError(f"{where}: a list_url needs a list_regex with a (?P<tile>...) group")
    if b.get("list_regex") and "(?P<tile>" not in b["list_regex"]:
        raise FetchError(f"{where}.list_regex: no (?P<tile>...) group")
    return Band(key=key, url=_template(_need(b, "url", where), f"{where}.url"),
                local_name=_template(_need(b, "local_name", where), f"{where}.local_name"),
                default=bool(b.get("default", False)), confidence=_confidence(b, where),
                list_url=_template(b["list_url"], f"{where}.list_url") if b.get("list_url") else None,
                list_regex=_regex(b.get("list_regex"), f"{where}.list_regex"), served_name=served is not None,
                local_match=_regex(b.get("local_match"), f"{where}.local_match"),
                per_year=bool(b.get("per_year", False)), first_year=b.get("first_year"))


def _release(r: dict[str, Any], where: str) -> ReleaseRule:
    source = r.get("from")
    if source not in RELEASE_FROM:
        raise FetchError(f"{where}.from: {source!r} is not one of {RELEASE_FROM}")
    patterns = tuple(_regex(p, f"{where}.folder_patterns") for p in _need(r, "folder_patterns", where, list))
    rule = ReleaseRule(source=source, template=_need(r, "release", where), folder_patterns=patterns,
                       default=r.get("default"), year_from_n=r.get("year_from_n"),
                       served_regex=_regex(r.get("served_release_regex"), f"{where}.served_release_regex"),
                       probe_band=r.get("probe_band"), param_template=r.get("release_param"))
    if source == "given" and not rule.default:
        raise FetchError(f"{where}: from = 'given' needs a default release")
    if source == "served" and not (rule.served_regex and rule.probe_band):
        raise FetchError(f"{where}: from = 'served' needs served_release_regex and probe_band")
    if rule.default and rule.normalise(rule.default) != rule.default:
        raise FetchError(f"{where}.default: {rule.default!r} is not a release its folder_patterns read")
    return rule


def _grid(g: dict[str, Any], where: str) -> TileGrid:
    size = _need(g, "tile_size_deg", where, int)
    lat, lon = _need(g, "lat_top_range", where, list), _need(g, "lon_left_range", where, list)
    if len(lat) != 2 or len(lon) != 2 or any(v % size for v in (*lat, *lon)) or lat[0] < lat[1] or lon[0] > lon[1]:
        raise FetchError(f"{where}: lat_top_range {lat} (north first) and lon_left_range {lon} (west first) "
                         f"must be multiples of {size}")
    return TileGrid(size=size, lat_tops=(lat[0], lat[1]), lon_lefts=(lon[0], lon[1]),
                    lat_format=_template(_need(g, "lat_format", where), f"{where}.lat_format", GRID_FIELDS),
                    lon_format=_template(_need(g, "lon_format", where), f"{where}.lon_format", GRID_FIELDS),
                    tile_format=_template(_need(g, "tile", where), f"{where}.tile", {"lat", "lon"}))
