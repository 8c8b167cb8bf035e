"""The job report: the document a compliance officer files for one job, as HTML
(``GET /jobs/{id}/report``) and as PDF (``?format=pdf``), built from the job's response
object (job_response.py), its maps in the results store (maps.py) and the service's
settings.

- **HTML**: one self-contained file (CSS inline, fonts and images as data URIs, no
  external fetch). The plot table is drawn by a small inline script from a JSON array of
  the rows: sorting and filtering work on the whole array, only one page of rows is in
  the DOM, and only those rows' thumbnails become ``<img>`` elements (the rest stay data
  strings in the array), so a 10,000-plot report opens without freezing. Jobs of up to
  FULL_MAPS_IN_HTML plots also show every plot's full map.
- **PDF** (WeasyPrint): a summary page (job, counts and chart, overview map), a method
  page, then one page per ``per_page`` plots, each with its thumbnail and its facts; the
  DRY RUN banner, the job and the page number on every page.
- **One analysis**: the numbers come from the response object and the maps from the
  folder of the analysis it names (``analysis_run``, maps.images_key), so a report never
  shows the numbers of one analysis with the maps of another.
- **Cache**: the objects ``<job_id>/report.html|pdf`` of the results store, written whole
  (object_store.py), with a ``.key`` sidecar object holding the report's key and the
  file's SHA-256. The key covers the
  job (updated_at, finished_at, status, layer_versions, analysis_run: a re-analysis
  changes them), the
  facts of every row, the maps it shows (name, size, version: ETag or mtime), the risk rule
  and canopy threshold in force, the page size and the templates, so any of them changing renders
  the report again; the SHA-256 makes a report and a sidecar of two racing writers
  never pass for a pair.

Risk levels are told apart by colour (Okabe-Ito, as on the maps), shape and text, never
by colour alone. Fonts: Source Sans Pro from the ``font_source_sans_pro`` package."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import math
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Iterable

import orjson
from markupsafe import Markup

from eudr_pipeline import __version__
from eudr_pipeline.core.analysis import AnalysisOptions
from eudr_pipeline.core.risk import CUTOFF_DATE
from eudr_pipeline.layers.reference_layers import ATTRIBUTIONS, DESCRIPTIONS
from eudr_pipeline.object_store import ObjectInfo, ObjectStore, as_object_store, key_join

PLOTS_PER_PDF_PAGE = 6   # a 2 x 3 grid of plot cards on A4
PDF_FRONT_PAGES = 2      # the summary page and the method page, before the plot pages
PDF_PAGES_PER_PART = 150 # a longer PDF is laid out in parts of this many plot pages (render_pdf)
ROWS_PER_HTML_PAGE = 50  # table rows in the DOM at once (the reader can choose 25..500)
FULL_MAPS_IN_HTML = 100  # up to this many plots, the HTML shows every plot's full map too
THUMBNAIL_PX = 240       # a missing thumbnail is made from the full map at this width
PREVIEW_PX = 400         # the overview map in Dagster's metadata
FORMATS = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}
FONT_WEIGHTS = {"Regular": 400, "Semibold": 600, "Bold": 700}
DRY_RUN_BANNER = "DRY RUN: simulated, not an analysis"


@dataclass(frozen=True)
class RiskStyle:
    """How a risk level is drawn: its label, fill colour, a tint for backgrounds and a
    shape, so that no colour alone carries the meaning."""

    label: str
    colour: str
    tint: str
    shape: str  # a key of SHAPE_PATHS

    @property
    def path(self) -> str:
        return SHAPE_PATHS[self.shape]

    @property
    def icon_uri(self) -> str:
        """The shape as an SVG data URI: one image for every badge of the level (WeasyPrint
        parses an inline <svg> per element, an image once per URI)."""
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="12" height="12" viewBox="0 0 12 12">'
               f'<path fill-rule="evenodd" fill="{self.colour}" d="{self.path}"/></svg>')
        return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")

    def as_json(self) -> dict[str, str]:
        return {"label": self.label, "colour": self.colour, "tint": self.tint, "path": self.path}


# 12 x 12 SVG paths (fill-rule evenodd): one shape per level, so that shape and text
# carry the meaning where colours are hard to tell apart
SHAPE_PATHS = {
    "triangle": "M6 0.6 11.7 11.2 0.3 11.2Z",
    "diamond": "M6 0.3 11.7 6 6 11.7 0.3 6Z",
    "circle": "M0.8 6a5.2 5.2 0 1 0 10.4 0a5.2 5.2 0 1 0 -10.4 0Z",
    "cross": "M1.4 3.4 3.4 1.4 6 4 8.6 1.4 10.6 3.4 8 6 10.6 8.6 8.6 10.6 6 8 3.4 10.6 1.4 8.6 4 6Z",
    "ring": "M0.5 6a5.5 5.5 0 1 0 11 0a5.5 5.5 0 1 0 -11 0ZM3 6a3 3 0 1 1 6 0a3 3 0 1 1 -6 0Z",
}


# Okabe-Ito colours, the same as the maps' (core/render.py RISK_COLOURS); failed grey
RISK_STYLES: dict[str, RiskStyle] = {
    "High": RiskStyle("High", "#D55E00", "#FBE3D4", "triangle"),
    "Medium": RiskStyle("Medium", "#E69F00", "#FCEFD2", "diamond"),
    "Low": RiskStyle("Low", "#0072B2", "#D6E8F3", "circle"),
    "failed": RiskStyle("Failed", "#969696", "#EDEDED", "cross"),
    "not assessed": RiskStyle("Not assessed", "#000000", "#F2F2F2", "ring"),
    "pending": RiskStyle("Pending", "#56B4E9", "#E3F2FB", "ring"),
}
RISK_LEVELS = ("High", "Medium", "Low", "failed")  # always counted; the other two only when present
SEVERITY = {level: rank for rank, level in enumerate(RISK_STYLES)}


# ---------------------------------------------------------------------- the plot rows

def level_of(plot: dict) -> str:
    """The report's category of one plot of a response object."""
    if plot.get("status") == "failed" or plot.get("error"):
        return "failed"
    level = (plot.get("analysis") or {}).get("risk_level")
    if level in ("High", "Medium", "Low"):
        return level
    return "not assessed" if plot.get("status") == "done" else "pending"


