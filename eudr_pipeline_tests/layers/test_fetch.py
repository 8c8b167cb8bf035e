"""`eudr layers fetch` / `eudr layers add`: the publishers data file, tile selection, and
downloads from a local stand-in of the publishers (publisher_server.py) with dropped
connections, resumes, missing tiles and bad checksums. No test contacts a real publisher:
every request goes to 127.0.0.1 through --mirror, and any other would meet a dead proxy."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
import shapely

from eudr_pipeline.cli import main
from eudr_pipeline.errors import FetchError
from eudr_pipeline.layers import fetch as lf
from eudr_pipeline.layers.publishers import Tile, load_publishers
from eudr_pipeline.layers.source_directory import hansen_last_year, open_layer_set
from eudr_pipeline.layers.store import LayerStore
from eudr_pipeline_tests.conftest import box_feature
from eudr_pipeline_tests.core.test_exactextract_crosscheck import random_plots
from eudr_pipeline_tests.layers.publisher_server import (
    GFC_RELEASE,
    HANSEN_RELEASE,
    TMF_YEAR,
    PublisherServer,
    build_publisher_tree,
    hansen_tile,
    jrc_tile,
    tmf_name,
)
from eudr_pipeline_tests.layers.test_store import analyse, strip_sources

CORNERS = [(lat, lon) for lat in (20, 10, 0) for lon in (-10, 0, 10)]
OCEAN = {(0, -10)}  # the Gulf of Guinea: no tile published
AREA_CORNERS = [(10, -10), (10, 0), (0, -10), (0, 0)]  # the tiles under plots around (0, 0)
HANSEN_DIR = f"/hansen/{HANSEN_RELEASE}"
QUICK = lf.FetchOptions(backoff_s=0.0, progress=False)


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Any request not to 127.0.0.1 goes to a dead proxy and fails at once."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv(lf.MIRRORS_ENV, raising=False)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return build_publisher_tree(tmp_path_factory.mktemp("publishers"), CORNERS, OCEAN)


def mirrored(server: PublisherServer) -> dict:
    pubs = load_publishers()
    return lf.with_mirrors(pubs, lf.parse_mirrors(server.mirrors(), None, pubs))


def covering_files(tree: Path) -> dict[str, dict[str, set[str]]]:
    """layer -> version -> the publisher's files of AREA_CORNERS (ocean left out)."""
    land = [c for c in AREA_CORNERS if c not in OCEAN]
    return {
        "hansen_gfc": {HANSEN_RELEASE: {f"Hansen_{HANSEN_RELEASE}_{b}_{hansen_tile(*c)}.tif"
                                        for b in ("lossyear", "treecover2000") for c in land}},
        "jrc_gfc2020": {GFC_RELEASE: {f"JRC_GFC2020_{GFC_RELEASE}_{jrc_tile(*c)}.tif" for c in land}},
        "jrc_tmf": {f"v1_{TMF_YEAR}": {tmf_name("DegradationYear", *c) for c in land}},
    }


def source_of(tree: Path, layer: str, name: str) -> Path:
    folder = {"hansen_gfc": tree / "hansen" / HANSEN_RELEASE, "jrc_gfc2020": tree / "gfc2020" / "LATEST" / "tiles",
              "jrc_tmf": tree / "tmf"}[layer]
    return folder / name


def plots_file(path: Path) -> Path:
    """Plots around (0, 0): a box across the tile edges, boxes of about 9,600 ha (the tiles'
    cells are 0.05 degree), small random plots."""
    features = [box_feature(-0.044, -0.044, 0.044, 0.044)]  # across both tile edges, under the 10,000 ha plot limit
    features += [box_feature(x, y, x + 0.088, y + 0.088) for x in (-0.4, -0.25, 0.05, 0.2) for y in (0.05, 0.2)]
    features += [box_feature(x, y, x + 0.088, y + 0.088) for x in (0.05, 0.2) for y in (-0.3, -0.15)]
    features += random_plots((-0.4, 0.02, 0.4, 0.4), 12, seed=5) + random_plots((0.02, -0.4, 0.4, -0.02), 6, seed=6)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def files_under(root: Path) -> dict[str, dict[str, set[str]]]:
    out: dict[str, dict[str, set[str]]] = {}
    for f in root.rglob("*"):
        if f.is_file():
            layer, version = f.relative_to(root).parts[:2]
            out.setdefault(layer, {}).setdefault(version, set()).add(f.name)
    return out


