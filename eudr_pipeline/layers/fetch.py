"""Downloading the reference layers' tiles from their publishers (``eudr layers fetch``)
and importing the files of layers whose terms rule out automated download (``eudr layers
add``) into a layer source directory (analysis.md section 1):

    SOURCES/<layer>/<release>/<the publisher's file names>

What is fetched: for each selected **dataset** (a publisher of publishers.toml, or one of
its bands: ``hansen_gfc``, ``hansen_gfc.treecover2000``, ``jrc_tmf.deforestation_year``,
optionally ``@RELEASE``), exactly the tiles whose interior meets the **area** (a bounding
box, the plots of a GeoJSON file, or countries' boundaries). A tile outside the publisher's
coverage, or one its tile list does not have (open ocean), or one answering the publisher's
"missing" status when it has no list, is skipped and listed: it is not an error.

How (RELIABILITY.md): each file streams to disk in chunks (memory bounded by
``chunk_bytes`` per download) as ``SOURCES/.fetch/<layer>/<release>/<name>.part``; an
interrupted transfer resumes with an HTTP Range request (a server that ignores Range and
answers 200 restarts it from zero); a failed request is retried with exponential backoff
(at once when it had made progress); ``workers`` downloads run in parallel; a finished
file's size is checked against Content-Length / Content-Range, its first bytes must be a
TIFF header, and its MD5 is checked where the publisher sends one. A release folder
appears in ``SOURCES/<layer>/`` only when every file of it is complete (one rename); when
a file fails the others wait in ``SOURCES/.fetch`` for the next run. Readers never look
into ``.fetch``.

Mirrors: ``NAME=URL`` (``--mirror``, EUDR_LAYER_MIRRORS as ``name=url,name=url``) replaces
publisher NAME's base URL: the mirror serves the same paths (and tile lists) below it."""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import email.message
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import shapely
from shapely.geometry.base import BaseGeometry

from eudr_pipeline.core.geometry import parse_geometry
from eudr_pipeline.errors import FetchError, GeometryError, LayerSourceError, PlotsFileError
from eudr_pipeline.layers.publishers import Band, Publisher, Tile
from eudr_pipeline.layers.reference_layers import VECTOR_SUFFIXES, WDPA_REQUIRED_COLUMNS
from eudr_pipeline.layers.source_directory import current_version, natural_key

MIRRORS_ENV = "EUDR_LAYER_MIRRORS"  # read by config.Settings (layer_mirrors), named in messages
STAGING = ".fetch"  # SOURCES/.fetch/<layer>/<release>/: parts and finished files not yet placed
USER_AGENT = "eudr-pipeline (eudr layers fetch)"
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
COUNTRY_MARGIN_DEG = 0.02  # the shipped boundaries are simplified (countries.BORDER_MARGIN_DEG)
VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@dataclass(frozen=True)
class FetchOptions:
    """How downloads run: parallel downloads, attempts per file (first try included),
    backoff before a retry that made no progress (seconds, doubled per attempt, capped),
    socket timeout (seconds), chunk size (bytes, the memory each download holds)."""

    workers: int = 4
    attempts: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    timeout_s: float = 60.0
    chunk_bytes: int = 1 << 20
    dry_run: bool = False
    progress: bool = True


@dataclass(frozen=True)
class Selection:
    """A dataset asked for: a publisher, the bands to fetch, the release asked for (None:
    the publisher's rule decides)."""

    publisher: Publisher
    bands: tuple[str, ...]
    release: str | None = None


@dataclass(frozen=True)
class Item:
    """One file to download and where it goes. ``listed``: the publisher's tile list has it,
    so a 404 is an error, not a missing tile."""

    publisher: str
    layer: str
    version: str
    band: str
    tile: str
    url: str
    local_name: str
    local_match: str | None
    served_name: bool
    listed: bool
    year: int | None = None
    missing_status: int = 404

    def label(self) -> str:
        return f"{self.publisher}.{self.band} {self.tile}" + (f" {self.year}" if self.year else "")


@dataclass
class FetchReport:
    """What a run planned and did. ``not_published``: (publisher.band, tile, why) skipped;
    ``failed``: (item, reason); ``placed``: layer/release folders written; ``kept``:
    staging folders left for a resume."""

    sources: Path
    planned: list[Item] = field(default_factory=list)
    present: list[Item] = field(default_factory=list)
    downloaded: list[tuple[Item, str, int]] = field(default_factory=list)
    not_published: list[tuple[str, str, str]] = field(default_factory=list)
    failed: list[tuple[Item, str]] = field(default_factory=list)
    placed: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


# ---------------------------------------------------------------- what and where


def local_sources(text: str | None) -> Path:
    """The local layer source directory downloads go to (a path or file:// URI)."""
    if not text:
        raise FetchError("no layer source directory: give --sources DIR (or set EUDR_LAYER_SOURCES to a local folder)")
    if text.startswith("file://"):
        return Path(text[len("file://"):])
    if "://" in text:
        raise FetchError(f"layer source {text}: downloads go to a local folder, not a URI")
    return Path(text)


