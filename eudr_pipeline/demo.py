"""The embedded demo: a small layer source directory and plots generated deterministically
(no download), laid out as analysis.md section 1, near Yamoussoukro, Côte d'Ivoire.

The layers are synthetic but shaped like the real releases: a two-tile 10 m JRC GFC2020
forest map, 30 m Hansen loss year and tree cover 2000, 30 m JRC TMF degradation year,
WDPA-schema protected areas (one strict, one not, overlapping) with a regulations.csv, and
LandMark-schema indigenous land, and two generated RGB imagery scenes (the 2020 baseline
and the harvest) that the maps show under the classes. The plots are placed so that every risk level, a point,
a hole, a multipolygon across a tile edge, and two failing plots occur."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from eudr_pipeline.core.grid import Grid

WEST, NORTH = -5.300, 6.840
GFC_DX = 8.983152841195215e-05  # the JRC GFC2020 10 m cell (1/11132 deg)
HANSEN_DX = 0.00025
GFC_SIZE = 446  # cells per side (0.04 deg)
GFC_TILE_SPLIT = 223  # the forest map is two tiles, split at this column
HANSEN_SIZE = 160

# (west, south, east, north) boxes in degrees
FOREST = [(-5.2990, 6.8250, -5.2850, 6.8390), (-5.2750, 6.8020, -5.2620, 6.8150), (-5.2830, 6.8080, -5.2780, 6.8160)]
LOSS = [  # (box, year offset from 2000)
    ((-5.2960, 6.8300, -5.2945, 6.8315), 22),  # 2.7 ha in forest: High
    ((-5.2900, 6.8270, -5.2893, 6.8280), 23),  # 0.85 ha in forest: Medium
    ((-5.2700, 6.8050, -5.2680, 6.8070), 15),  # before the cut-off
    ((-5.2700, 6.8300, -5.2690, 6.8310), 22),  # not forest, low canopy
]
DEGRADATION = [((-5.2740, 6.8100, -5.2730, 6.8110), 2022), ((-5.2700, 6.8050, -5.2680, 6.8070), 2019)]

PROTECTED_AREAS = [
    {"WDPAID": 990001, "WDPA_PID": "990001", "NAME": "Parc National de la Démo", "ORIG_NAME": "Parc National de la Démo",
     "DESIG_ENG": "National Park", "IUCN_CAT": "II", "STATUS": "Designated", "ISO3": "CIV",
     "MANG_AUTH": "Office Ivoirien des Parcs et Réserves (demo)", "box": (-5.2800, 6.8250, -5.2600, 6.8400)},
    {"WDPAID": 990002, "WDPA_PID": "990002", "NAME": "Paysage Protégé de la Démo", "ORIG_NAME": "Paysage Protégé de la Démo",
     "DESIG_ENG": "Protected Landscape", "IUCN_CAT": "V", "STATUS": "Designated", "ISO3": "CIV",
     "MANG_AUTH": "Not Reported", "box": (-5.2780, 6.8200, -5.2680, 6.8300)},
]
INDIGENOUS = [{"id": "LM-DEMO-1", "name": "Communauté Villageoise de la Démo", "land_status": "Community",
               "government_acknowledged": True, "box": (-5.2850, 6.8080, -5.2780, 6.8135)}]


def _ring(box: tuple[float, float, float, float]) -> list[list[float]]:
    w, s, e, n = box
    return [[w, s], [e, s], [e, n], [w, n], [w, s]]


def demo_plots() -> dict:
    """The demo plots as a GeoJSON FeatureCollection (10 features)."""
    def feat(pid, name, geometry, **props):
        return {"type": "Feature", "properties": {"plot_id": pid, "plot_name": name, "harvest_date": "2024-11-01",
                                                  "commodity": "cocoa", "country": "Côte d'Ivoire", **props},
                "geometry": geometry}

    poly = lambda *boxes: {"type": "Polygon", "coordinates": [_ring(b) for b in boxes]}  # noqa: E731
    hole = _ring((-5.269500, 6.805500, -5.268500, 6.806500))[::-1]
    return {"type": "FeatureCollection", "features": [
        feat("demo-01", "Loss in 2022", poly((-5.297500, 6.829000, -5.293500, 6.832500))),
        feat("demo-02", "Small loss in 2023", poly((-5.291000, 6.826000, -5.288000, 6.829000)), commodity="coffee"),
        feat("demo-03", "Forest smallholding (point)", {"type": "Point", "coordinates": [-5.270000, 6.812000]},
             point_ha=3.0),
        feat("demo-04", "Cleared before the cut-off, with a hole",
             {"type": "Polygon", "coordinates": [_ring((-5.271000, 6.804000, -5.267000, 6.808000)), hole]}),
        feat("demo-05", "Degraded in 2022", poly((-5.275000, 6.809000, -5.272000, 6.812000))),
        feat("demo-06", "Next to a national park", poly((-5.279000, 6.823500, -5.276000, 6.826500))),
        feat("demo-07", "Community land across a tile edge", {"type": "MultiPolygon", "coordinates": [
            [_ring((-5.281500, 6.810000, -5.279000, 6.812500))], [_ring((-5.280800, 6.814000, -5.279500, 6.815000))]]}),
        feat("demo-08", "Field (point, default 1 ha)", {"type": "Point", "coordinates": [-5.290000, 6.805000]},
             harvest_date=None, harvest_dates=["2023-10-01", "2024-03-15"]),
        feat("demo-09", "Self-intersecting drawing", {"type": "Polygon", "coordinates": [[
            [-5.295000, 6.810000], [-5.292000, 6.813000], [-5.292000, 6.810000], [-5.295000, 6.813000],
            [-5.295000, 6.810000]]]}),
        feat("demo-10", "Outside the layers", poly((10.000000, 10.000000, 10.002000, 10.002000))),
    ]}


def _paint(grid: Grid, shape: tuple[int, int], boxes, values, base: np.ndarray) -> np.ndarray:
    """Set cells whose centre lies in each box to its value."""
    rows, cols = np.indices(shape)
    lon = grid.col_center_lon(cols)
    lat = grid.row_center_lat(rows)
    for (w, s, e, n), v in zip(boxes, values):
        base[(lon >= w) & (lon < e) & (lat >= s) & (lat < n)] = v
    return base


def _write(path: Path, data: np.ndarray, grid: Grid, col0: int = 0, nodata=None) -> None:
    """A tiled GeoTIFF of ``data`` (rows, cols), or of bands (bands, rows, cols)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bands = data if data.ndim == 3 else data[None]
    profile = dict(driver="GTiff", height=bands.shape[1], width=bands.shape[2], count=len(bands), dtype=str(data.dtype),
                   crs="EPSG:4326", transform=Affine(grid.dx, 0.0, grid.x0 + col0 * grid.dx, 0.0, -grid.dy, grid.y0),
                   tiled=True, blockxsize=256, blockysize=256, compress="deflate", nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)


