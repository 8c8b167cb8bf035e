"""Results written chunk by chunk are the bytes of the whole list written at once."""

from __future__ import annotations

import io
import json

import orjson
import pytest

from eudr_pipeline.results_file import ResultsWriter, results_writer

OBJECTS = [{"plot_id": str(k), "area_ha": k / 3, "analysis": {"risk_level": "Low", "name": "Côte d'Ivoire", "y": [1, 2]}}
           for k in range(11)]


def written(format: str, chunks: list[list[dict]]) -> bytes:
    buf = io.BytesIO()
    writer = ResultsWriter(buf, format)
    for chunk in chunks:
        writer.write(chunk)
    writer.finish()
    return buf.getvalue()


@pytest.mark.parametrize("sizes", [[11], [1] * 11, [3, 0, 5, 3]])
def test_json_in_chunks_is_one_indented_document(sizes):
    chunks, start = [], 0
    for n in sizes:
        chunks.append(OBJECTS[start:start + n])
        start += n
    assert written("json", chunks) == orjson.dumps(OBJECTS, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    assert [json.loads(line) for line in written("ndjson", chunks).splitlines()] == OBJECTS


def test_no_objects_is_an_empty_array():
    assert written("json", []) == b"[]\n" and written("ndjson", [[]]) == b""


def test_a_lone_surrogate_is_written_escaped_and_reads_back():
    odd = [{"plot_id": "a\ud800b", "n": 1.5, "name": "Côte"}, {"plot_id": "c", "n": None}]
    out = written("json", [odd[:1], odd[1:]])
    assert json.loads(out.decode("utf-8")) == odd and b"\\ud800" in out
    assert out.startswith(b"[\n  {\n    ") and out.endswith(b"\n  }\n]\n")
    assert [json.loads(line) for line in written("ndjson", [odd]).splitlines()] == odd


def test_a_failed_run_leaves_no_file(tmp_path):
    out = tmp_path / "r.json"
    with pytest.raises(RuntimeError):
        with results_writer(out, "json") as writer:
            writer.write(OBJECTS[:2])
            raise RuntimeError("the analysis stopped")
    assert list(tmp_path.iterdir()) == []
    with results_writer(out, "ndjson") as writer:
        writer.write(OBJECTS)
    assert len(out.read_text().splitlines()) == 11