def parse_mirrors(values: Sequence[str], env_value: str | None, publishers: dict[str, Publisher]) -> dict[str, str]:
    """Publisher name -> mirror base URL, from EUDR_LAYER_MIRRORS (``name=url,...``) then
    ``--mirror NAME=URL`` values (which win)."""
    pairs = [p for p in (env_value or "").split(",") if p.strip()] + list(values or ())
    out: dict[str, str] = {}
    fetchable = sorted(k for k, p in publishers.items() if not p.manual)
    for pair in pairs:
        name, sep, url = (s.strip() for s in pair.partition("="))
        if not sep or not url:
            raise FetchError(f"mirror {pair!r}: expected NAME=URL (e.g. hansen_gfc=https://mirror.example/hansen)")
        if name not in fetchable:
            raise FetchError(f"mirror {pair!r}: {name!r} is not a publisher that can be fetched ({', '.join(fetchable)})")
        if not re.match(r"^https?://[^/\s]+", url):
            raise FetchError(f"mirror {pair!r}: the URL must be http:// or https://")
        out[name] = url
    return out


def with_mirrors(publishers: dict[str, Publisher], mirrors: dict[str, str]) -> dict[str, Publisher]:
    return {k: p.with_base_url(mirrors[k]) if k in mirrors else p for k, p in publishers.items()}


def manual_instructions(p: Publisher) -> str:
    """Where and under which terms to get a manual publisher's files, and how to add them."""
    terms = f"; terms: {p.terms}" if p.terms else ""
    return (f"{p.name}: download it yourself from {p.page} ({p.licence}{terms}), then "
            f"`eudr layers add {p.key} FILE [--version V]` (V: {p.version_hint or 'the release'})")


def parse_datasets(names: Sequence[str] | None, publishers: dict[str, Publisher]) -> list[Selection]:
    """``NAME[.BAND][@RELEASE]`` values as selections (default: every publisher that can
    be fetched, its default bands, its default release)."""
    fetchable = [p for p in publishers.values() if not p.manual]
    if not names:
        return [Selection(p, p.default_bands()) for p in fetchable]
    chosen: dict[str, tuple[list[str], str | None]] = {}
    for text in names:
        base, _, asked = text.strip().partition("@")
        key, _, band = base.partition(".")
        p = publishers.get(key)
        if p is None:
            known = ", ".join(f"{q.key}[.{'|'.join(q.bands)}]" for q in fetchable)
            raise FetchError(f"dataset {text!r}: unknown (known: {known}; manual: "
                             f"{', '.join(q.key for q in publishers.values() if q.manual)})")
        if p.manual:
            raise FetchError(f"dataset {text!r} is not downloaded automatically: {manual_instructions(p)}")
        if band and band not in p.bands:
            raise FetchError(f"dataset {text!r}: {key} has no band {band!r} (bands: {', '.join(p.bands)})")
        release = p.release.normalise(asked) if asked else None
        if asked and release is None:
            raise FetchError(f"dataset {text!r}: {asked!r} is not a release of {key} "
                             f"(e.g. {p.release.default or p.release.template})")
        bands, before = chosen.get(key, ([], None))
        if release and before and release != before:
            raise FetchError(f"dataset {text!r}: {key} asked for in two releases ({before}, {release})")
        bands += [b for b in ([band] if band else p.default_bands()) if b not in bands]
        chosen[key] = (bands, release or before)
    return [Selection(publishers[k], tuple(b), r) for k, (b, r) in chosen.items()]


def bbox_area(text: str) -> list[BaseGeometry]:
    """``W,S,E,N`` degrees as the area (west < east: split a box across 180 deg in two runs)."""
    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        raise FetchError(f"--bbox {text!r}: expected W,S,E,N in degrees (e.g. -8.6,4.3,-2.5,10.7)") from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise FetchError(f"--bbox {text!r}: need -180 <= W < E <= 180 and -90 <= S < N <= 90")
    return [shapely.box(w, s, e, n)]


