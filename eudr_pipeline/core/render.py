"""Maps as PNG: the per-plot map that shows why a plot got its risk level, its
thumbnail, and the overview map of a job.

A plot map (1200 px wide by default, readable at 800) has a title block (plot name,
area, commodity, risk level and its reason, analysis end, layer versions, a locator of
the region), two map panels of the same extent (the 2020 baseline: JRC forest cover 2020;
at the analysis end: forest remaining, loss after 2020-12-31 coloured by year,
degradation), protected-area and indigenous-land boundaries with their names, the plot
outline in yellow (a point plot as its circle), a scale bar in metres, a north arrow,
and a legend. Raster classes are sampled at each output pixel's centre (nearest cell).
Where an imagery layer is configured, each panel shows the scene of its date (the latest
on or before 2020-12-31, and on or before the analysis end) under the classes, which are
then drawn translucent (CLASS_OPACITY) and other land not at all.

Colours follow the Okabe-Ito palette for colour-blind readers: no red/green pair alone
carries meaning (loss is orange to purple, forest bluish green, each with a legend
label, and risk levels are written out in words). Fonts: Source Sans Pro from the
``font_source_sans_pro`` package, never a font of the machine."""

from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import shapely
from PIL import Image, ImageDraw, ImageFont
from shapely.geometry.base import BaseGeometry

from eudr_pipeline.core.analysis import FIRST_YEAR, LayerSet
from eudr_pipeline.core.imagery import Scene, read_rgb
from eudr_pipeline.core.indicators import CUTOFF
from eudr_pipeline.core.overlaps import VectorLayer

RGB = tuple[int, int, int]
BACKGROUND: RGB = (255, 255, 255)
OTHER_LAND: RGB = (239, 234, 222)
NO_DATA: RGB = (205, 205, 205)
FOREST: RGB = (0, 158, 115)          # Okabe-Ito bluish green
DEGRADED: RGB = (86, 180, 233)       # Okabe-Ito sky blue
LOSS_YEARS: tuple[RGB, ...] = ((230, 159, 0), (213, 94, 0), (204, 121, 167), (136, 34, 85), (68, 34, 136),
                               (51, 34, 59))  # orange -> vermillion -> purple, one per year from 2021
OUTLINE: RGB = (255, 221, 0)         # the plot, with a dark halo
HALO: RGB = (20, 20, 20)
PROTECTED: RGB = (0, 114, 178)       # Okabe-Ito blue, dashed
INDIGENOUS: RGB = (140, 81, 10)      # brown, dotted
TEXT: RGB = (33, 33, 33)
MUTED: RGB = (100, 100, 100)
RISK_COLOURS: dict[str, RGB] = {"High": (213, 94, 0), "Medium": (230, 159, 0), "Low": (0, 114, 178)}
FAILED: RGB = (150, 150, 150)
BASELINE = CUTOFF  # the EUDR cut-off: the left panel shows the land as of this day


@dataclass
class PlotMap:
    """What one plot's map shows besides the layers: the plot (lon/lat degrees), its
    name, facts and outcome, and the versions of the layers it was analysed with."""

    geometry: BaseGeometry
    title: str
    analysis_end: dt.date
    area_ha: float | None = None
    commodity: str | None = None
    risk_level: str | None = None
    risk_reason: str | None = None
    layer_versions: dict[str, str] = field(default_factory=dict)
    from_point: bool = False


# ---------------------------------------------------------------- fonts and frames

@cache
def font(size: int, weight: str = "Regular") -> ImageFont.FreeTypeFont:
    """Source Sans Pro (Regular, Semibold or Bold) at ``size`` px, from its package."""
    import font_source_sans_pro

    path = Path(font_source_sans_pro.__file__).parent / "files" / f"SourceSansPro-{weight}.ttf"
    return ImageFont.truetype(str(path), size)


