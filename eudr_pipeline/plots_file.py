"""A plots file as `eudr analyze` reads it: its features, in chunks.

Two forms are read:

- a GeoJSON **FeatureCollection** (or one Feature): parsed whole, so its size is bounded by
  memory (about 2.5 GB of memory per million plots of the real files' shape);
- a GeoJSON **text sequence**: one Feature per line (newline-delimited GeoJSON, what
  ``ogr2ogr -f GeoJSONSeq`` writes), each optionally led by the RFC 8142 record separator
  (0x1E). Read line by line in chunks, so a file of millions of plots takes the memory of
  one chunk. A line that is not JSON is a failed plot naming its line; the others run.

Features are numbered from 0 in file order ("feature k"), the number a plot without a
``plot_id`` or ``id`` is named by."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from eudr_pipeline.core.intake import written_lookup
from eudr_pipeline.errors import PlotsFileError

SEQUENCE_SUFFIXES = (".geojsonl", ".geojsonseq", ".geojsons", ".ndjson", ".jsonl")
RECORD_SEPARATOR = "\x1e"
CHUNK_PLOTS = 10_000  # features analysed and written at once: bounds memory, keeps batches large
_DIGITS = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))  # ASCII digits -> "0", anything else -> " "


@dataclass
class PlotChunk:
    """Consecutive features of a plots file: ``features[k]`` is feature ``first_index + k``.
    ``written``: feature number -> that feature as written (the precision warning's reading,
    core/intake.py ``written_lookup``). ``errors``: feature number -> why the line holding it
    is not a feature at all (sequences only)."""

    first_index: int
    features: list[Any]
    written: Callable[[int], Any]
    errors: dict[int, str]


def loads(text: str) -> Any:
    """``json.loads(text)``, by orjson (a few times faster) where it gives the same: not for
    what orjson refuses and json accepts (NaN, Infinity, lone surrogates...), nor for
    integers of 19 digits or more, which orjson turns into floats."""
    import orjson

    if b"0" * 19 not in text.encode("utf-8", "surrogatepass").translate(_DIGITS):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def read_plots_text(path: Path) -> str:
    """The text of a plots file, or PlotsFileError saying why not."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlotsFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlotsFileError(f"{path}: cannot read ({exc})") from exc


def features_of(text: str, path: Path) -> list[Any]:
    """The features of a GeoJSON text read from ``path``, or PlotsFileError naming it."""
    try:
        doc = loads(text)
    except json.JSONDecodeError as exc:
        raise PlotsFileError(f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        return [doc]
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise PlotsFileError(f"{path}: not a GeoJSON FeatureCollection (no 'features' list)")
    if not doc["features"]:
        raise PlotsFileError(f"{path}: the FeatureCollection has no features")
    return doc["features"]


def read_features(path: Path) -> list[Any]:
    """The features of a GeoJSON FeatureCollection (or a single Feature) file."""
    return features_of(read_plots_text(path), path)


def is_sequence(path: Path) -> bool:
    """Whether ``path`` is a GeoJSON text sequence: by its suffix, or a first line that is a
    whole Feature (or starts with the record separator) followed by more."""
    if Path(path).suffix.lower() in SEQUENCE_SUFFIXES:
        return True
    with _open(path) as fh:
        first = fh.readline(1 << 20)
        if first.startswith(RECORD_SEPARATOR):
            return True
        rest = fh.read(4096)
    if not first.endswith("\n") or not rest.strip():  # one line (a whole document) or a line over 1 MiB
        return False
    try:
        doc = loads(first)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("type") == "Feature" and rest.strip() != ""


def plot_chunks(path: Path, chunk_plots: int = CHUNK_PLOTS) -> Iterator[PlotChunk]:
    """The features of the plots file ``path`` in chunks of at most ``chunk_plots``, in file
    order; PlotsFileError for a file that has none or cannot be read."""
    if is_sequence(path):
        yield from _sequence_chunks(path, chunk_plots)
        return
    text = read_plots_text(path)
    features = features_of(text, path)
    written = written_lookup(text)  # the whole text, parsed again on first use only
    for start in range(0, len(features), chunk_plots):
        yield PlotChunk(start, features[start:start + chunk_plots], written, {})


def _open(path: Path) -> IO[str]:
    try:
        return open(path, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise PlotsFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise PlotsFileError(f"{path}: cannot read ({exc})") from exc


def _sequence_chunks(path: Path, chunk_plots: int) -> Iterator[PlotChunk]:
    """Chunks of a text sequence, a feature per non-blank line."""
    number = 0
    lines: list[tuple[int, str]] = []  # (line number, text) of the chunk's features
    try:
        with _open(path) as fh:
            for line_no, line in enumerate(fh, start=1):
                record = line.strip().lstrip(RECORD_SEPARATOR).strip()
                if record:
                    lines.append((line_no, record))
                if len(lines) == chunk_plots:
                    yield _sequence_chunk(number, lines)
                    number += len(lines)
                    lines = []
    except UnicodeDecodeError as exc:
        raise PlotsFileError(f"{path}: cannot read ({exc})") from exc
    if lines:
        yield _sequence_chunk(number, lines)
    elif number == 0:
        raise PlotsFileError(f"{path}: the GeoJSON text sequence has no features")


def _sequence_chunk(first_index: int, lines: list[tuple[int, str]]) -> PlotChunk:
    """The chunk of these lines: parsed as one array when every line is JSON, else line by
    line, each bad line a feature that fails with its line number."""
    text = '{"type":"FeatureCollection","features":[' + ",".join(t for _, t in lines) + "]}"
    try:
        features = loads(text)["features"]
        if len(features) == len(lines):
            return PlotChunk(first_index, features, written_lookup(text, first_index), {})
    except ValueError:
        pass
    features, errors = [], {}
    for k, (line_no, record) in enumerate(lines):
        try:
            features.append(loads(record))
        except ValueError as exc:
            features.append(None)
            errors[first_index + k] = f"line {line_no}: not JSON ({exc})"
    good = [t if first_index + k not in errors else "null" for k, (_, t) in enumerate(lines)]
    text = '{"type":"FeatureCollection","features":[' + ",".join(good) + "]}"
    return PlotChunk(first_index, features, written_lookup(text, first_index), errors)