def plots_area(path: Path) -> tuple[list[BaseGeometry], list[str]]:
    """The plots of a GeoJSON file as the area (points as their circles, as analysed), and
    a note per feature whose geometry cannot be used (it is left out)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlotsFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlotsFileError(f"{path}: cannot read as JSON ({exc})") from exc
    features = [doc] if isinstance(doc, dict) and doc.get("type") == "Feature" else (
        doc.get("features") if isinstance(doc, dict) else None)
    if not isinstance(features, list) or not features:
        raise PlotsFileError(f"{path}: not a GeoJSON FeatureCollection with features")
    geoms, notes = [], []
    for i, f in enumerate(features):
        try:
            props = f.get("properties") if isinstance(f, dict) else None
            geoms.append(parse_geometry(f.get("geometry") if isinstance(f, dict) else None,
                                        props if isinstance(props, dict) else {}, f"{path}: feature {i}").geometry)
        except GeometryError as exc:
            notes.append(f"left out of the area: {exc}")
    if not geoms:
        raise PlotsFileError(f"{path}: no feature has a usable geometry ({notes[0] if notes else ''})")
    return geoms, notes


def countries_area(codes: Sequence[str]) -> list[BaseGeometry]:
    """Countries (ISO 3166-1 alpha-3 or alpha-2) as the area: the shipped boundaries grown
    by COUNTRY_MARGIN_DEG, so their simplification never loses a tile along a border."""
    from eudr_pipeline.layers.countries import country_layer

    layer = country_layer()
    out = []
    for code in codes:
        geom = layer.geometry(code)
        if geom is None:
            raise FetchError(f"--country {code!r}: not an ISO 3166-1 alpha-3 (or alpha-2) code of the shipped "
                             "boundaries (e.g. CIV, BRA, IDN)")
        out.append(geom.buffer(COUNTRY_MARGIN_DEG))
    return out


# ---------------------------------------------------------------- HTTP


class Http:
    """GET requests through urllib (which honours http_proxy/https_proxy/no_proxy)."""

    def __init__(self, options: FetchOptions) -> None:
        self.opener = urllib.request.build_opener()
        self.options = options
        self.lists: dict[str, str] = {}

    def open(self, url: str, start: int = 0):
        """The response to GET ``url`` (from byte ``start``); an HTTP error status is
        returned as a response too (``.status``, ``.headers``)."""
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
        try:
            return self.opener.open(urllib.request.Request(url, headers=headers), timeout=self.options.timeout_s)
        except urllib.error.HTTPError as exc:
            return exc

    def text(self, url: str, what: str) -> str:
        """A small text document (a tile list, a directory listing), retried like a tile;
        a FetchError when it is not there."""
        if url in self.lists:
            return self.lists[url]
        reason = ""
        for attempt in range(self.options.attempts):
            if attempt:
                time.sleep(backoff(self.options, attempt))
            try:
                with self.open(url) as resp:
                    if resp.status == 200:
                        self.lists[url] = resp.read().decode("utf-8", "replace")
                        return self.lists[url]
                    reason = f"HTTP {resp.status}"
                    if not transient_status(resp.status):
                        break
            except (OSError, http.client.HTTPException) as exc:
                reason = str(exc) or type(exc).__name__
        raise FetchError(f"{what}: cannot read {url} ({reason})")


def transient_status(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


def backoff(options: FetchOptions, attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before attempt ``attempt`` (1 = the first retry): the server's
    Retry-After when it gives seconds, else backoff_s * 2^(attempt-1), with jitter, capped."""
    if retry_after and retry_after.strip().isdigit():
        return min(float(retry_after), options.max_backoff_s)
    return min(options.backoff_s * 2 ** (attempt - 1), options.max_backoff_s) * random.uniform(0.5, 1.0)


def served_filename(headers: Any) -> str | None:
    """The file name of a Content-Disposition header, a plain base name only."""
    value = headers.get("Content-Disposition") if headers is not None else None
    if not value:
        return None
    msg = email.message.Message()
    msg["content-disposition"] = value
    name = msg.get_filename()
    name = name.replace("\\", "/").rsplit("/", 1)[-1] if name else None
    return name if name and re.fullmatch(r"[\w.+-]+", name) and not name.startswith(".") else None


def header_md5(headers: Any, names: Sequence[str], whole: bool) -> str | None:
    """The MD5 (hex) of the whole file the publisher states in a checksum header it is
    known to send (publishers.toml integrity.checksum_headers); Content-MD5 only for a
    response that is the whole file (``whole``)."""
    if "x-goog-hash" in names:
        for value in headers.get_all("x-goog-hash") or []:
            for part in value.split(","):
                key, _, b64 = part.strip().partition("=")
                if key == "md5" and b64:
                    return base64.b64decode(b64).hex()
    if "content-md5" in names and whole and headers.get("Content-MD5"):
        return base64.b64decode(headers["Content-MD5"]).hex()
    return None


# ---------------------------------------------------------------- planning


@dataclass
class Plan:
    """The files of one selection: to download, already present (placed or staged), and
    the tiles skipped with the reason."""

    items: list[Item] = field(default_factory=list)
    present: list[Item] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def listed(client: Http, p: Publisher, band: Band, release: str | None) -> dict[str, set[str]]:
    """Release -> tiles of ``band``'s tile list (for the releases the list names)."""
    url = p.fill(band.list_url, release=release, band=band.key)
    text = client.text(url, f"{p.key}.{band.key} tile list" + (f" of {release}" if release else ""))
    out: dict[str, set[str]] = {}
    for m in re.finditer(band.list_regex, text):
        groups = m.groupdict()
        rel = p.release.from_groups(groups) if ({"n", "year"} & {k for k, v in groups.items() if v}) else release
        out.setdefault(rel or "", set()).add(groups["tile"])
    return out