def test_fetch_plots_from_mirror_survives_drops_and_ingests_like_hand_placed_files(tmp_path, tree):
    """The required path: `eudr layers fetch --plots` fetches exactly the covering tiles,
    survives dropped connections (resumed by Range where the server has ranges, restarted
    where it ignores them), skips and lists the ocean tile, leaves nothing half-written,
    and the layers ingest and analyse to the same numbers as the same files placed by hand."""
    plots, fetched, by_hand = plots_file(tmp_path / "plots.geojson"), tmp_path / "fetched", tmp_path / "by_hand"
    dropped = f"{HANSEN_DIR}/Hansen_{HANSEN_RELEASE}_lossyear_{hansen_tile(10, 0)}.tif"
    dropped_tmf = "/tmf/download.py?type=tile&dataset=DegradationYear&lat=N10&lon=E0"
    with PublisherServer(tree) as server:
        server.drop.update({dropped: 1, dropped_tmf: 1})
        assert main(["layers", "fetch", "--sources", str(fetched), "--plots", str(plots),
                     "--mirror", *server.mirrors()]) == 0
        log = list(server.log)
    expected = covering_files(tree)
    assert files_under(fetched) == expected
    assert not (fetched / lf.STAGING).exists() and not list(fetched.rglob("*.part"))
    asked = [path for path, _ in log]
    assert not any(hansen_tile(0, -10) in p or hansen_tile(20, 0) in p or hansen_tile(10, 10) in p for p in asked)
    assert "/tmf/download.py?type=tile&dataset=DegradationYear&lat=N0&lon=W10" in asked  # answered 404: skipped
    ranges = [rng for path, rng in log if path == dropped]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and int(ranges[1][6:-1]) > 0  # resumed
    assert len([p for p in asked if p == dropped_tmf]) == 2  # restarted from zero (Range ignored)
    for layer, versions in expected.items():
        for version, names in versions.items():
            (by_hand / layer / version).mkdir(parents=True)
            for name in names:
                shutil.copy(source_of(tree, layer, name), by_hand / layer / version / name)
                assert (fetched / layer / version / name).read_bytes() == source_of(tree, layer, name).read_bytes()
    features = json.loads(plots.read_text())["features"]
    results = []
    for root in (fetched, by_hand):
        store = LayerStore(tmp_path / f"store_{root.name}")
        for layer in expected:
            assert store.ingest(root, layer).status == "ok", layer
        results.append(strip_sources(analyse(store.open_layer_set(), features)))
    assert results[0] == results[1]
    assert results[0] == strip_sources(analyse(open_layer_set(by_hand), features))
    assert sum(r["analysis"]["forest_area_2020"] for r in results[0]) > 0
    assert sum(r["analysis"]["deforestation"]["total_jrc"] for r in results[0]) > 0
    assert sum(r["analysis"]["logging_area"] or 0 for r in results[0]) > 0


def test_an_interrupted_run_leaves_nothing_half_written_and_the_next_run_resumes(tmp_path, tree):
    sources = tmp_path / "sources"
    path = f"{HANSEN_DIR}/Hansen_{HANSEN_RELEASE}_lossyear_{hansen_tile(10, 0)}.tif"
    with PublisherServer(tree) as server:
        pubs = mirrored(server)
        sel = lf.parse_datasets(["hansen_gfc.lossyear"], pubs)
        server.drop[path] = 99  # every response stops half-way
        first = lf.fetch_layers(sources, lf.bbox_area("0.1,0.1,0.2,0.2"), sel,
                                lf.FetchOptions(attempts=2, backoff_s=0.0, progress=False))
        assert not first.ok and "connection closed at byte" in first.failed[0][1]
        assert not (sources / "hansen_gfc").exists()  # no version folder with half a file
        part = next((sources / lf.STAGING).rglob("*.part"))
        assert first.kept == [part.parent]
        size = part.stat().st_size
        server.drop.clear()
        second = lf.fetch_layers(sources, lf.bbox_area("0.1,0.1,0.2,0.2"), sel, QUICK)
        assert second.ok and server.log[-1] == (path, f"bytes={size}-")
        got = sources / "hansen_gfc" / HANSEN_RELEASE / Path(path).name
        assert got.read_bytes() == (tree / path.lstrip("/")).read_bytes()
        assert not (sources / lf.STAGING).exists()
        server.log.clear()
        again = lf.fetch_layers(sources, lf.bbox_area("0.1,0.1,0.2,0.2"), sel, QUICK)  # only the list is read
        assert not again.planned and len(again.present) == 1 and server.log == [(f"{HANSEN_DIR}/lossyear.txt", None)]