def _geojson(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    feats = [{"type": "Feature", "properties": {k: v for k, v in r.items() if k != "box"},
              "geometry": {"type": "Polygon", "coordinates": [_ring(r["box"])]}} for r in records]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False))


def write_demo_sources(root: Path) -> Path:
    """Write the demo layer source directory under ``root`` (idempotent, deterministic)
    and return it."""
    root = Path(root)
    rng = np.random.default_rng(2020)
    gfc_grid = Grid(WEST, NORTH, GFC_DX, GFC_DX)
    forest = _paint(gfc_grid, (GFC_SIZE, GFC_SIZE), FOREST, [1] * len(FOREST), np.zeros((GFC_SIZE, GFC_SIZE), np.uint8))
    forest[rng.random(forest.shape) < 0.01] = 0  # a few gaps in the canopy
    gfc_dir = root / "jrc_gfc2020" / "V3"
    _write(gfc_dir / "JRC_GFC2020_V3_demo_W.tif", forest[:, :GFC_TILE_SPLIT], gfc_grid)
    _write(gfc_dir / "JRC_GFC2020_V3_demo_E.tif", forest[:, GFC_TILE_SPLIT:], gfc_grid, col0=GFC_TILE_SPLIT)

    h_grid = Grid(WEST, NORTH, HANSEN_DX, HANSEN_DX)
    shape = (HANSEN_SIZE, HANSEN_SIZE)
    loss = _paint(h_grid, shape, [b for b, _ in LOSS], [y for _, y in LOSS], np.zeros(shape, np.uint8))
    cover = _paint(h_grid, shape, FOREST, [85] * len(FOREST), np.full(shape, 5, np.uint8))
    cover = np.clip(cover.astype(int) + rng.integers(-5, 6, shape), 0, 100).astype(np.uint8)
    h_dir = root / "hansen_gfc" / "v1.12"
    _write(h_dir / "Hansen_GFC-2024-v1.12_lossyear_demo.tif", loss, h_grid, nodata=255)
    _write(h_dir / "Hansen_GFC-2024-v1.12_treecover2000_demo.tif", cover, h_grid, nodata=255)

    deg = _paint(h_grid, shape, [b for b, _ in DEGRADATION], [y for _, y in DEGRADATION], np.zeros(shape, np.uint16))
    _write(root / "jrc_tmf" / "v1_2025" / "JRC_TMF_DegradationYear_v1_2025_demo.tif", deg, h_grid)

    _geojson(root / "wdpa" / "2025-11" / "wdpa_demo.geojson", PROTECTED_AREAS)
    (root / "wdpa" / "2025-11" / "regulations.csv").write_text(
        "WDPAID,regulation_name,regulation_url\n"
        "990001,Loi n° 2002-102 relative aux parcs nationaux (demo),https://example.org/demo/loi-2002-102\n")
    _geojson(root / "landmark" / "2025-06" / "landmark_demo.geojson", INDIGENOUS)
    canopy = _paint(gfc_grid, forest.shape, FOREST, [1] * len(FOREST), np.zeros(forest.shape, np.uint8))
    write_demo_imagery(root / "imagery" / IMAGERY_VERSION, gfc_grid, canopy)
    return root