def probe_release(sel: Selection, tiles: list[Tile], client: Http) -> str | None:
    """The release a publisher serves, from the name it gives the probe band's file of the
    first tile it has (only the response headers are read); None when it has none."""
    p = sel.publisher
    band = p.bands[p.release.probe_band]
    for tile in tiles:
        url = p.fill(band.url, tile=tile, band=band.key)
        try:
            with client.open(url) as resp:
                status, name = resp.status, served_filename(resp.headers)
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"{p.key}: cannot ask {url} which release it serves ({exc})") from exc
        if status == p.missing_status:
            continue
        if status != 200:
            raise FetchError(f"{p.key}: {url} answered HTTP {status} when asked which release it serves")
        m = re.search(p.release.served_regex, name or "")
        served = p.release.from_groups(m.groupdict()) if m else None
        if served is None and sel.release is None:
            raise FetchError(f"{p.key}: the file name {name!r} served by {url} does not tell the release; "
                             f"ask for one: --dataset {p.key}@{p.release.template.format(n=1, year='YYYY')}")
        if served and sel.release and served != sel.release:
            raise FetchError(f"{p.key}: the publisher serves {served} only (no older release can be downloaded); "
                             f"asked for {sel.release}")
        return served or sel.release
    return sel.release


def resolve_release(sel: Selection, tiles: list[Tile], client: Http) -> str | None:
    """The release to fetch: asked for or the default ("given"), the one the tile list
    shows ("list"; newest when several), or the one served ("served")."""
    p, rule = sel.publisher, sel.publisher.release
    if rule.source == "given":
        return sel.release or rule.default
    if rule.source == "served":
        return probe_release(sel, tiles, client) if tiles else sel.release
    band = next(p.bands[b] for b in (*sel.bands, *p.bands) if p.bands[b].list_url)
    releases = sorted((r for r in listed(client, p, band, None) if r), key=natural_key)
    if not releases:
        raise FetchError(f"{p.key}: the tile list {p.fill(band.list_url)} names no release")
    if sel.release and sel.release not in releases:
        raise FetchError(f"{p.key}: {p.fill(band.list_url)} holds {', '.join(releases)} only; "
                         f"{sel.release} cannot be downloaded from there")
    return sel.release or releases[-1]


def version_folder(sources: Path, p: Publisher, release: str) -> str:
    """The version folder of ``release``: an existing folder of the layer spelling the same
    release (hansen_gfc/v1.12 for GFC-2024-v1.12), else the release itself."""
    layer_dir = sources / p.layer
    if layer_dir.is_dir():
        for d in sorted(layer_dir.iterdir()):
            if d.is_dir() and not d.name.startswith(".") and p.release.normalise(d.name) == release:
                return d.name
    return release


def match_regex(band: Band, tile: str, year: int | None, release: str) -> str | None:
    if band.local_match is None:
        return None
    values = {"{tile}": tile, "{year}": str(year or ""), "{release}": release}
    return re.sub(r"\{(tile|year|release)\}", lambda m: re.escape(values[m.group(0)]), band.local_match)


def find_file(folder: Path, item: Item) -> Path | None:
    """The item's file in ``folder`` (its name, or one matching local_match), if there."""
    if (folder / item.local_name).is_file():
        return folder / item.local_name
    if item.local_match and folder.is_dir():
        return next((f for f in sorted(folder.iterdir()) if f.is_file() and re.fullmatch(item.local_match, f.name)),
                    None)
    return None


def has_file(folder: Path, item: Item) -> bool:
    return find_file(folder, item) is not None


def plan_selection(sel: Selection, area: Sequence[BaseGeometry], sources: Path, client: Http) -> Plan:
    """The files of ``sel`` covering ``area``: which to download, which are there, which
    tiles are skipped (outside the coverage, not in the tile list) and why."""
    p, plan = sel.publisher, Plan()
    tiles = p.grid.covering(area)
    inside = [t for t in tiles if p.grid.contains(t)]
    for b in sel.bands:
        plan.skipped += [(f"{p.key}.{b}", p.grid.name(t), "outside the publisher's coverage")
                         for t in tiles if not p.grid.contains(t)]
    release = resolve_release(sel, inside, client)
    if release is None:
        plan.skipped += [(f"{p.key}.{b}", p.grid.name(t), "not published (no tile answered)")
                         for b in sel.bands for t in inside]
        return plan
    version = version_folder(sources, p, release)
    for key in sel.bands:
        plan_band(p, p.bands[key], release, version, inside, sources, client, plan)
    return plan