def test_a_stalled_connection_times_out_and_the_retry_resumes(tmp_path, tree, monkeypatch):
    sources = tmp_path / "sources"
    path = f"/gfc2020/LATEST/tiles/JRC_GFC2020_{GFC_RELEASE}_{jrc_tile(0, 0)}.tif"
    reasons = []
    attempt = lf.attempt_once
    monkeypatch.setattr(lf, "attempt_once", lambda *a: reasons.append(attempt(*a)) or reasons[-1])
    with PublisherServer(tree) as server:
        server.stall[path] = 1
        report = lf.fetch_layers(sources, lf.bbox_area("0.1,-0.2,0.2,-0.1"),
                                 lf.parse_datasets(["jrc_gfc2020"], mirrored(server)),
                                 lf.FetchOptions(timeout_s=0.3, backoff_s=0.0, progress=False))
        ranges = [rng for p, rng in server.log if p == path]
    assert report.ok and "timed out" in reasons[0][1] and reasons[1][0] == "done"
    assert ranges[0] is None and ranges[1].startswith("bytes=")
    assert (sources / "jrc_gfc2020" / GFC_RELEASE / Path(path).name).read_bytes() == (tree / path.lstrip("/")).read_bytes()


def test_bad_checksum_and_a_listed_tile_that_is_gone_fail_and_place_nothing(tmp_path, tree):
    sources = tmp_path / "sources"
    broken = tmp_path / "broken"
    shutil.copytree(tree, broken)
    (broken / "hansen" / HANSEN_RELEASE / f"Hansen_{HANSEN_RELEASE}_treecover2000_{hansen_tile(10, 0)}.tif").unlink()
    bad = f"{HANSEN_DIR}/Hansen_{HANSEN_RELEASE}_lossyear_{hansen_tile(10, 0)}.tif"
    with PublisherServer(broken) as server:
        server.bad_md5.add(bad)
        report = lf.fetch_layers(sources, lf.bbox_area("0.1,0.1,0.2,0.2"),
                                 lf.parse_datasets(["hansen_gfc"], mirrored(server)), QUICK)
    reasons = {item.band: reason for item, reason in report.failed}
    assert "MD5" in reasons["lossyear"] and "gave up after 5 attempts" in reasons["lossyear"]
    assert "HTTP 404 for a tile the publisher lists" in reasons["treecover2000"]
    assert not (sources / "hansen_gfc").exists()
    assert any("failed: hansen_gfc.lossyear 10N_000E" in line for line in lf.report_lines(report))


def test_releases_not_served_are_refused_and_dry_run_downloads_nothing(tmp_path, tree, capsys):
    with PublisherServer(tree) as server:
        mirrors = ["--mirror", *server.mirrors()]
        base = ["layers", "fetch", "--sources", str(tmp_path / "s"), "--bbox", "0.1,0.1,0.2,0.2", *mirrors]
        assert main([*base, "--dataset", "jrc_tmf@v1_2023"]) == 2
        assert f"serves v1_{TMF_YEAR} only" in capsys.readouterr().err
        assert main([*base, "--dataset", "jrc_gfc2020@V2"]) == 2
        assert "holds V3 only" in capsys.readouterr().err
        assert main([*base, "--dataset", "hansen_gfc@v1.11"]) == 2  # no such release on the mirror: its list is 404
        assert "lossyear tile list of GFC-2023-v1.11" in capsys.readouterr().err
        assert main([*base, "--dataset", "wdpa"]) == 2
        assert "protectedplanet.net" in capsys.readouterr().err
        server.log.clear()
        assert main(["layers", "fetch", "--sources", str(tmp_path / "s"), "--country", "CIV", "--dry-run",
                     "--dataset", "hansen_gfc.lossyear", "jrc_gfc2020", *mirrors]) == 0
        out = capsys.readouterr().out
        assert not any(p.endswith(".tif") for p, _ in server.log)
    assert f"{server.base}/hansen/{HANSEN_RELEASE}/Hansen_{HANSEN_RELEASE}_lossyear_10N_010W.tif" in out
    assert "lossyear_20N_010W.tif" in out and "JRC_GFC2020_V3_N10_W10.tif" in out and "_000E" not in out
    assert not (tmp_path / "s").exists()