def risk_counts(resp: dict) -> dict[str, int]:
    """Plots per category: High, Medium, Low, failed always; 'not assessed' (no eudr
    check) and 'pending' (not finished) when there are any."""
    counts = dict.fromkeys(RISK_STYLES, 0)
    for p in resp["plots"]:
        counts[level_of(p)] += 1
    return {k: v for k, v in counts.items() if k in RISK_LEVELS or v}


def short_reason(reason: str | None, rule_text: str) -> str | None:
    """The risk reason without the rule when it is the rule in force (the method says
    it once); a reason given under another rule keeps its rule."""
    if reason and reason.endswith("; " + rule_text):
        return reason[: -len(rule_text) - 2]
    return reason


def _overlap_ha(analysis: dict, block: str, kind: str) -> float | None:
    return ((analysis.get(block) or {}).get(f"{kind}_overlap_summary") or {}).get("total_overlap_area_ha")


def plot_row(plot: dict, rule_text: str) -> dict[str, Any]:
    """The report's facts of one plot (no images): what the table and the cards show."""
    a = plot.get("analysis") or {}
    loss = a.get("deforestation") or {}
    return {
        "id": plot["plot_id"], "name": plot.get("plot_name") or "", "commodity": a.get("commodity") or plot.get("commodity"),
        "country": plot.get("country"), "area": a.get("areaHa", plot.get("area_ha")), "forest": a.get("forest_area_2020"),
        "loss_h": loss.get("total"), "loss_j": loss.get("total_jrc"), "logging": a.get("logging_area"),
        "pa": _overlap_ha(a, "protected_areas", "protected_area"), "il": _overlap_ha(a, "indigenous_land", "indigenous_land"),
        "risk": level_of(plot), "reason": short_reason(a.get("risk_reason"), rule_text), "error": plot.get("error"),
        "analysis_end": a.get("analysis_end"),
    }


# ---------------------------------------------------------------------- images