def plan_band(p: Publisher, band: Band, release: str, version: str, tiles: list[Tile], sources: Path,
              client: Http, plan: Plan) -> None:
    """Add the files of one band to ``plan``."""
    published = listed(client, p, band, release).get(release, set()) if band.list_url else None
    last = p.release.year(release)
    if band.per_year and last is None:
        raise FetchError(f"{p.key}.{band.key}: the release {release} does not tell its last year")
    years = range(band.first_year or last, last + 1) if band.per_year else [None]
    final = sources / p.layer / version
    for tile in tiles:
        name = p.grid.name(tile)
        if published is not None and name not in published:
            plan.skipped.append((f"{p.key}.{band.key}", name, "not published (not in the publisher's tile list)"))
            continue
        for year in years:
            item = Item(p.key, p.layer, version, band.key, name, p.fill(band.url, release, tile, year, band.key),
                        p.fill(band.local_name, release, tile, year, band.key), match_regex(band, name, year, release),
                        band.served_name, published is not None, year, p.missing_status)
            (plan.present if has_file(final, item) else plan.items).append(item)


# ---------------------------------------------------------------- downloading


class Progress:
    """The run's one progress bar (bytes; on stderr when it is a terminal), shared by the
    download threads, and the flag that stops them (Ctrl-C)."""

    def __init__(self, enabled: bool) -> None:
        from tqdm import tqdm

        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.bar = tqdm(total=0, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                        disable=None if enabled else True, desc="layers fetch", mininterval=0.5)

    def expect(self, n: int) -> None:
        with self.lock:
            self.bar.total = (self.bar.total or 0) + n
            self.bar.refresh()

    def advance(self, n: int) -> None:
        with self.lock:
            self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


@dataclass
class Outcome:
    """How one item ended: "done" (``name`` in the staging folder, ``size`` bytes),
    "missing" (the publisher has no such tile) or "failed" (``reason``)."""

    item: Item
    status: str
    name: str = ""
    size: int = 0
    reason: str = ""


@dataclass
class Transfer:
    """One item's download in progress: its part file and what the responses said."""

    item: Item
    part: Path
    checksum_headers: tuple[str, ...]
    md5: str | None = None
    served: str | None = None
    counted: int = 0  # bytes of this file in the progress bar's total


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc) or type(exc).__name__


def content_range(resp: Any, start: int) -> tuple[int | None, int | None]:
    """(offset the body starts at, whole file size) of a 200 or 206 response; offset None
    when a 206 does not start where asked."""
    length = resp.headers.get("Content-Length")
    if resp.status == 200:
        return 0, int(length) if length and length.isdigit() else None
    m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range") or "")
    if not m or int(m.group(1)) != start:
        return None, None
    return start, int(m.group(3)) if m.group(3) != "*" else None


def stream(resp: Any, t: Transfer, offset: int, options: FetchOptions, progress: Progress) -> None:
    """The response body written to the part file from ``offset`` (0: from scratch), one
    chunk at a time."""
    had = size_of(t.part)
    read = getattr(resp, "read1", resp.read)  # what has arrived: a stalled read keeps the bytes before it
    with open(t.part, "r+b" if offset and t.part.exists() else "wb") as fh:
        fh.seek(offset)
        fh.truncate()
        progress.advance(offset - had)
        while not progress.stop.is_set():
            chunk = read(options.chunk_bytes)
            if not chunk:
                break
            fh.write(chunk)
            progress.advance(len(chunk))


def attempt_once(t: Transfer, client: Http, options: FetchOptions, progress: Progress) -> tuple[str, str, str | None]:
    """One request for the rest of the file: ("done" | "retry" | "missing" | "failed",
    reason, the server's Retry-After)."""
    start, url = size_of(t.part), t.item.url
    try:
        with client.open(url, start) as resp:
            status, retry_after = resp.status, resp.headers.get("Retry-After")
            if status == t.item.missing_status and not t.item.listed:
                return "missing", f"HTTP {status}", None
            if status == 416 and (resp.headers.get("Content-Range") or "").endswith(f"/{start}"):
                return "done", "", None  # the part was already whole
            if status == 416:  # the part is not a prefix of the file the server has now: start over
                t.part.unlink(missing_ok=True)
                progress.advance(-start)
                return "retry", f"HTTP 416 for bytes={start}- of {url}", None
            if status not in (200, 206):
                listed = " for a tile the publisher lists" if status == t.item.missing_status else ""
                return ("retry" if transient_status(status) else "failed"), f"HTTP {status}{listed} from {url}", \
                    retry_after
            offset, total = content_range(resp, start)
            if offset is None:
                t.part.unlink(missing_ok=True)
                progress.advance(-start)
                return "retry", f"{url} answered another byte range than bytes={start}-", None
            t.md5 = header_md5(resp.headers, t.checksum_headers, status == 200) or t.md5
            t.served = served_filename(resp.headers) or t.served
            if total is not None and total != t.counted:
                progress.expect(total - t.counted)
                t.counted = total
            stream(resp, t, offset, options, progress)
    except (OSError, http.client.HTTPException) as exc:
        return "retry", f"{describe(exc)} at byte {size_of(t.part)} of {url}", None
    if progress.stop.is_set():
        return "failed", "interrupted", None
    got = size_of(t.part)
    if total is not None and got != total:
        return "retry", f"connection closed at byte {got} of {total} of {url}", None
    return "done", "", None