@dataclass(frozen=True)
class Frame:
    """A map extent (degrees, west/south/east/north) drawn on ``width`` x ``height`` px,
    metres kept square at the centre latitude."""

    west: float
    south: float
    east: float
    north: float
    width: int
    height: int

    @classmethod
    def around(cls, bounds: tuple[float, float, float, float], width: int, height: int,
               margin: float = 0.25, min_deg: float = 0.002) -> "Frame":
        w, s, e, n = bounds
        cx, cy = (w + e) / 2, (s + n) / 2
        k = math.cos(math.radians(cy))
        half_h = max((n - s) * (1 + 2 * margin), min_deg) / 2
        half_w = max((e - w) * (1 + 2 * margin), min_deg) / 2
        half_h = max(half_h, half_w * k * height / width)  # fit both, square metres
        half_w = half_h * width / height / k
        return cls(cx - half_w, cy - half_h, cx + half_w, cy + half_h, width, height)

    def lon_centres(self) -> np.ndarray:
        return self.west + (np.arange(self.width) + 0.5) * (self.east - self.west) / self.width

    def lat_centres(self) -> np.ndarray:
        return self.north - (np.arange(self.height) + 0.5) * (self.north - self.south) / self.height

    def to_px(self, xy: np.ndarray) -> list[tuple[float, float]]:
        """Pixel positions (x right, y down) of lon/lat degrees ``xy`` (n x 2)."""
        return [(x, y) for x, y in self.px_array(xy).tolist()]

    def px_array(self, xy: np.ndarray) -> np.ndarray:
        """``to_px`` as an n x 2 array."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        sx, sy = self.width / (self.east - self.west), self.height / (self.north - self.south)
        return np.column_stack(((xy[:, 0] - self.west) * sx, (self.north - xy[:, 1]) * sy))

    def metres_per_px(self) -> float:
        lat = (self.south + self.north) / 2
        return (self.east - self.west) * 111_320.0 * math.cos(math.radians(lat)) / self.width


# ---------------------------------------------------------------- raster classes

def loss_colour(year: int) -> RGB:
    return LOSS_YEARS[min(max(year - FIRST_YEAR, 0), len(LOSS_YEARS) - 1)]


# class index -> colour: 0 other land, 1 no data, 2 forest 2020, 3 degraded, 4 + k loss in 2021 + k
PALETTE = np.array([OTHER_LAND, NO_DATA, FOREST, DEGRADED, *LOSS_YEARS], dtype=np.uint8)
MAX_CELLS_PER_PIXEL = 4  # coarser frames (a wide overview) get no raster classes: reads stay bounded


def draws_rasters(frame: Frame, layers: LayerSet | None) -> bool:
    """Whether the frame is fine enough to draw the forest layer (at most
    MAX_CELLS_PER_PIXEL cells per output pixel, so a window read stays small)."""
    if layers is None or layers.forest_2020 is None:
        return False
    return (frame.east - frame.west) / frame.width <= MAX_CELLS_PER_PIXEL * layers.forest_2020.grid.dx


def class_index(frame: Frame, layers: LayerSet | None, end_year: int | None) -> np.ndarray:
    """PALETTE indices of the frame's pixels: forest 2020 (and, with ``end_year``, loss
    after 2020 by year and degradation up to ``end_year``) over other land / no data.

    Each pixel shows the cells containing its centre, one per layer. Neighbouring pixel
    rows (columns) that fall in the same cell row (column) of every layer drawn are equal,
    so the classes are computed once per such run of rows and of columns (a 200 px
    thumbnail over 40 cells: 40 x 40 instead of 200 x 200) and then repeated: the same
    pixels, a fraction of the work."""
    if not draws_rasters(frame, layers):
        return np.zeros((frame.height, frame.width), np.uint8)
    drawn = [layers.forest_2020] + ([r for r in (layers.degradation_year, layers.loss_year) if r is not None]
                                    if end_year is not None else [])
    lon, lon_runs = _runs([r.grid.col_of for r in drawn], frame.lon_centres())
    lat, lat_runs = _runs([r.grid.row_of for r in drawn], frame.lat_centres())
    fv, fcov = layers.forest_2020.sample_grid(lon, lat)
    forest = fcov & (fv == 1)
    idx = np.where(fcov, np.where(forest, 2, 0), 1).astype(np.uint8)
    if end_year is not None:
        _mark_change(idx, forest, layers, lon, lat, end_year)
    return idx.take(lat_runs, axis=0).take(lon_runs, axis=1)


def _runs(cell_of: list, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first centre of each run of consecutive ``centres`` that every ``cell_of``
    (a grid's col_of or row_of) maps to the same cell, and each centre's run number."""
    cells = np.stack([f(centres) for f in cell_of])
    new_run = np.any(cells[:, 1:] != cells[:, :-1], axis=0)
    run = np.concatenate(([0], np.cumsum(new_run)))
    return centres[np.concatenate(([True], new_run))], run


