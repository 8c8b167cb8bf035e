"""A local stand-in for the reference layers' publishers: generated tiles under the
publishers' exact path layout, served over HTTP with their behaviours, and faults on demand.

    /hansen/GFC-2024-v1.12/Hansen_GFC-2024-v1.12_<band>_<10N_010W>.tif   byte ranges, x-goog-hash md5
    /hansen/GFC-2024-v1.12/<band>.txt                                     the tile list (publisher URLs)
    /gfc2020/LATEST/tiles/                                                an HTML directory listing
    /gfc2020/LATEST/tiles/JRC_GFC2020_V3_<N10_W10>.tif                    byte ranges
    /tmf/download.py?type=tile&dataset=<D>&lat=<N10>&lon=<W10>            served name in Content-Disposition,
                                                                          Range ignored, 404 for no tile

Tile names here are spelt independently of publishers.toml, so the fetcher's naming is
checked against them. Tiles are 10 x 10 degrees of TILE_CELLS x TILE_CELLS cells."""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import threading
import time
from functools import partial
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

from eudr_pipeline_tests.conftest import write_tif
from eudr_pipeline_tests.layers.http_source import RangeHandler

HANSEN_RELEASE = "GFC-2024-v1.12"
GFC_RELEASE = "V3"
TMF_YEAR = 2024
TILE_CELLS = 200
STALL_S = 2.0  # how long a stalled response hangs before its connection closes
REAL_HANSEN = "https://storage.googleapis.com/earthenginepartners-hansen"  # only written into the lists, never asked


def hansen_tile(lat_top: int, lon_left: int) -> str:
    return f"{abs(lat_top):02d}{'N' if lat_top >= 0 else 'S'}_{abs(lon_left):03d}{'E' if lon_left >= 0 else 'W'}"


def jrc_tile(lat_top: int, lon_left: int) -> str:
    return f"{'N' if lat_top >= 0 else 'S'}{abs(lat_top)}_{'E' if lon_left >= 0 else 'W'}{abs(lon_left)}"


def tmf_name(dataset: str, lat_top: int, lon_left: int) -> str:
    """The name the TMF dispatcher serves (its region and ID parts cannot be derived)."""
    return f"JRC_TMF_{dataset}_INT_1982_{TMF_YEAR}_v1_AFR_ID{(lat_top + 90) + (lon_left + 180)}_{jrc_tile(lat_top, lon_left)}.tif"


def tile_arrays(lat_top: int, lon_left: int) -> dict[str, np.ndarray]:
    """Deterministic values of every band of one tile."""
    rng = np.random.default_rng(1000 + lat_top * 7 + lon_left)
    shape = (TILE_CELLS, TILE_CELLS)
    loss = np.where(rng.random(shape) < 0.25, rng.integers(1, 25, shape), 0).astype(np.uint8)
    degradation = np.where(rng.random(shape) < 0.3, rng.integers(2005, TMF_YEAR + 1, shape), 0).astype(np.uint16)
    return {"forest": (rng.random(shape) < 0.6).astype(np.uint8), "lossyear": loss,
            "treecover2000": rng.integers(0, 101, shape).astype(np.uint8), "DegradationYear": degradation,
            "DeforestationYear": np.roll(degradation, 7, axis=1)}


def build_publisher_tree(root: Path, corners: list[tuple[int, int]], ocean: set[tuple[int, int]]) -> Path:
    """Every publisher's files for the tiles with these north-west corners; the ``ocean``
    ones are not published (absent from the lists, 404 at the TMF dispatcher)."""
    dx = 10 / TILE_CELLS
    hansen, gfc, tmf = root / "hansen" / HANSEN_RELEASE, root / "gfc2020" / "LATEST" / "tiles", root / "tmf"
    lists: dict[str, list[str]] = {"lossyear": [], "treecover2000": []}
    for lat, lon in corners:
        if (lat, lon) in ocean:
            continue
        a = tile_arrays(lat, lon)
        for band in lists:
            name = f"Hansen_{HANSEN_RELEASE}_{band}_{hansen_tile(lat, lon)}.tif"
            write_tif(hansen / name, a[band], lon, lat, dx)
            lists[band].append(f"{REAL_HANSEN}/{HANSEN_RELEASE}/{name}")
        write_tif(gfc / f"JRC_GFC2020_{GFC_RELEASE}_{jrc_tile(lat, lon)}.tif", a["forest"], lon, lat, dx)
        for dataset in ("DegradationYear", "DeforestationYear"):
            write_tif(tmf / tmf_name(dataset, lat, lon), a[dataset], lon, lat, dx)
    for band, urls in lists.items():
        (hansen / f"{band}.txt").write_text("\n".join(urls) + "\n")
    (root / "gfc2020" / "LATEST" / "copyright.txt").write_text("generated test tiles\n")
    return root