def verify(t: Transfer, progress: Progress) -> str:
    """Why the finished part file is not the publisher's file ("" when it is): not a TIFF,
    or not the MD5 the publisher sent. A bad part is deleted (the retry starts over)."""
    with open(t.part, "rb") as fh:
        head = fh.read(4)
    reason = "" if head in TIFF_MAGIC else f"{t.item.url} sent no GeoTIFF (it starts with {head!r})"
    if not reason and t.md5:
        digest = hashlib.md5()
        with open(t.part, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != t.md5:
            reason = f"{t.item.url}: MD5 {digest.hexdigest()} is not the publisher's {t.md5}"
    if reason:
        progress.advance(-size_of(t.part))
        t.part.unlink(missing_ok=True)
    return reason


def finished_name(t: Transfer) -> str:
    """The served name when the band keeps it and it looks like the band's file, else the
    name from the data file's template."""
    served, item = t.served, t.item
    if item.served_name and served and (item.local_match is None or re.fullmatch(item.local_match, served)):
        return served
    return item.local_name


def download(item: Item, staging: Path, client: Http, options: FetchOptions, progress: Progress,
             checksum_headers: tuple[str, ...] = ()) -> Outcome:
    """Download one item into ``staging/<layer>/<version>/`` (resuming its part file),
    with retries; a file finished by an earlier run is taken as it is."""
    folder = staging / item.layer / item.version
    earlier = find_file(folder, item)
    if earlier is not None:
        return Outcome(item, "done", earlier.name, size_of(earlier))
    folder.mkdir(parents=True, exist_ok=True)
    t = Transfer(item, folder / f"{item.local_name}.part", checksum_headers)
    reason = ""
    for attempt in range(1, options.attempts + 1):
        before = size_of(t.part)
        status, reason, retry_after = attempt_once(t, client, options, progress)
        if status == "done":
            reason = verify(t, progress)
            if not reason:
                name = finished_name(t)
                os.replace(t.part, folder / name)
                return Outcome(item, "done", name, size_of(folder / name))
            status = "retry"
        if status in ("missing", "failed"):
            return Outcome(item, status, reason=reason)
        if attempt < options.attempts and size_of(t.part) <= before:
            time.sleep(backoff(options, attempt, retry_after))
    return Outcome(item, "failed", reason=f"{reason} (gave up after {options.attempts} attempts)")


def download_all(items: list[Item], staging: Path, client: Http, options: FetchOptions,
                 publishers: dict[str, Publisher]) -> list[Outcome]:
    """Every item, ``options.workers`` at a time, under one progress bar."""
    progress = Progress(options.progress)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, options.workers))
    try:
        futures = [pool.submit(download, it, staging, client, options, progress,
                               publishers[it.publisher].checksum_headers) for it in items]
        return [f.result() for f in futures]
    except BaseException:
        progress.stop.set()  # the threads stop at their next chunk; parts stay for a resume
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close()


# ---------------------------------------------------------------- placing


def place(sources: Path, layer: str, version: str, names: list[str]) -> bool:
    """Move finished files from the staging folder into ``SOURCES/<layer>/<version>/``: a
    new version folder appears whole (one rename); into an existing one each file is
    renamed (never over a file already there). Returns whether the folder existed."""
    staged, final = sources / STAGING / layer / version, sources / layer / version
    if final.is_dir():
        for n in names:
            if not (final / n).exists():
                os.replace(staged / n, final / n)
        return True
    ready = sources / STAGING / layer / f".{version}.{uuid.uuid4().hex[:8]}.ready"
    ready.mkdir(parents=True)
    for n in names:
        os.replace(staged / n, ready / n)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.rename(ready, final)
    return False


def remove_staging(sources: Path, folder: Path) -> None:
    """Delete a staging folder and the staging parents it leaves empty."""
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, folder.parent.parent):
        if parent.is_dir() and parent != sources and not any(parent.iterdir()):
            parent.rmdir()


def in_force_note(sources: Path, layer: str, version: str) -> str | None:
    """A note when ``version`` is not the version in force of ``layer`` (an older spelling
    sorts after it, or the manifest pins another)."""
    try:
        current = current_version(sources, layer)
    except LayerSourceError as exc:  # a broken manifest: ingestion will say so too
        return str(exc)
    if current != version:
        return (f"{layer}/{version} is not the version in force ({current} is: natural sort or "
                f"{layer}/manifest.json); pin it with {{\"version\": \"{version}\"}} in {layer}/manifest.json")
    return None