@dataclass(frozen=True)
class JobImages:
    """The maps of a job (maps.py) under the key ``prefix`` of a results store:
    ``<plot_id>.png`` (full map), ``thumbs/<plot_id>.png`` and ``overview.png``; any of
    them may be missing. The folder is listed once (one listing, not a request or a stat
    per plot); a map is fetched into the local working copy (``folder``) only when its
    bytes are needed."""

    store: ObjectStore
    prefix: str
    objects: dict[str, ObjectInfo]  # by name under the prefix: "x.png", "thumbs/x.png"

    @classmethod
    def scan(cls, folder: Path) -> "JobImages":
        """The maps in the local ``folder``."""
        return cls.of(ObjectStore(folder), "")

    @classmethod
    def of(cls, store: ObjectStore, prefix: str) -> "JobImages":
        """The maps under ``prefix`` (maps.images_key) of ``store``."""
        start = len(prefix) + 1 if prefix else 0
        names = {i.key[start:]: i for i in store.list(prefix)}
        return cls(store, prefix, {n: i for n, i in names.items() if _is_map_name(n)})

    @property
    def folder(self) -> Path:
        """The local working copy of the maps folder (where WeasyPrint reads them)."""
        return self.store.local_path(self.prefix)

    def _file(self, name: str) -> Path | None:
        info = self.objects.get(name)
        return None if info is None else self.store.working_copy(key_join(self.prefix, name), info)

    def _name(self, plot_id: str, thumb: bool) -> str | None:
        name = f"thumbs/{plot_id}.png" if thumb else f"{plot_id}.png"
        return name if name in self.objects else None

    def full(self, plot_id: str) -> Path | None:
        return self._file(f"{plot_id}.png")

    def thumb(self, plot_id: str) -> Path | None:
        return self._file(f"thumbs/{plot_id}.png")

    def overview(self) -> Path | None:
        return self._file("overview.png")

    def used(self, plot_ids: list[str], full_maps: bool) -> list[str]:
        """The names of the maps a report shows: the overview, each plot's thumbnail (its
        full map when the thumbnail is missing) and, with ``full_maps``, each full map."""
        out = [n for n in ["overview.png"] if n in self.objects]
        for pid in plot_ids:
            out += [n for n in [self._name(pid, True) or self._name(pid, False)] if n]
            out += [n for n in [self._name(pid, False)] if n and full_maps]
        return out

    def stamp(self, plot_ids: list[str], full_maps: bool) -> list:
        """Name, size and version of every map the report shows: a map added or redrawn
        changes it; a full map drawn later for a large job (not shown) does not."""
        return [(n, self.objects[n].size, self.objects[n].version) for n in self.used(plot_ids, full_maps)]


def _is_map_name(name: str) -> bool:
    """``<plot_id>.png``, ``overview.png`` or ``thumbs/<plot_id>.png``."""
    folder, _, file = name.rpartition("/")
    return file.endswith(".png") and folder in ("", "thumbs")