def test_publishers_file_spells_urls_as_the_publishers_do():
    pubs = load_publishers()
    h, g, t = pubs["hansen_gfc"], pubs["jrc_gfc2020"], pubs["jrc_tmf"]
    # the publisher's own example (download.html of GFC-2025-v1.13)
    assert h.fill(h.bands["lossyear"].url, "GFC-2025-v1.13", Tile(40, -80)) == \
        "https://storage.googleapis.com/earthenginepartners-hansen/GFC-2025-v1.13/Hansen_GFC-2025-v1.13_lossyear_40N_080W.tif"
    assert [h.grid.name(Tile(*c)) for c in ((0, 0), (10, -10), (-20, -60), (80, -180))] == \
        ["00N_000E", "10N_010W", "20S_060W", "80N_180W"]
    assert g.fill(g.bands["forest_2020"].url, "V3", Tile(-20, -70)).endswith("/LATEST/tiles/JRC_GFC2020_V3_S20_W70.tif")
    assert g.grid.name(Tile(0, 110)) == "N0_E110" and g.grid.name(Tile(80, -180)) == "N80_W180"
    assert t.fill(t.bands["deforestation_year"].url, tile=Tile(0, -80)) == \
        "https://ies-ows.jrc.ec.europa.eu/iforce/tmf_v1/download.py?type=tile&dataset=DeforestationYear&lat=N0&lon=W80"
    assert h.release.normalise("v1.12") == h.release.normalise("GFC-2024-v1.12") == "GFC-2024-v1.12"
    name = h.fill(h.bands["lossyear"].local_name, h.release.default, Tile(10, -10))
    assert hansen_last_year("GFC-2024-v1.12", [Path(name)]) == 2024  # the reader reads the kept name
    assert all(p.sources and p.confidence for p in pubs.values() if not p.manual)
    assert pubs["wdpa"].manual and pubs["landmark"].manual and pubs["wdpa"].terms


def test_publishers_file_errors_name_the_entry_and_key(tmp_path):
    text = (Path(lf.__file__).with_name("publishers.toml")).read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('url = "{base_url}/{release}/Hansen_{release}_lossyear_{tile}.tif"',
                                'url = "{base_url}/{releas}/x_{tile}.tif"'))
    with pytest.raises(FetchError, match=r"publishers\.hansen_gfc\.bands\.lossyear\.url: unknown placeholder"):
        load_publishers(bad)


def test_area_selection():
    h = load_publishers()["hansen_gfc"]
    civ = h.grid.covering(lf.countries_area(["CIV"]))
    assert [h.grid.name(t) for t in civ] == ["20N_010W", "10N_010W"]
    assert lf.countries_area(["CI"])[0].equals(lf.countries_area(["civ"])[0])
    # a box on tile edges covers the tiles it is inside of, not the ones it touches
    assert [h.grid.name(t) for t in h.grid.covering(lf.bbox_area("0,0,10,10"))] == ["10N_000E"]
    tiles = h.grid.covering([shapely.box(-1, -61, 1, -59)])
    assert [h.grid.contains(t) for t in tiles] == [True, True, False, False]  # coverage ends at 60S
    for bad in ("1,2,3", "10,0,5,5", "a,b,c,d", "-181,0,0,1"):
        with pytest.raises(FetchError, match="--bbox"):
            lf.bbox_area(bad)
    with pytest.raises(FetchError, match="ZZZ"):
        lf.countries_area(["ZZZ"])


