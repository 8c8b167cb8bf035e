"""Reading a plots file: a FeatureCollection whole, a GeoJSON text sequence in chunks."""

from __future__ import annotations

import json

import pytest

from eudr_pipeline.errors import PlotsFileError
from eudr_pipeline.plots_file import is_sequence, plot_chunks

SQUARE = {"type": "Polygon", "coordinates": [[[-5.29, 6.83], [-5.289, 6.83], [-5.289, 6.831], [-5.29, 6.83]]]}


def feature(k: int) -> dict:
    return {"type": "Feature", "properties": {"plot_id": f"p{k}"}, "geometry": SQUARE}


@pytest.mark.parametrize("name, text, sequence", [
    ("a.geojson", json.dumps({"type": "FeatureCollection", "features": [feature(0)]}), False),
    ("a.geojson", json.dumps(feature(0)), False),  # one Feature and nothing after it
    ("a.geojson", json.dumps(feature(0)) + "\n" + json.dumps(feature(1)), True),
    ("a.json", "\x1e" + json.dumps(feature(0)), True),
    ("a.ndjson", "{}", True),
    ("a.geojson", json.dumps({"type": "FeatureCollection", "features": [feature(0)]}, indent=2), False),
])
def test_the_form_is_told_by_suffix_or_first_line(tmp_path, name, text, sequence):
    f = tmp_path / name
    f.write_text(text)
    assert is_sequence(f) is sequence


def test_chunks_number_features_in_file_order(tmp_path):
    f = tmp_path / "p.geojsonl"
    f.write_text("\n".join(json.dumps(feature(k)) for k in range(10)) + "\n")
    chunks = list(plot_chunks(f, 4))
    assert [(c.first_index, len(c.features)) for c in chunks] == [(0, 4), (4, 4), (8, 2)]
    assert chunks[1].features[0]["properties"]["plot_id"] == "p4"
    assert chunks[2].written(9)["properties"]["plot_id"] == "p9" and chunks[2].written(3) is None
    assert chunks[2].written(8)["geometry"]["coordinates"][0][0] == ["-5.29", "6.83"]  # numbers as written


def test_a_feature_collection_is_sliced_and_read_as_written_once(tmp_path):
    f = tmp_path / "p.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [feature(k) for k in range(5)]}))
    chunks = list(plot_chunks(f, 2))
    assert [c.first_index for c in chunks] == [0, 2, 4] and chunks[0].written is chunks[2].written
    assert chunks[2].written(4)["properties"]["plot_id"] == "p4"


def test_bad_lines_are_errors_of_their_features(tmp_path):
    f = tmp_path / "p.geojsonl"
    f.write_text(json.dumps(feature(0)) + "\n\n{oops\n" + json.dumps(feature(2)) + "\n")
    [chunk] = plot_chunks(f, 10)
    assert chunk.features[0]["properties"]["plot_id"] == "p0" and chunk.features[1] is None
    assert list(chunk.errors) == [1] and chunk.errors[1].startswith("line 3: not JSON")
    assert chunk.written(2)["properties"]["plot_id"] == "p2"


def test_an_unreadable_file_is_a_plots_file_error(tmp_path):
    with pytest.raises(PlotsFileError, match="no such file"):
        list(plot_chunks(tmp_path / "missing.geojsonl"))
    bad = tmp_path / "latin1.geojsonl"
    bad.write_bytes(json.dumps(feature(0)).encode() + b"\n\xe9\n")
    with pytest.raises(PlotsFileError, match="cannot read"):
        list(plot_chunks(bad))