def place_all(report: FetchReport, outcomes: list[Outcome]) -> None:
    """Place each version folder all of whose files are done; keep the others staged."""
    sources = report.sources
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault((o.item.layer, o.item.version), []).append(o)
    for (layer, version), outs in groups.items():
        staged = sources / STAGING / layer / version
        if any(o.status == "failed" for o in outs):
            if staged.is_dir():
                report.kept.append(staged)
            continue
        names = [o.name for o in outs if o.status == "done"]
        if names:
            existed = place(sources, layer, version, names)
            report.placed.append(f"{layer}/{version}")
            if existed:
                report.extended.append(f"{layer}/{version}")
            note = in_force_note(sources, layer, version)
            report.notes += [note] if note else []
        remove_staging(sources, staged)


def fetch_layers(sources: Path, area: Sequence[BaseGeometry], selections: Sequence[Selection],
                 options: FetchOptions = FetchOptions()) -> FetchReport:
    """Download the tiles of ``selections`` that cover ``area`` into ``sources`` (module
    docstring). Problems with the plan raise FetchError; a file that cannot be downloaded
    is listed in ``report.failed`` and its version folder stays staged for the next run."""
    sources = Path(sources)
    client = Http(options)
    report = FetchReport(sources)
    for sel in selections:
        plan = plan_selection(sel, area, sources, client)
        report.planned += plan.items
        report.present += plan.present
        report.not_published += plan.skipped
        report.notes += plan.notes
    if options.dry_run or not report.planned:
        return report
    publishers = {sel.publisher.key: sel.publisher for sel in selections}
    outcomes = download_all(report.planned, sources / STAGING, client, options, publishers)
    for o in outcomes:
        if o.status == "done":
            report.downloaded.append((o.item, o.name, o.size))
        elif o.status == "missing":
            report.not_published.append((f"{o.item.publisher}.{o.item.band}",
                                         o.item.tile + (f" {o.item.year}" if o.item.year else ""),
                                         f"not published ({o.reason})"))
        else:
            report.failed.append((o.item, o.reason))
    place_all(report, outcomes)
    return report


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def compact(tiles: list[str]) -> str:
    """``N10_W10 1990, N10_W10 1991, ...`` as ``N10_W10 (1990-2024)``: per-year files of a tile."""
    years: dict[str, list[str]] = {}
    for entry in tiles:
        tile, _, year = entry.partition(" ")
        years.setdefault(tile, []).append(year)
    return ", ".join(t if ys == [""] else f"{t} ({ys[0]}-{ys[-1]})" if len(ys) > 1 else f"{t} ({ys[0]})"
                     for t, ys in years.items())


def report_lines(report: FetchReport, dry_run: bool = False) -> list[str]:
    """The run for a terminal: per dataset and release what was fetched (or would be) or
    was there, the tiles skipped and why, failures, the folders written or kept, notes."""
    lines: list[str] = []
    if dry_run:
        lines += [f"would fetch {it.url}\n  -> {report.sources / it.layer / it.version / it.local_name}"
                  + (" (or the name the publisher serves)" if it.served_name else "") for it in report.planned]
    rows: dict[tuple[str, str], list[int]] = {}  # (dataset, version) -> [files, bytes, already there]
    for it in report.planned + report.present:
        rows.setdefault((f"{it.publisher}.{it.band}", it.version), [0, 0, 0])
    for it, size in ([(it, 0) for it in report.planned] if dry_run else [(it, n) for it, _, n in report.downloaded]):
        row = rows[(f"{it.publisher}.{it.band}", it.version)]
        row[0], row[1] = row[0] + 1, row[1] + size
    for it in report.present:
        rows[(f"{it.publisher}.{it.band}", it.version)][2] += 1
    done = "to download" if dry_run else "downloaded"
    lines += [f"{label:<30} {version:<16} {n} {done}" + ("" if dry_run else f" ({human_bytes(size)})")
              + f", {there} already there" for (label, version), (n, size, there) in rows.items()]
    skipped: dict[tuple[str, str], list[str]] = {}
    for label, tile, why in report.not_published:
        skipped.setdefault((label, why), []).append(tile)
    lines += [f"{label:<30} skipped, {why}: {compact(tiles)}" for (label, why), tiles in skipped.items()]
    lines += [f"failed: {it.label()}: {reason}" for it, reason in report.failed]
    lines += [f"in place: {report.sources / folder}/" for folder in report.placed]
    lines += [f"note: tiles were added to the existing {folder}: a version already ingested keeps the tiles it had "
              "in the store (a version is ingested once), so fetch the whole area before ingesting"
              for folder in report.extended]
    lines += [f"kept for the next run, which resumes it: {path}" for path in report.kept]
    return lines + [f"note: {n}" for n in report.notes]