def test_datasets_and_mirrors_parse_with_reasons(monkeypatch):
    pubs = load_publishers()
    sel = lf.parse_datasets(["hansen_gfc.lossyear", "hansen_gfc@v1.11", "jrc_tmf.annual_change"], pubs)
    assert [(s.publisher.key, s.bands, s.release) for s in sel] == [
        ("hansen_gfc", ("lossyear", "treecover2000"), "GFC-2023-v1.11"), ("jrc_tmf", ("annual_change",), None)]
    assert [s.publisher.key for s in lf.parse_datasets(None, pubs)] == ["hansen_gfc", "jrc_gfc2020", "jrc_tmf"]
    for bad, why in (("nope", "unknown"), ("hansen_gfc.x", "no band"), ("hansen_gfc@V3", "not a release"),
                     ("landmark", "landmarkmap.org")):
        with pytest.raises(FetchError, match=why):
            lf.parse_datasets([bad], pubs)
    m = lf.parse_mirrors(["jrc_tmf=http://b/tmf"], "hansen_gfc=http://a/h, jrc_tmf=http://x", pubs)
    assert m == {"hansen_gfc": "http://a/h", "jrc_tmf": "http://b/tmf"}
    for bad in ("hansen_gfc", "wdpa=http://a", "hansen_gfc=ftp://a"):
        with pytest.raises(FetchError, match="mirror"):
            lf.parse_mirrors([bad], None, pubs)
    monkeypatch.setenv(lf.MIRRORS_ENV, "nope=http://x")
    assert main(["layers", "fetch", "--sources", "s", "--bbox", "0,0,1,1"]) == 2


def wdpa_file(path: Path, id_column: str = "WDPAID") -> Path:
    feature = box_feature(-5.3, 6.8, -5.2, 6.9, **{id_column: 555, "NAME": "Test forest", "IUCN_CAT": "II"})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path


def test_layers_add_wdpa_imports_the_users_file(tmp_path, capsys):
    sources = tmp_path / "sources"
    gj = wdpa_file(tmp_path / "WDPA_WDOECM_Sep2026_Public.geojson")
    assert main(["layers", "add", "wdpa", str(gj), "--sources", str(sources)]) == 0
    out = capsys.readouterr().out
    assert (sources / "wdpa" / "2026-09" / gj.name).read_bytes() == gj.read_bytes()
    assert "protectedplanet.net/en/legal" in out and f"--layer wdpa" in out
    assert LayerStore(tmp_path / "store").ingest(sources, "wdpa").status == "ok"
    # the shapefile download: a zip of zipped parts, unpacked into folders the reader walks
    parts = tmp_path / "parts"
    parts.mkdir()
    for k in range(2):
        with zipfile.ZipFile(parts / f"WDPA_WDOECM_Oct2026_Public_shp_{k}.zip", "w") as z:
            z.writestr("WDPA_WDOECM_Oct2026_Public_shp-polygons.geojson", wdpa_file(tmp_path / "p.geojson").read_text())
    outer = tmp_path / "WDPA_WDOECM_Oct2026_Public_shp.zip"
    with zipfile.ZipFile(outer, "w") as z:
        for f in parts.iterdir():
            z.write(f, f.name)
    assert main(["layers", "add", "wdpa", str(outer), "--sources", str(sources)]) == 0
    got = sorted(p.relative_to(sources / "wdpa" / "2026-10").as_posix() for p in (sources / "wdpa" / "2026-10").rglob("*.geojson"))
    assert len(got) == 2 and all(g.startswith("WDPA_WDOECM_Oct2026_Public_shp/") for g in got)
    # a file that is not WDPA, and a file already there: refused, nothing written
    assert main(["layers", "add", "wdpa", str(wdpa_file(tmp_path / "x.geojson", "ID")), "--version", "2026-11",
                 "--sources", str(sources)]) == 2
    assert "no WDPAID column" in capsys.readouterr().err and not (sources / "wdpa" / "2026-11").exists()
    assert main(["layers", "add", "wdpa", str(gj), "--version", "2026-09", "--sources", str(sources)]) == 2
    assert "already holds" in capsys.readouterr().err
    assert not (sources / lf.STAGING).exists()


def test_manual_versions():
    assert lf.manual_version([Path("WDPA_WDOECM_Sep2026_Public_shp.zip")]) == "2026-09"
    assert lf.manual_version([Path("landmark_2025-07.gpkg")]) == "2025-07"
    assert lf.manual_version([Path("Summary2024.gpkg")], today=__import__("datetime").date(2026, 3, 9)) == "2026-03"