def _mark_change(idx: np.ndarray, forest: np.ndarray, layers: LayerSet, lon: np.ndarray, lat: np.ndarray,
                 end_year: int) -> None:
    """Degradation and loss (by year) after 2020 up to ``end_year`` on 2020 forest, in place."""
    if layers.degradation_year is not None:
        dv, dcov = layers.degradation_year.sample_grid(lon, lat)
        dv = dv.astype(np.int64)
        idx[forest & dcov & (dv > 2020) & (dv <= end_year)] = 3
    if layers.loss_year is not None:
        lv, lcov = layers.loss_year.sample_grid(lon, lat)
        year = 2000 + lv.astype(np.int64)
        lost = forest & lcov & (lv != layers.loss_year.fill) & (year >= FIRST_YEAR) & (year <= end_year)
        idx[lost] = 4 + np.clip(year[lost] - FIRST_YEAR, 0, len(LOSS_YEARS) - 1)


# ---------------------------------------------------------------- vector overlays

def _rings(geom: BaseGeometry) -> list[np.ndarray]:
    return [shapely.get_coordinates(r) for r in shapely.get_rings(shapely.get_parts(geom))]


def _dashed(draw: ImageDraw.ImageDraw, pts: list[tuple[float, float]], colour: RGB, width: int,
            dash: float, gap: float) -> None:
    """A dashed polyline (dash and gap in px)."""
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        t = 0.0
        while t < length:
            t1 = min(t + dash, length)
            draw.line([(x0 + (x1 - x0) * t / length, y0 + (y1 - y0) * t / length),
                       (x0 + (x1 - x0) * t1 / length, y0 + (y1 - y0) * t1 / length)], fill=colour, width=width)
            t = t1 + gap


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, colour: RGB, size: int = 15) -> None:
    """Text with a white halo so it reads over any class colour."""
    draw.text(xy, text, fill=colour, font=font(size, "Semibold"), stroke_width=3, stroke_fill=BACKGROUND)


def _overlay_areas(draw: ImageDraw.ImageDraw, frame: Frame, layer: VectorLayer | None, colour: RGB,
                   dash: tuple[float, float], name_key: str) -> list[str]:
    """Boundaries of ``layer``'s polygons in the frame, dashed, each named; their names."""
    if layer is None or len(layer.geometries) == 0:
        return []
    box = shapely.box(frame.west, frame.south, frame.east, frame.north)
    names = []
    for i in layer.tree.query(box, predicate="intersects").tolist():
        geom = shapely.intersection(layer.geometries[i], box.buffer((frame.east - frame.west) * 0.02))
        for ring in _rings(geom):
            _dashed(draw, frame.to_px(ring), colour, 3, *dash)
        name = str(layer.records[i].get(name_key) or layer.records[i].get("area_id") or layer.records[i].get("id"))
        p = shapely.point_on_surface(shapely.intersection(layer.geometries[i], box))
        if not p.is_empty:
            (x, y), = frame.to_px(np.array([[p.x, p.y]]))
            w = font(15, "Semibold").getlength(name)
            _label(draw, (min(max(x + 4, 4), frame.width - w - 6), min(max(y, 4), frame.height - 44)), name, colour)
        names.append(name)
    return names