IMAGERY_VERSION = "demo-2025"
IMAGERY_DATES = ("2020-12-15", "2024-10-20")  # the baseline and the demo plots' harvest (2024-11-01)
SOIL, FIELDS, CANOPY, THINNED = (164, 112, 72), (168, 160, 108), (38, 78, 34), (78, 112, 58)


def _texture(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Smooth noise in -1..1: random values on a coarse grid, repeated and box-blurred."""
    coarse = rng.uniform(-1, 1, (shape[0] // cell + 2, shape[1] // cell + 2))
    fine = np.repeat(np.repeat(coarse, cell, 0), cell, 1)[: shape[0] + cell, : shape[1] + cell]
    c = np.cumsum(np.cumsum(fine, 0), 1)
    blurred = (c[cell:, cell:] - c[:-cell, cell:] - c[cell:, :-cell] + c[:-cell, :-cell]) / cell ** 2
    return blurred[: shape[0], : shape[1]]


def write_demo_imagery(folder: Path, grid: Grid, forest: np.ndarray) -> None:
    """Two generated RGB scenes on the forest map's 10 m grid, named by date: canopy where
    ``forest`` (the forest boxes, without the map's gaps) is 1, fields elsewhere, and, in the later scene, bare soil where
    forest was lost after 2020 and thinned canopy where it was degraded."""
    rng = np.random.default_rng(7)
    shape = forest.shape
    lost_after_2020 = _paint(grid, shape, [b for b, y in LOSS if y > 20], [1] * 3, np.zeros(shape, np.uint8))
    lost_before = _paint(grid, shape, [b for b, y in LOSS if y <= 20], [1], np.zeros(shape, np.uint8))
    degraded = _paint(grid, shape, [b for b, y in DEGRADATION if y > 2020], [1], np.zeros(shape, np.uint8))
    shade = 1 + 0.18 * _texture(rng, shape, 6) + 0.06 * rng.uniform(-1, 1, shape)
    fields = 1 + 0.22 * _texture(rng, shape, 40)
    for date in IMAGERY_DATES:
        later = date > "2021"
        cls = np.where(forest == 1, 2, np.where(lost_before == 1, 0, 1))
        if later:
            cls = np.where((forest == 1) & (degraded == 1), 3, cls)
            cls = np.where(lost_after_2020 == 1, 0, cls)
        rgb = np.array([SOIL, FIELDS, CANOPY, THINNED], float)[cls]
        rgb *= np.where(cls[..., None] == 1, fields[..., None], shade[..., None])
        data = np.clip(rgb, 1, 255).astype(np.uint8)
        _write(folder / f"{date}_demo.tif", np.moveaxis(data, -1, 0), grid)


def write_demo(root: Path) -> tuple[Path, Path]:
    """Write the demo layer sources and plots under ``root``: (sources dir, plots file)."""
    sources = write_demo_sources(Path(root) / "sources")
    plots = Path(root) / "plots.geojson"
    plots.write_text(json.dumps(demo_plots(), ensure_ascii=False, indent=1))
    return sources, plots
