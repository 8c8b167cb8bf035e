"""`eudr analyze`'s results written as they come, chunk by chunk, so that memory holds
one chunk's analyses whatever the number of plots:

- ``json``: one JSON array of the analysis objects, indented by 2 (byte for byte what one
  ``orjson.dumps`` of the whole list with OPT_INDENT_2 writes);
- ``ndjson``: newline-delimited JSON, one analysis object per line (compact).

UTF-8 with non-ASCII characters as they are, written by orjson. A chunk holding a text
that UTF-8 cannot carry (a lone surrogate, which a file may write as "\ud800") is written by
json.dumps with every non-ASCII character escaped, so the output is valid JSON that reads
back to the same texts. Into ``--out`` through a temporary
file renamed into place at the end (files.py: a failed run leaves no half file), or to
standard output as it comes."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from eudr_pipeline.files import open_atomic

STREAMED_FORMATS = ("json", "ndjson")


def _dumps(value: Any, indent: bool) -> bytes:
    import orjson

    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0)
    except TypeError:
        return json.dumps(value, ensure_ascii=True, indent=2 if indent else None).encode("ascii")


class ResultsWriter:
    """Writes chunks of analysis objects (PlotResult.to_json()) to ``out`` in ``format``."""

    def __init__(self, fh: BinaryIO, format: str):
        if format not in STREAMED_FORMATS:
            raise ValueError(f"not a streamed format: {format}")
        self.fh, self.format, self.count = fh, format, 0

    def write(self, objects: list[dict[str, Any]]) -> None:
        if not objects:
            return
        if self.format == "ndjson":
            self.fh.write(b"".join(_dumps(o, False) + b"\n" for o in objects))
        else:  # the array's items as an indented dump of the whole list writes them
            items = _dumps(objects, True)[2:-2]  # "[\n" ... "\n]"
            self.fh.write((b"[\n" if self.count == 0 else b",\n") + items)
        self.count += len(objects)

    def finish(self) -> None:
        if self.format == "json":
            self.fh.write(b"[]\n" if self.count == 0 else b"\n]\n")
        self.fh.flush()


@contextlib.contextmanager
def results_writer(out: Path | None, format: str) -> Iterator[ResultsWriter]:
    """A ResultsWriter into ``out`` (whole or not at all) or standard output."""
    if out is None:
        writer = ResultsWriter(sys.stdout.buffer, format)
        yield writer
        writer.finish()
        return
    with open_atomic(out) as fh:
        writer = ResultsWriter(fh, format)
        yield writer
        writer.finish()