def _outline(draw: ImageDraw.ImageDraw, frame: Frame, geom: BaseGeometry) -> None:
    for ring in _rings(geom):
        pts = frame.to_px(ring)
        draw.line(pts, fill=HALO, width=7, joint="curve")
        draw.line(pts, fill=OUTLINE, width=3, joint="curve")


def _scale_bar(draw: ImageDraw.ImageDraw, frame: Frame, x: int, y: int) -> None:
    """A bar of a round length (1, 2 or 5 x 10^k m) about a quarter of the panel wide."""
    target = frame.metres_per_px() * frame.width / 4
    length = max(v for v in (m * 10 ** k for k in range(0, 7) for m in (1, 2, 5)) if v <= max(target, 1))
    px = length / frame.metres_per_px()
    draw.rectangle([x - 4, y - 22, x + px + 50, y + 12], fill=BACKGROUND)
    draw.rectangle([x, y, x + px, y + 6], fill=TEXT)
    draw.rectangle([x + px / 2, y + 1, x + px - 1, y + 5], fill=BACKGROUND)
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    draw.text((x, y - 20), label, fill=TEXT, font=font(15, "Semibold"))


def _north_arrow(draw: ImageDraw.ImageDraw, x: int, y: int) -> None:
    draw.polygon([(x, y), (x - 11, y + 30), (x, y + 23), (x + 11, y + 30)], fill=TEXT, outline=BACKGROUND)
    draw.text((x - 6, y + 31), "N", fill=TEXT, font=font(17, "Bold"), stroke_width=2, stroke_fill=BACKGROUND)


# ---------------------------------------------------------------- panels

# opacity of each class over imagery: other land and no data let the image show through
CLASS_OPACITY = np.array([0.0, 0.0, 0.42, 0.75, *[0.85] * len(LOSS_YEARS)])


