"""`eudr analyze` in chunks: a GeoJSON text sequence read line by line and the results
written as they come (json, ndjson) give exactly what the whole file analysed in memory
gives. A real subprocess on the demo layers."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from eudr_pipeline.demo import write_demo


def eudr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eudr_pipeline.cli", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, list[dict]]:
    """The demo layers and 200 features: the demo plots (valid, invalid, outside the layers)
    repeated with other ids, most moved to coordinates of 7 decimals, every seventh left
    with 4 (the precision warning), some without any id (named by their number)."""
    sources, plots = write_demo(tmp_path_factory.mktemp("demo"))
    base = json.loads(plots.read_text())["features"]
    features = []
    for k in range(200):
        f = copy.deepcopy(base[k % len(base)])
        f["properties"]["plot_id"] = f"p{k}"
        if k % 9 == 4:
            del f["properties"]["plot_id"]
        if k % 7 != 3:  # moved by a few centimetres: written with 7 decimals
            f["geometry"]["coordinates"] = _moved(f["geometry"]["coordinates"])
        features.append(f)
    return sources, features


def _moved(coordinates):
    if isinstance(coordinates[0], (int, float)):
        return [coordinates[0] + 1.3e-7, coordinates[1] + 2.9e-7]
    return [_moved(c) for c in coordinates]


def analyze(plots: Path, sources: Path, *args: str) -> subprocess.CompletedProcess:
    p = eudr("analyze", str(plots), "--sources", str(sources), "--harvest-date", "2024-06-30", *args)
    assert p.returncode == 0, p.stderr
    return p


def test_a_sequence_in_chunks_gives_what_the_whole_file_gives(demo, tmp_path):
    sources, features = demo
    whole = tmp_path / "plots.geojson"
    whole.write_text(json.dumps({"type": "FeatureCollection", "features": features}, indent=1))
    sequence = tmp_path / "plots.txt"  # no telling suffix: recognised by its first line
    lines = [json.dumps(f) for f in features]
    lines[5] = "\x1e" + lines[5]  # RFC 8142's record separator
    sequence.write_text(lines[0] + "\n\n" + "\n".join(lines[1:]) + "\n   \n")  # blank lines are skipped

    analyze(whole, sources, "--out", str(tmp_path / "whole.json"))
    expected = json.loads((tmp_path / "whole.json").read_text())
    warned = [r["plot_id"] for r in expected if r.get("analysis", {}).get("warnings")]
    assert warned and all(int(w.lstrip("p")) % 7 == 3 for w in warned)  # the 4-decimal plots, read as written
    assert {r["plot_id"] for r in expected} >= {"4", "13"} and any("error" in r for r in expected)

    analyze(sequence, sources, "--format", "ndjson", "--chunk-plots", "7", "--out", str(tmp_path / "seq.ndjson"))
    streamed = [json.loads(line) for line in (tmp_path / "seq.ndjson").read_text().splitlines()]
    assert streamed == expected

    analyze(whole, sources, "--chunk-plots", "13", "--out", str(tmp_path / "chunked.json"))
    assert (tmp_path / "chunked.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    p = analyze(sequence, sources, "--chunk-plots", "200")  # json to stdout
    assert json.loads(p.stdout) == expected and p.stdout.endswith("\n]\n")


def test_a_line_that_is_not_json_fails_alone(demo, tmp_path):
    sources, features = demo
    sequence = tmp_path / "plots.geojsonl"
    lines = [json.dumps(f) for f in features[:20]]
    lines.insert(3, '{"type": "Feature", "geometry": ')
    sequence.write_text("\n".join(lines) + "\n")
    p = analyze(sequence, sources, "--format", "ndjson", "--chunk-plots", "8")
    out = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(out) == 21
    assert out[3]["plot_id"] == "3" and out[3]["error"].startswith("feature 3: line 4: not JSON")
    others = [r for k, r in enumerate(out) if k != 3]
    assert [r["plot_id"] for r in others] == [f["properties"].get("plot_id", str(k + (k >= 3)))
                                              for k, f in enumerate(features[:20])]
    assert "21 plots analysed" in p.stderr


def test_the_parquet_export_of_a_sequence_carries_the_json_analyses(demo, tmp_path):
    import geopandas as gpd

    sources, features = demo
    sequence = tmp_path / "plots.geojsonl"
    sequence.write_text("\n".join(json.dumps(f) for f in features[:30]) + "\n")
    p = analyze(sequence, sources, "--format", "parquet", "--chunk-plots", "4", "--out", str(tmp_path / "r.parquet"))
    table = gpd.read_parquet(tmp_path / "r.parquet")
    whole = json.loads(analyze(sequence, sources).stdout)
    assert list(table["plot_id"]) == [r["plot_id"] for r in whole]
    assert [json.loads(a) for a in table["analysis"]] == [r.get("analysis", {}) for r in whole]
    assert "30 plots analysed" in p.stderr


@pytest.mark.parametrize("content, message", [
    ("\n\n  \n", "the GeoJSON text sequence has no features"),
    ("\x1e\n", "the GeoJSON text sequence has no features"),
])
def test_an_empty_sequence_exits_2(demo, tmp_path, content, message):
    sources, _ = demo
    f = tmp_path / "plots.geojsonl"
    f.write_text(content)
    p = eudr("analyze", str(f), "--sources", str(sources))
    assert p.returncode == 2 and message in p.stderr and p.stdout == ""