class PublisherHandler(RangeHandler):
    """RangeHandler plus the publishers' ways and the faults the server asks for."""

    def do_GET(self) -> None:
        self.server.log.append((self.path, self.headers.get("Range")))
        if self.path.startswith("/tmf/download.py"):
            return self.tmf_dispatcher()
        return super().do_GET()

    def end_headers(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/hansen/") and path.endswith(".tif"):
            file = Path(self.translate_path(path))
            if file.is_file():
                digest = hashlib.md5(file.read_bytes()).digest()
                if path in self.server.bad_md5:
                    digest = hashlib.md5(b"something else").digest()
                self.send_header("x-goog-hash", f"crc32c=AAAAAA==, md5={base64.b64encode(digest).decode()}")
        super().end_headers()

    def fault_key(self) -> str:
        """The path faults are set for: a file's path, or the dispatcher's whole URL path."""
        return self.path if self.path.startswith("/tmf/") else urlsplit(self.path).path

    def copyfile(self, source, outputfile) -> None:
        key = self.fault_key()
        fault = next((kind for kind in ("drop", "stall") if getattr(self.server, kind).get(key, 0)), None)
        if fault is None:
            return super().copyfile(source, outputfile)
        getattr(self.server, fault)[key] -= 1
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            remaining = os.fstat(source.fileno()).st_size - source.tell()
        outputfile.write(source.read(max(1, remaining // 2)))  # then the connection goes away
        outputfile.flush()
        self._remaining = None
        self.close_connection = True
        if fault == "stall":  # the rest never comes: the client's read times out
            time.sleep(STALL_S)

    def tmf_dispatcher(self) -> None:
        q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if q.get("type") != "tile" or not {"dataset", "lat", "lon"} <= set(q):
            return self.send_error(400)
        dataset = q["dataset"]
        pattern = (f"JRC_TMF_AnnualChange_v1_{dataset.split('_', 1)[1]}_*_{q['lat']}_{q['lon']}.tif"
                   if dataset.startswith("AnnualChange_") else f"JRC_TMF_{dataset}_*_{q['lat']}_{q['lon']}.tif")
        hits = sorted((Path(self.directory) / "tmf").glob(pattern))
        if not hits:
            return self.send_error(404)
        self.send_response(200)  # a Range header is ignored, as the real dispatcher does
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Content-Length", str(hits[0].stat().st_size))
        self.send_header("Content-Disposition", f'attachment; filename="{hits[0].name}"')
        self._ranged = True  # no Accept-Ranges
        self.end_headers()
        with open(hits[0], "rb") as fh:
            self.copyfile(fh, self.wfile)


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a client that hung up early
        pass


class PublisherServer:
    """The stand-in publishers on 127.0.0.1 in a thread (the fetcher is plain Python, so
    no GDAL call can hold the GIL against it). ``log``: (path, Range) of every GET;
    ``drop[path] = k``: the next k responses for that path stop half-way (a clean close);
    ``stall[path] = k``: the same, but the connection hangs STALL_S seconds first;
    ``bad_md5``: paths whose md5 header is wrong."""

    def __init__(self, root: Path) -> None:
        self.httpd = QuietServer(("127.0.0.1", 0), partial(PublisherHandler, directory=str(root)))
        self.httpd.log, self.httpd.drop, self.httpd.stall, self.httpd.bad_md5 = [], {}, {}, set()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PublisherServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def log(self) -> list[tuple[str, str | None]]:
        return self.httpd.log

    @property
    def drop(self) -> dict[str, int]:
        return self.httpd.drop

    @property
    def stall(self) -> dict[str, int]:
        return self.httpd.stall

    @property
    def bad_md5(self) -> set[str]:
        return self.httpd.bad_md5

    def mirrors(self) -> list[str]:
        """``--mirror`` values pointing every publisher that can be fetched here."""
        return [f"hansen_gfc={self.base}/hansen", f"jrc_gfc2020={self.base}/gfc2020",
                f"jrc_tmf={self.base}/tmf/download.py"]