def over_imagery(idx: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    """RGB pixels of the classes ``idx`` laid over an RGBA image (core/imagery.py
    read_rgb) with CLASS_OPACITY; where the image has no data, the classes alone."""
    opacity = np.where(backdrop[..., 3] > 0, CLASS_OPACITY[idx], 1.0)[..., None]
    return (PALETTE[idx] * opacity + backdrop[..., :3] * (1.0 - opacity) + 0.5).astype(np.uint8)


def panel_scene(layers: LayerSet | None, date: dt.date) -> Scene | None:
    """The imagery scene a panel of ``date`` shows (None without an imagery layer)."""
    return layers.imagery.scene_for(date) if layers is not None and layers.imagery is not None else None


def map_panel(plot: PlotMap, layers: LayerSet | None, frame: Frame, end_year: int | None,
              decorations: bool = True, scene: Scene | None = None) -> Image.Image:
    """One map panel: raster classes (over the imagery ``scene`` when given), the plot
    outline and, with ``decorations``, protected and indigenous boundaries with names, a
    scale bar and a north arrow."""
    idx = class_index(frame, layers, end_year)
    backdrop = read_rgb(scene, (frame.west, frame.south, frame.east, frame.north), frame.width,
                        frame.height) if scene is not None else None
    img = Image.fromarray(PALETTE[idx] if backdrop is None else over_imagery(idx, backdrop), "RGB")
    draw = ImageDraw.Draw(img)
    if layers is not None and decorations:
        _overlay_areas(draw, frame, layers.protected_areas, PROTECTED, (14, 7), "area_name")
        _overlay_areas(draw, frame, layers.indigenous_lands, INDIGENOUS, (3, 5), "name")
    _outline(draw, frame, plot.geometry)
    if decorations:
        _scale_bar(draw, frame, 14, frame.height - 20)
        _north_arrow(draw, frame.width - 26, 12)
    draw.rectangle([0, 0, frame.width - 1, frame.height - 1], outline=MUTED)
    return img


def _wrap(text: str, fnt: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if fnt.getlength(trial) <= width or not line:
            line = trial
        else:
            lines.append(line)
            line = word
    return lines + ([line] if line else [])


def _risk_badge(draw: ImageDraw.ImageDraw, x: int, y: int, level: str | None) -> int:
    """A filled badge with the risk level in words; returns its right edge."""
    text = f"{level or 'not analysed'} risk".upper()
    fnt = font(20, "Bold")
    w = int(fnt.getlength(text)) + 24
    draw.rounded_rectangle([x, y, x + w, y + 32], radius=6, fill=RISK_COLOURS.get(level or "", FAILED))
    draw.text((x + 12, y + 4), text, fill=BACKGROUND, font=fnt)
    return x + w


def _title_block(plot: PlotMap, width: int, locator: Image.Image) -> Image.Image:
    """Name, facts, risk level and reason, analysis end, layer versions; the locator right."""
    text_w = width - locator.width - 60
    reason = _wrap(plot.risk_reason or "", font(17), text_w)[:4]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(plot.layer_versions.items()))
    height = max(locator.height + 30, 150 + 22 * len(reason))
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    draw.text((24, 14), plot.title, fill=TEXT, font=font(32, "Bold"))
    facts = [f"{plot.area_ha:,.2f} ha" if plot.area_ha is not None else None, plot.commodity,
             "point plot (circle of its area)" if plot.from_point else None,
             f"analysis end {plot.analysis_end.isoformat()}"]
    x = _risk_badge(draw, 24, 60, plot.risk_level)
    draw.text((x + 16, 64), "  ·  ".join(f for f in facts if f), fill=TEXT, font=font(19))
    for k, line in enumerate(reason):
        draw.text((24, 104 + 22 * k), line, fill=TEXT, font=font(17))
    draw.text((24, height - 30), f"Layers: {versions}" if versions else "", fill=MUTED, font=font(14))
    img.paste(locator, (width - locator.width - 24, 16))
    return img


LAND: RGB = (246, 243, 232)
SEA: RGB = (214, 228, 240)
BORDER: RGB = (150, 150, 150)
LOCATOR_SPAN_DEG = (14.0, 9.0)  # the region a locator shows, lon x lat, centred on the plot
Region = list[tuple[BaseGeometry, str]]  # land polygons (lon/lat) and their country names


def locator_bounds(geometry: BaseGeometry) -> tuple[float, float, float, float]:
    """The lon/lat box (west, south, east, north) a plot's locator shows."""
    c = geometry.centroid
    return (c.x - LOCATOR_SPAN_DEG[0] / 2, c.y - LOCATOR_SPAN_DEG[1] / 2,
            c.x + LOCATOR_SPAN_DEG[0] / 2, c.y + LOCATOR_SPAN_DEG[1] / 2)


def _draw_land(draw: ImageDraw.ImageDraw, frame: Frame, region: Region, home: BaseGeometry) -> None:
    """Countries filled as land over the sea, borders grey, names at their centres (the
    country holding the plot in bold)."""
    for geom, _ in region:
        for part in shapely.get_parts(geom):
            if isinstance(part, shapely.Polygon) and not part.is_empty:
                draw.polygon(frame.to_px(shapely.get_coordinates(part.exterior)), fill=LAND, outline=BORDER)
                for hole in part.interiors:
                    draw.polygon(frame.to_px(shapely.get_coordinates(hole)), fill=SEA, outline=BORDER)
    for geom, name in region:
        if geom.is_empty or shapely.area(geom) < 0.02 * (frame.east - frame.west) * (frame.north - frame.south):
            continue
        p = shapely.point_on_surface(geom)
        (x, y), = frame.to_px(np.array([[p.x, p.y]]))
        fnt = font(13, "Bold" if geom.intersects(home) else "Regular")
        w = fnt.getlength(name)
        x = min(max(x - w / 2, 3), frame.width - w - 3)
        draw.text((x, min(max(y - 8, 2), frame.height - 38)), name, fill=TEXT, font=fnt, stroke_width=2, stroke_fill=LAND)


def _locator(plot: PlotMap, region: Region, size: tuple[int, int] = (260, 170)) -> Image.Image:
    """The region around the plot (LOCATOR_SPAN_DEG): land and country borders from
    ``region``, the plot as a marker, its centroid in degrees."""
    c = plot.geometry.centroid
    frame = Frame.around(locator_bounds(plot.geometry), *size, margin=0.0)
    img = Image.new("RGB", size, SEA)
    draw = ImageDraw.Draw(img)
    _draw_land(draw, frame, region, c)
    (x, y), = frame.to_px(np.array([[c.x, c.y]]))
    draw.rectangle([x - 6, y - 6, x + 6, y + 6], fill=OUTLINE, outline=HALO, width=2)
    draw.rectangle([0, size[1] - 20, size[0], size[1]], fill=BACKGROUND)
    draw.text((6, size[1] - 19), f"{abs(c.y):.4f}°{'N' if c.y >= 0 else 'S'} {abs(c.x):.4f}°{'E' if c.x >= 0 else 'W'}",
              fill=TEXT, font=font(13, "Semibold"))
    draw.rectangle([0, 0, size[0] - 1, size[1] - 1], outline=MUTED)
    return img


def _legend(width: int, end_year: int, last_loss_year: int, protected: bool, indigenous: bool) -> Image.Image:
    """Swatches for every class and line shown, one row, loss by year."""
    items: list[tuple[str, RGB, str]] = [("forest 2020 (JRC)", FOREST, "box"), ("other land", OTHER_LAND, "box"),
                                         ("no data", NO_DATA, "box")]
    items += [(f"loss {y}", loss_colour(y), "box") for y in range(FIRST_YEAR, min(end_year, last_loss_year) + 1)]
    items += [("degradation (TMF)", DEGRADED, "box"), ("plot", OUTLINE, "line")]
    items += [("protected area", PROTECTED, "line")] if protected else []
    items += [("indigenous land", INDIGENOUS, "line")] if indigenous else []
    fnt = font(16)
    rows, x = [[]], 24
    for item in items:  # wrap into rows that fit the width
        w = 26 + int(fnt.getlength(item[0])) + 18
        if x + w > width - 12 and rows[-1]:
            rows.append([])
            x = 24
        rows[-1].append((x, *item))
        x += w
    img = Image.new("RGB", (width, 12 + 30 * len(rows)), BACKGROUND)
    draw = ImageDraw.Draw(img)
    for r, row in enumerate(rows):
        y = 10 + 30 * r
        for x, label, colour, kind in row:
            if kind == "box":
                draw.rectangle([x, y + 2, x + 20, y + 20], fill=colour, outline=MUTED)
            else:
                if colour == OUTLINE:
                    draw.line([(x, y + 11), (x + 20, y + 11)], fill=HALO, width=7)
                draw.line([(x, y + 11), (x + 20, y + 11)], fill=colour, width=3)
            draw.text((x + 26, y), label, fill=TEXT, font=fnt)
    return img


# ---------------------------------------------------------------- the plot map

def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def plot_map_image(plot: PlotMap, layers: LayerSet | None, width: int = 1200,
                   region: Region | None = None) -> tuple[Image.Image, Image.Image]:
    """(the plot's map, its harvest-date panel alone): title block (with a locator of the
    ``region``'s countries), the 2020 baseline and the analysis-end panels side by side
    over the same extent, legend."""
    gap = 16
    side = (width - 3 * gap) // 2
    frame = Frame.around(plot.geometry.bounds, side, side)
    end_year = plot.analysis_end.year
    scenes = panel_scene(layers, BASELINE), panel_scene(layers, plot.analysis_end)
    before = map_panel(plot, layers, frame, None, scene=scenes[0])
    after = map_panel(plot, layers, frame, end_year, scene=scenes[1])
    title = _title_block(plot, width, _locator(plot, region or []))
    has_pa = layers is not None and layers.protected_areas is not None
    has_il = layers is not None and layers.indigenous_lands is not None
    legend = _legend(width, end_year, layers.loss_last_year if layers else end_year, has_pa, has_il)
    caption_h, imagery_h = 30, 20 if any(scenes) else 0
    img = Image.new("RGB", (width, title.height + caption_h + side + imagery_h + legend.height + 10), BACKGROUND)
    img.paste(title, (0, 0))
    draw = ImageDraw.Draw(img)
    y = title.height
    captions = ("31 Dec 2020 baseline: JRC forest cover 2020",
                f"At the analysis end ({plot.analysis_end.isoformat()}): loss after 2020 by year")
    for k, (caption, scene) in enumerate(zip(captions, scenes)):
        x = gap + k * (gap + side)
        draw.text((x, y + 2), caption, fill=TEXT, font=font(19, "Semibold"))
        if scene is not None:
            draw.text((x, y + caption_h + side + 2), f"imagery of {scene.date.isoformat()} ({layers.imagery.version})",
                      fill=MUTED, font=font(14))
    img.paste(before, (gap, y + caption_h))
    img.paste(after, (2 * gap + side, y + caption_h))
    img.paste(legend, (0, y + caption_h + side + imagery_h + 6))
    return img, after


def render_plot_map(plot: PlotMap, layers: LayerSet | None, width: int = 1200,
                    region: Region | None = None) -> bytes:
    """PNG bytes of the plot's map (plot_map_image)."""
    return png(plot_map_image(plot, layers, width, region)[0])


# thumbnails are palette images: the classes, then the outline, its halo and the risk colours
THUMB_OUTLINE, THUMB_HALO = len(PALETTE), len(PALETTE) + 1
THUMB_RISK = {level: len(PALETTE) + 2 + k for k, level in enumerate(("High", "Medium", "Low", None))}
THUMB_PALETTE = [c for rgb in (*PALETTE.tolist(), OUTLINE, HALO, *RISK_COLOURS.values(), FAILED) for c in rgb]


def render_thumbnail(plot: PlotMap, layers: LayerSet | None, size: int = 240) -> bytes:
    """PNG bytes of a small square map of the plot at the analysis end (classes and
    outline only), with the risk level as a coloured band along its top: a palette image,
    cheap enough to draw for every plot of a large job."""
    frame = Frame.around(plot.geometry.bounds, size, size)
    img = Image.fromarray(class_index(frame, layers, plot.analysis_end.year), "P")
    img.putpalette(THUMB_PALETTE)
    draw = ImageDraw.Draw(img)
    for ring in _rings(plot.geometry):
        pts = frame.to_px(ring)
        draw.line(pts, fill=THUMB_HALO, width=5)
        draw.line(pts, fill=THUMB_OUTLINE, width=2)
    draw.rectangle([0, 0, size - 1, 7], fill=THUMB_RISK.get(plot.risk_level, THUMB_RISK[None]))
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


# ---------------------------------------------------------------- the job overview

MAX_NAMED_PLOTS = 40  # the overview names its plots when there are at most this many


def _draw_plot(draw: ImageDraw.ImageDraw, frame: Frame, geom: BaseGeometry, colour: RGB) -> tuple[float, float]:
    """A plot filled with ``colour`` (a marker when under 6 px); its label anchor in px."""
    for part in shapely.get_parts(geom):
        pts = frame.px_array(shapely.get_coordinates(part.exterior))
        (x0, y0), (x1, y1) = pts.min(axis=0).tolist(), pts.max(axis=0).tolist()
        if x1 - x0 < 6 and y1 - y0 < 6:
            cx, cy = (x1 + x0) / 2, (y1 + y0) / 2
            draw.ellipse([cx - 4, cy - 4, cx + 4, cy + 4], fill=colour, outline=HALO)
        else:
            draw.polygon(pts.ravel().tolist(), fill=colour, outline=HALO)
    b = geom.bounds
    (x, y), = frame.to_px(np.array([[b[2], (b[1] + b[3]) / 2]]))
    return x + 6, y - 9


def _name_plots(draw: ImageDraw.ImageDraw, frame: Frame, labels: list[tuple[tuple[float, float], str]]) -> None:
    """Names beside their plots, skipping any that would overlap one already placed."""
    placed: list[tuple[float, float, float, float]] = []
    for (x, y), name in labels:
        w = font(15, "Semibold").getlength(name)
        box = (x, y, x + w, y + 18)
        if box[2] > frame.width or any(b[0] < box[2] and box[0] < b[2] and b[1] < box[3] and box[1] < b[3] for b in placed):
            continue
        placed.append(box)
        _label(draw, (x, y), name, TEXT)


def render_overview(geometries: list[BaseGeometry], risk_levels: list[str | None], title: str,
                    layers: LayerSet | None = None, width: int = 1200, height: int = 800,
                    names: list[str] | None = None) -> bytes:
    """Every plot of a job over forest 2020, filled by risk level (a failed plot grey), with
    a legend of the counts, framed on the analysed plots (others outside it are counted);
    plots too small to see are drawn as markers, named when at most MAX_NAMED_PLOTS."""
    focus = [g for g, r in zip(geometries, risk_levels) if r is not None] or geometries
    frame = Frame.around(tuple(shapely.total_bounds(np.asarray(focus, dtype=object))), width, height - 70,
                         margin=0.08, min_deg=0.01)
    panel = Image.fromarray(PALETTE[class_index(frame, layers, None)], "RGB")
    draw = ImageDraw.Draw(panel)
    order = sorted(range(len(geometries)), key=lambda i: ("Low", "Medium", "High").index(risk_levels[i])
                   if risk_levels[i] in ("Low", "Medium", "High") else -1)  # High drawn last, on top
    anchors = {i: _draw_plot(draw, frame, geometries[i], RISK_COLOURS.get(risk_levels[i] or "", FAILED)) for i in order}
    if names and len(names) <= MAX_NAMED_PLOTS:
        _name_plots(draw, frame, [(anchors[i], names[i]) for i in range(len(names))])
    window = shapely.box(frame.west, frame.south, frame.east, frame.north)
    outside = sum(1 for g in geometries if not g.intersects(window))
    if outside:
        _label(draw, (14, 10), f"{outside} plot(s) outside this map", MUTED, 17)
    _scale_bar(draw, frame, 14, frame.height - 20)
    _north_arrow(draw, frame.width - 26, 12)
    img = Image.new("RGB", (width, height), BACKGROUND)
    head = ImageDraw.Draw(img)
    head.text((16, 8), title, fill=TEXT, font=font(26, "Bold"))
    x = 16
    for level in ("High", "Medium", "Low", None):
        n = sum(1 for r in risk_levels if r == level)
        label = f"{level or 'not analysed'}: {n}"
        head.rounded_rectangle([x, 44, x + 18, 62], radius=3, fill=RISK_COLOURS.get(level or "", FAILED))
        head.text((x + 24, 41), label, fill=TEXT, font=font(18, "Semibold"))
        x += 24 + int(font(18, "Semibold").getlength(label)) + 24
    img.paste(panel, (0, 70))
    return png(img)