def response_images(results: ObjectStore, resp: dict) -> JobImages:
    """The maps of the analysis the response object ``resp`` shows (its ``analysis_run``;
    none for a response written before migration 0003: the job's maps folder)."""
    from eudr_pipeline.service.maps import images_key

    return JobImages.of(results, images_key(resp["job_id"], resp.get("analysis_run")))


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def downscaled_png(path: Path, width: int) -> bytes:
    """The PNG at ``path`` at most ``width`` px wide."""
    from PIL import Image

    with Image.open(path) as img:
        if img.width > width:
            img = img.resize((width, max(1, round(img.height * width / img.width))), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def thumbnail_bytes(images: JobImages, plot_id: str) -> bytes | None:
    """The plot's thumbnail; made from its full map when the thumbnail is missing."""
    thumb = images.thumb(plot_id)
    if thumb is not None:
        return thumb.read_bytes()
    full = images.full(plot_id)
    return downscaled_png(full, THUMBNAIL_PX) if full is not None else None


def preview_markdown(images: JobImages, counts: dict[str, int], width: int = PREVIEW_PX) -> str:
    """Markdown for Dagster's metadata: the counts and the overview map (a data URI,
    ``width`` px wide), or a note that the map is not available."""
    line = " | ".join(f"{RISK_STYLES[k].label}: {v}" for k, v in counts.items())
    overview = images.overview()
    if overview is None:
        return f"{line}\n\n_overview map not available_"
    return f"{line}\n\n![overview map]({png_data_uri(downscaled_png(overview, width))})"


# ---------------------------------------------------------------------- job, method, chart

def when(iso_text: str | None) -> str:
    """An ISO 8601 time as ``YYYY-MM-DD HH:MM UTC`` (the text itself if it does not parse)."""
    if not iso_text:
        return "–"
    try:
        t = dt.datetime.fromisoformat(str(iso_text))
    except ValueError:
        return str(iso_text)
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def hectares(value: Any, unit: bool = False, digits: int = 3) -> str:
    """A number of hectares for the tables, with " ha" after it if ``unit`` ('–' when
    there is none)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{float(value):,.{digits}f}" + (" ha" if unit else "")


def job_facts(resp: dict) -> dict[str, Any]:
    """The job's own facts for the report's header."""
    versions = sorted({(p.get("analysis") or {}).get("version") for p in resp["plots"]} - {None})
    return {
        "id": resp["job_id"], "name": resp.get("job_name") or f"Job {resp['job_id']}", "owner": resp["username"],
        "created": when(resp.get("created_at")), "finished": when(resp.get("finished_at")), "status": resp["status"],
        "dry_run": bool(resp.get("dry_run")), "notes": resp.get("notes"), "harvest_date": resp.get("harvest_date"),
        "plots": len(resp["plots"]), "versions": versions, "token_cost": resp.get("token_cost"),
        "layer_versions": resp.get("layer_versions") or {},
    }


def _layer_description(layer: str) -> str:
    return next((d for k, d in DESCRIPTIONS.items() if layer == k or layer.startswith(k + "_")), "")


def method(resp: dict, options: AnalysisOptions) -> dict[str, Any]:
    """How the numbers were made: the layers and versions the analyses read (their
    ``sources``), the canopy threshold, the risk rule in force, the cut-off date."""
    layers: dict[tuple, dict] = {}
    thresholds: set[int] = set()
    for p in resp["plots"]:
        a = p.get("analysis") or {}
        for s in a.get("sources") or []:
            key = (s.get("layer"), s.get("source_name"), s.get("data_version"))
            if key not in layers:
                name = s.get("layer") or ""
                layers[key] = {"layer": name, "source": s.get("source_name") or name, "version": s.get("data_version"),
                               "attribution": ATTRIBUTIONS.get(name, ""), "description": _layer_description(name)}
        if a.get("canopy_threshold") is not None:
            thresholds.add(a["canopy_threshold"])
    return {
        "layers": sorted(layers.values(), key=lambda r: (r["layer"], str(r["version"]))),
        "canopy_thresholds": sorted(thresholds) or [options.canopy_threshold],
        "risk_rule": options.risk_rule.describe(), "cutoff": CUTOFF_DATE,
        "commodity_rules": commodity_rules_text(options),
    }


def commodity_rules_text(options: AnalysisOptions) -> list[str]:
    """One line per commodity group of the rule sets in force (none under the default rule)."""
    rules = options.commodity_rules
    if rules is None:
        return []
    out = []
    for g in rules.groups:
        steps = "; ".join(f"{'no ' if st.negate else ''}{rules.signals[st.signal].description}: {st.outcome}"
                          for st in g.steps)
        out.append(f"{g.title} ({', '.join(g.commodities)}): {steps}; otherwise {g.default}")
    return out


def _nice_step(top: int, ticks: int = 4) -> int:
    raw = max(top, 1) / ticks
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    return int(next((m * power for m in (1, 2, 5, 10) if m * power >= raw), 10 * power)) or 1


def chart(counts: dict[str, int], width: int = 600) -> dict[str, Any]:
    """The bar chart of ``counts`` (one horizontal bar per category) as SVG geometry."""
    label_w, right, bar_h, gap, top = 118, 96, 26, 12, 6
    plot_w = width - label_w - right
    step = _nice_step(max(counts.values(), default=0))
    axis_max = max(step, math.ceil(max(counts.values(), default=0) / step) * step)
    total = sum(counts.values()) or 1
    bars = []
    for i, (key, n) in enumerate(counts.items()):
        y = top + i * (bar_h + gap)
        bars.append({"key": key, "style": RISK_STYLES[key], "count": n, "y": y, "cy": y + bar_h / 2,
                     "w": round(plot_w * n / axis_max, 2), "pct": 100.0 * n / total})
    axis_y = top + len(bars) * (bar_h + gap)
    ticks = [{"x": round(label_w + plot_w * v / axis_max, 2), "value": v} for v in range(0, axis_max + 1, step)]
    return {"width": width, "height": axis_y + 22, "label_w": label_w, "plot_w": plot_w, "bar_h": bar_h,
            "axis_y": axis_y, "top": top, "bars": bars, "ticks": ticks}


# ---------------------------------------------------------------------- context

@cache
def font_files() -> dict[int, Path]:
    """Source Sans Pro (the ``font_source_sans_pro`` package) by CSS weight."""
    import font_source_sans_pro

    folder = Path(font_source_sans_pro.__file__).parent / "files"
    return {w: folder / f"SourceSansPro-{name}.ttf" for name, w in FONT_WEIGHTS.items()}


@cache
def font_data_uris() -> dict[int, str]:
    return {w: "data:font/ttf;base64," + base64.b64encode(p.read_bytes()).decode("ascii")
            for w, p in font_files().items()}


def json_for_script(value: Any) -> Markup:
    """JSON safe inside a <script> element: no '<', '>' or '&' can end it or open a tag."""
    text = orjson.dumps(value).decode()
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _image_refs(rows: list[dict], images: JobImages, target: str) -> None:
    """Give every row its ``thumb`` (HTML: a data URI; PDF: a file URI) or None."""
    for row in rows:
        if target == "pdf" and (thumb := images.thumb(row["id"])) is not None:
            row["thumb"] = thumb.as_uri()
            continue
        data = thumbnail_bytes(images, row["id"])
        row["thumb"] = None if data is None else png_data_uri(data)


def report_context(resp: dict, options: AnalysisOptions, images: JobImages, *, target: str = "html",
                   per_page: int = PLOTS_PER_PDF_PAGE, generated_at: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the templates show, from the response object, the options in force
    (risk rule, canopy threshold) and the job's maps. ``target``: "html" (images as data
    URIs, rows as JSON for the table script) or "pdf" (images as file URIs, rows in
    pages of ``per_page``)."""
    rule_text = options.risk_rule.describe()
    rows = [plot_row(p, rule_text) for p in resp["plots"]]
    _image_refs(rows, images, target)
    counts = risk_counts(resp)
    overview = images.overview()
    ctx: dict[str, Any] = {
        "job": job_facts(resp), "counts": counts, "chart": chart(counts, 600 if target == "html" else 500),
        "method": method(resp, options),
        "styles": RISK_STYLES, "rows": rows, "banner": DRY_RUN_BANNER, "target": target,
        "generated": when((generated_at or dt.datetime.now(dt.timezone.utc)).isoformat()),
        "software": f"eudr-pipeline {__version__}", "full_maps": [], "per_page": per_page,
    }
    if target == "pdf":
        ctx["fonts"] = {w: p.as_uri() for w, p in font_files().items()}
        ctx["overview"] = overview.as_uri() if overview else None
        ctx["pages"] = [rows[i:i + per_page] for i in range(0, len(rows), per_page)]
        rows_per_page = (per_page + 1) // 2  # two columns of cards
        ctx["card_height"] = round(236 / rows_per_page - 4, 1)
        ctx["cards_height"] = rows_per_page * (ctx["card_height"] + 4)
        return ctx
    ctx["fonts"] = font_data_uris()
    ctx["overview"] = png_data_uri(overview.read_bytes()) if overview else None
    ctx["rows_json"] = json_for_script(rows)
    ctx["styles_json"] = json_for_script({k: s.as_json() for k, s in RISK_STYLES.items()})
    ctx["rows_per_page"] = ROWS_PER_HTML_PAGE
    if len(rows) <= FULL_MAPS_IN_HTML:
        ctx["full_maps"] = [{"row": r, "map": png_data_uri(full.read_bytes()) if (full := images.full(r["id"])) else None}
                            for r in rows if r["risk"] not in ("failed", "pending")]
    return ctx


# ---------------------------------------------------------------------- rendering

@cache
def environment():
    """The Jinja2 environment of the report templates (autoescape on: plot names, notes
    and errors are user input)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("eudr_pipeline.service", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["ha"] = hectares
    env.filters["thousands"] = lambda n: f"{n:,}"
    return env


@cache
def templates_fingerprint() -> str:
    """A digest of every template and this package's version: part of the cache key."""
    from importlib.resources import files

    h = hashlib.sha256(__version__.encode())
    for entry in sorted(files("eudr_pipeline.service").joinpath("templates").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".j2"):
            h.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return h.hexdigest()


def render_html(ctx: dict[str, Any]) -> str:
    return environment().get_template("report.html.j2").render(**ctx)


def url_fetcher(roots: Iterable[Path]):
    """A WeasyPrint URL fetcher that reads data: URIs and files under ``roots`` only (the
    job's maps, the fonts) and refuses everything else: a report never fetches."""
    from urllib.request import url2pathname

    from weasyprint import urls

    allowed = tuple(Path(r).resolve() for r in roots)

    def check(url: str) -> None:
        if url.startswith("data:"):
            return
        if url.startswith("file:"):
            path = Path(url2pathname(url.split("?")[0].removeprefix("file:").removeprefix("//"))).resolve()
            if any(path.is_relative_to(r) for r in allowed):
                return
        raise ValueError(f"the report reads no {url[:80]}")

    if hasattr(urls, "URLFetcher"):  # WeasyPrint >= 68
        class ReportFetcher(urls.URLFetcher):
            def fetch(self, url, headers=None):
                check(url)
                return super().fetch(url, headers)

        return ReportFetcher(allowed_protocols={"data", "file"})

    def fetch(url, *args, **kwargs):  # older WeasyPrint: a function returning a dict
        check(url)
        return urls.default_url_fetcher(url, *args, **kwargs)

    return fetch


def render_pdf_part(ctx: dict[str, Any], images_dir: Path, part: dict[str, Any]) -> bytes:
    """One part of the PDF: ``part`` says whether it has the front pages, how many plot
    pages come before it, its first page number and the document's page count. Runs in
    worker processes too."""
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    html = environment().get_template("report_pdf.html.j2").render(**ctx, part=part)
    roots = [Path(images_dir), next(iter(font_files().values())).parent]
    doc = HTML(string=html, base_url=str(Path(images_dir).resolve()), url_fetcher=url_fetcher(roots))
    return doc.write_pdf(font_config=FontConfiguration())


def pdf_parts(ctx: dict[str, Any], pages_per_part: int | None = None) -> list[tuple[dict, dict]]:
    """The context and ``part`` of each part of a PDF: the front pages and the first
    ``pages_per_part`` (default PDF_PAGES_PER_PART) plot pages, then as many each."""
    pages, pages_per_part = ctx["pages"], pages_per_part or PDF_PAGES_PER_PART
    total = PDF_FRONT_PAGES + len(pages)
    out = []
    for start in range(0, max(len(pages), 1), pages_per_part):
        part = {"front": start == 0, "pages_before": start, "total_pages": total,
                "first_page": 1 if start == 0 else PDF_FRONT_PAGES + start + 1}
        out.append(({**ctx, "pages": pages[start:start + pages_per_part]}, part))
    return out


def render_pdf(ctx: dict[str, Any], images_dir: Path) -> bytes:
    """The PDF of a ``target="pdf"`` context (WeasyPrint, the fonts of the package). A
    long report is laid out in parts of PDF_PAGES_PER_PART plot pages, two at a time in
    worker processes (WeasyPrint keeps a whole document's layout in memory), and the
    parts joined with pypdf; page numbers run through the whole document."""
    parts = pdf_parts(ctx)
    if len(parts) == 1:
        return render_pdf_part(parts[0][0], images_dir, parts[0][1])
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    import pypdf

    with ProcessPoolExecutor(min(2, os.cpu_count() or 1), mp_context=get_context("spawn")) as pool:
        datas = list(pool.map(render_pdf_part, [c for c, _ in parts], [images_dir] * len(parts), [p for _, p in parts]))
    writer = pypdf.PdfWriter()
    for data in datas:
        writer.append(pypdf.PdfReader(io.BytesIO(data)))
    first = pypdf.PdfReader(io.BytesIO(datas[0]))
    writer.add_metadata({k: v for k, v in (first.metadata or {}).items()})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# ---------------------------------------------------------------------- cache

def report_key(resp: dict, options: AnalysisOptions, images: JobImages, fmt: str, per_page: int) -> str:
    """What a report shows, digested: the job's state (a re-analysis changes updated_at
    and layer_versions), the facts of every row, the maps it shows, the options in force,
    the page size, the templates. Equal keys, equal reports (the generation date aside)."""
    rule_text = options.risk_rule.describe()
    job = {k: resp.get(k) for k in ("job_id", "job_name", "username", "notes", "status", "created_at", "updated_at",
                                    "finished_at", "dry_run", "layer_versions", "harvest_date", "analysis_run")}
    h = hashlib.sha256(orjson.dumps({
        "fmt": fmt, "templates": templates_fingerprint(), "job": job, "rule": rule_text, "per_page": per_page,
        "canopy": options.canopy_threshold}, option=orjson.OPT_SORT_KEYS))
    ids = [p["plot_id"] for p in resp["plots"]]
    h.update(orjson.dumps(images.stamp(ids, fmt == "html" and len(ids) <= FULL_MAPS_IN_HTML)))
    for p in resp["plots"]:
        a = p.get("analysis") or {}
        h.update(orjson.dumps([plot_row(p, rule_text), a.get("version"), a.get("sources"), a.get("canopy_threshold")]))
    return h.hexdigest()


def report_object(job_id: str, fmt: str) -> str:
    """The key of a job's report in the results store (its sidecar: this + ".key")."""
    return key_join(job_id, f"report.{fmt}")


def cached_report(results: ObjectStore, name: str, key: str) -> bytes | None:
    """The report ``name`` of ``results`` if its sidecar names ``key`` and its SHA-256."""
    try:
        want_key, want_sha = results.read_bytes(name + ".key").decode().split()
        path = results.working_copy(name)
        data = path.read_bytes() if path is not None else b""
    except (OSError, ValueError):
        return None
    return data if want_key == key and hashlib.sha256(data).hexdigest() == want_sha else None


def store_report(results: ObjectStore, name: str, key: str, data: bytes) -> Path:
    """``data`` as the report ``name`` and its sidecar, each written whole; returns the
    report's working copy."""
    path = results.put_bytes(name, data)
    results.put_bytes(name + ".key", f"{key} {hashlib.sha256(data).hexdigest()}\n")
    return path


_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _render_lock(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(Path(path), threading.Lock())


@dataclass
class Report:
    data: bytes
    path: Path
    media_type: str
    cached: bool
    counts: dict[str, int]


def build_report(resp: dict, results: ObjectStore | Path, fmt: str = "html", *, options: AnalysisOptions,
                 per_page: int = PLOTS_PER_PDF_PAGE) -> Report:
    """The report of the response object ``resp`` in ``fmt`` (html | pdf) from the maps
    of its analysis (``resp["analysis_run"]``) in ``results`` (the results store, or a
    results folder): from the cache when its key still holds, else rendered and cached
    there."""
    if fmt not in FORMATS:
        raise ValueError(f"report format {fmt!r}: html or pdf")
    results = as_object_store(results)
    images = response_images(results, resp)
    key = report_key(resp, options, images, fmt, per_page)
    name = report_object(resp["job_id"], fmt)
    path = results.local_path(name)
    counts = risk_counts(resp)
    with _render_lock(path):  # one render per report at a time in this process; the others wait for it
        data = cached_report(results, name, key)
        if data is not None:
            return Report(data, path, FORMATS[fmt], True, counts)
        ctx = report_context(resp, options, images, target=fmt, per_page=per_page)
        data = render_html(ctx).encode("utf-8") if fmt == "html" else render_pdf(ctx, images.folder)
        store_report(results, name, key, data)
    return Report(data, path, FORMATS[fmt], False, counts)


def job_report(state, job: dict, fmt: str = "html", *, options: AnalysisOptions | None = None,
               per_page: int = PLOTS_PER_PDF_PAGE) -> Report:
    """The report of ``job`` (a job row) over the service ``state``, from its published
    analysis; ``options``: the risk rule and canopy threshold in force (default: the
    state's settings). The thumbnails a large job lacks are drawn first
    (maps.ensure_thumbnails)."""
    from eudr_pipeline.service.maps import MapRequest, ensure_thumbnails

    ensure_thumbnails(MapRequest.of(state, job))
    return build_report(state.job_response(job), state.results, fmt,
                        options=options or state.settings.analysis_options(), per_page=per_page)