# ---------------------------------------------------------------- layers add (manual downloads)


def manual_version(paths: Sequence[Path], today: dt.date | None = None) -> str:
    """The version folder of manually downloaded files: the release month a file name
    gives (WDPA's ``Sep2026`` -> ``2026-09``; ``2026-09``, ``2026_09``, ``202609``), else
    today's month (YYYY-MM; the download month)."""
    for p in paths:
        m = re.search(r"(?<![A-Za-z])(" + "|".join(MONTHS) + r")[a-z]*[ _-]?((?:19|20)\d{2})(?!\d)", p.name, re.I)
        if m:
            return f"{m.group(2)}-{MONTHS.index(m.group(1).lower()) + 1:02d}"
        m = re.search(r"(?<!\d)((?:19|20)\d{2})[-_]?(0[1-9]|1[0-2])(?!\d)", p.name)
        if m:
            return f"{m.group(1)}-{m.group(2)}"
    return f"{today or dt.date.today():%Y-%m}"


def unpack(archive: Path, into: Path, depth: int = 2) -> None:
    """Extract a .zip (zipfile drops absolute and '..' parts of member names), and the .zip
    files it holds (WDPA ships its shapefile in three zipped parts), each into a folder
    named after it."""
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(into)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FetchError(f"{archive}: cannot unpack ({exc})") from exc
    if depth > 1:
        for inner in sorted(into.rglob("*.zip")):
            unpack(inner, inner.with_suffix(""), depth - 1)
            inner.unlink()


def copy_in(path: Path, into: Path) -> None:
    """One thing the user gives, copied under ``into``: a folder whole, a .zip unpacked into
    a folder of its name, a file (a shapefile with its sidecar files)."""
    target = into / (path.stem if path.suffix.lower() == ".zip" else path.name)
    if target.exists():
        raise FetchError(f"{path}: two of the given files are named {target.name}")
    if path.is_dir():
        shutil.copytree(path, target)
    elif path.suffix.lower() == ".zip":
        unpack(path, target)
    elif path.suffix.lower() == ".shp":
        for sidecar in sorted(path.parent.glob(path.stem + ".*")):
            shutil.copy2(sidecar, into / sidecar.name)
    else:
        shutil.copy2(path, target)


def column_names(path: Path) -> list[str]:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    import pyogrio

    return list(pyogrio.read_info(str(path))["fields"])


def check_added(p: Publisher, folder: Path) -> list[Path]:
    """The vector files the reader will open in ``folder``; a FetchError when there is
    none, or (WDPA) one lacks the WDPA columns."""
    from eudr_pipeline.layers.remote import files_in

    files = files_in(folder, VECTOR_SUFFIXES)
    if not files:
        raise FetchError(f"{p.key}: the given files hold no vector file the reader opens "
                         f"({', '.join(VECTOR_SUFFIXES)}); {manual_instructions(p)}")
    if p.layer == "wdpa":
        for f in files:
            try:
                missing = [c for c in WDPA_REQUIRED_COLUMNS if c not in column_names(f)]
            except Exception as exc:  # GDAL and arrow raise many kinds
                raise FetchError(f"{f.name}: cannot read ({exc})") from exc
            if missing:
                raise FetchError(f"{f.name}: not a WDPA file (no {', '.join(missing)} column)")
    return files


def add_files(sources: Path, p: Publisher, paths: Sequence[Path], version: str | None = None,
              today: dt.date | None = None) -> tuple[Path, list[Path]]:
    """Import files the user downloaded (``eudr layers add``) into
    ``SOURCES/<layer>/<version>/`` (version: ``version``, else manual_version): copied (a
    .zip unpacked) into a staging folder, checked, then renamed into place, never over a
    file already there. Returns the version folder and the vector files it now holds."""
    for path in paths:
        if not path.exists():
            raise FetchError(f"{path}: no such file; {manual_instructions(p)}")
    version = version or manual_version(paths, today)
    if not VERSION_NAME.match(version):
        raise FetchError(f"--version {version!r}: use letters, digits, '.', '_' or '-' (e.g. 2026-09)")
    staged = sources / STAGING / p.layer / f"add.{uuid.uuid4().hex[:8]}"
    staged.mkdir(parents=True)
    try:
        for path in paths:
            copy_in(path, staged)
        files = check_added(p, staged)
        final = sources / p.layer / version
        clash = [e.name for e in staged.iterdir() if (final / e.name).exists()]
        if clash:
            raise FetchError(f"{final} already holds {', '.join(sorted(clash))}; give another --version")
        if final.is_dir():
            for entry in sorted(staged.iterdir()):
                os.replace(entry, final / entry.name)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staged, final)
    finally:
        remove_staging(sources, staged)
    return final, [final / f.relative_to(staged) for f in files]
