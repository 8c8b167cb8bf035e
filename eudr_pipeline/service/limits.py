"""The API's documented limits (README "Limits") and the checks that hold them, so that no
request can cost the server memory or CPU out of proportion to them. A request over a
limit gets a 4xx naming the limit and where it was exceeded, and changes nothing.

Per plot (core/geometry.py): MAX_VERTICES_PER_PLOT positions, MAX_PLOT_AREA_HA ha,
MAX_PLOT_EXTENT_DEG degrees each way, no antimeridian crossing. Per request: below."""

from __future__ import annotations

from typing import Any

import orjson

MAX_BODY_BYTES = 16 * 1024 * 1024   # any request body (413 above it, before it is parsed)
MAX_FEATURES_PER_REQUEST = 10_000   # make_plot
MAX_NAME_CHARS = 500                # plot_name, job_name, country, state, ProducerName...
MAX_NOTES_CHARS = 10_000            # notes
MAX_PROPERTIES_BYTES = 64 * 1024    # one feature's properties, or a job's additional_info, as JSON
MAX_OFFSET = 1_000_000_000          # pagination offset
NAME_FIELDS = ("plot_name", "country", "state")
LONG_TEXT_FIELDS = ("notes",)


def _unencodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def text_problems(value: Any, loc: list, where: str, max_chars: int = MAX_NAME_CHARS) -> list[dict]:
    """Problems of one text field: not a string, longer than ``max_chars``, or not valid
    Unicode (a lone UTF-16 surrogate cannot be stored or sent as UTF-8)."""
    if value is None:
        return []
    name = str(loc[-1])
    if not isinstance(value, str):
        return [{"loc": loc, "msg": f"{where}: {name} must be a string"}]
    if len(value) > max_chars:
        return [{"loc": loc, "msg": f"{where}: {name} has {len(value):,} characters; at most {max_chars:,}"}]
    if _unencodable(value):
        return [{"loc": loc, "msg": f"{where}: {name} is not valid UTF-8 text (it holds a lone surrogate)"}]
    return []


def json_problems(value: Any, loc: list, where: str, max_bytes: int = MAX_PROPERTIES_BYTES) -> list[dict]:
    """Problems of a JSON object stored as given (a feature's properties, additional_info):
    larger than ``max_bytes`` as JSON, or holding text that is not valid UTF-8, or numbers
    beyond 64 bits."""
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError as exc:
        reason = "text that is not valid UTF-8 (a lone surrogate)" if "surrogate" in str(exc) or "str" in str(exc) \
            else "a number beyond 64 bits"
        return [{"loc": loc, "msg": f"{where}: {loc[-1]} holds {reason}"}]
    if size > max_bytes:
        return [{"loc": loc, "msg": f"{where}: {loc[-1]} is {size:,} bytes as JSON; at most {max_bytes:,}"}]
    return []
