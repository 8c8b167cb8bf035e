"""Turning GeoJSON features into plot requests: geometry, harvest date, commodity.

Precedence of harvest_date and commodity (api.md): per-plot override > check config >
the plot's own properties; the analysis end is that harvest date, else today."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Callable, Sequence

from eudr_pipeline.core.analysis import COMMODITIES, PlotRequest
from eudr_pipeline.core.geometry import PlotGeometry, parse_geometries
from eudr_pipeline.errors import GeometryError, IntakeError, shown

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date(value: Any, where: str) -> dt.date:
    """A YYYY-MM-DD date, or IntakeError naming ``where``."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise IntakeError(f"{where}: {shown(value)} is not a date in YYYY-MM-DD form")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise IntakeError(f"{where}: {shown(value)} is not a valid date ({exc})") from exc


def registered_harvest_dates(props: dict[str, Any], where: str) -> list[dt.date]:
    """Every harvest date a plot's properties give (``harvest_date`` and the list
    ``harvest_dates``), sorted, without repeats; IntakeError naming the bad one."""
    dates = []
    if props.get("harvest_date") not in (None, ""):
        dates.append(parse_date(props["harvest_date"], f"{where} harvest_date"))
    listed = props.get("harvest_dates")
    if listed not in (None, []):
        if not isinstance(listed, list):
            raise IntakeError(f"{where} harvest_dates: must be a list of YYYY-MM-DD dates")
        dates += [parse_date(d, f"{where} harvest_dates[{k}]") for k, d in enumerate(listed)]
    return sorted(set(dates))


def registered_harvest_date(props: dict[str, Any], where: str) -> dt.date | None:
    """The plot's own harvest date: the latest of ``harvest_date`` and ``harvest_dates``."""
    dates = registered_harvest_dates(props, where)
    return dates[-1] if dates else None


def check_commodity(value: Any, where: str) -> str | None:
    """``value`` as one of COMMODITIES, None when absent; IntakeError naming ``where``."""
    if value in (None, ""):
        return None
    if value not in COMMODITIES:
        raise IntakeError(f"{where}: commodity {shown(value)} is not one of {', '.join(COMMODITIES)}")
    return str(value)


CONFIG_KEYS = ("harvest_date", "commodity")


def effective_config(registered: dict[str, Any], *overrides: dict[str, Any] | None) -> dict[str, Any]:
    """harvest_date and commodity in force for one plot and check: each of ``overrides``
    (in increasing precedence: the check's config, then its per_plot entry) replaces the
    plot's ``registered`` values where it sets them (api.md)."""
    out = {k: registered.get(k) for k in CONFIG_KEYS}
    for layer in overrides:
        out.update({k: v for k, v in (layer or {}).items() if k in CONFIG_KEYS and v not in (None, "")})
    return out


def analysis_config(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The harvest_date and commodity one analysis of a plot uses, from the effective
    configs of its checks ([{type, config}]): the eudr check's values win."""
    out: dict[str, Any] = {}
    for c in sorted(checks, key=lambda c: c["type"] == "eudr"):
        out.update({k: v for k, v in (c.get("config") or {}).items() if v not in (None, "")})
    return out


def analysis_end_of(checks: list[dict[str, Any]], today: dt.date) -> dt.date:
    """The analysis end of a plot's analysis: the harvest date its checks give, else today."""
    harvest = analysis_config(checks).get("harvest_date")
    return parse_date(harvest, "harvest_date") if harvest else today


def feature_plot_id(feature: dict[str, Any], index: int) -> str:
    """The feature's ``plot_id`` property, else its ``id``, else its index."""
    props = feature.get("properties")
    props = props if isinstance(props, dict) else {}  # not an object: request_from_feature says so
    for v in (props.get("plot_id"), feature.get("id")):
        if v not in (None, ""):
            return str(v)
    return str(index)


def written_features(text: str) -> list[Any]:
    """The features of a GeoJSON text (a FeatureCollection or one Feature) **as written**:
    each number kept as its JSON text ("-5.297500"), in the order ``json.loads`` gives the
    features; [] when the text is not such a document. What the coordinate precision
    warning reads (core/geometry.py ``written_precision``)."""
    try:
        doc = json.loads(text, parse_float=str, parse_int=str)
    except ValueError:
        return []
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        return [doc]
    features = doc.get("features") if isinstance(doc, dict) else None
    return features if isinstance(features, list) else []


def written_lookup(text: str, first_index: int = 0) -> Callable[[int], Any]:
    """Feature ``k`` of ``text`` as written (``written_features``), the features numbered
    from ``first_index``; None for a number out of range. The text is parsed on the first
    call only: most files never need it (``requests_from_features``)."""
    parsed: list[list[Any]] = []

    def written(k: int) -> Any:
        if not parsed:
            parsed.append(written_features(text))
        j = k - first_index
        return parsed[0][j] if 0 <= j < len(parsed[0]) else None

    return written


def request_from_feature(
    feature: Any,
    index: int,
    harvest_date: dt.date | None = None,
    commodity: str | None = None,
    checks: tuple[str, ...] = ("eudr",),
    today: dt.date | None = None,
    written: Any = None,
) -> PlotRequest:
    """A PlotRequest for feature ``index``; an invalid feature gives a request carrying
    its error (the other plots still run). ``harvest_date``/``commodity`` override the
    feature's properties, as a check's config does. ``written``: the same feature as
    written (``written_features``), when the text is known: coordinates written with fewer
    than 6 decimals then get a warning."""
    [request] = _requests([feature], [index], harvest_date, commodity, checks, today,
                          None if written is None else lambda number: written)
    return request


def requests_from_features(
    features: list[Any],
    harvest_date: dt.date | None = None,
    commodity: str | None = None,
    checks: tuple[str, ...] = ("eudr",),
    today: dt.date | None = None,
    numbers: Sequence[int] | None = None,
    written: Callable[[int], Any] | None = None,
) -> list[PlotRequest]:
    """``request_from_feature`` of every feature, the geometries validated as arrays
    (core/geometry.py ``parse_geometries``). ``numbers``: each feature's number ("feature
    n" in messages, the plot id of a feature without one), by default 0, 1, ...
    ``written``: feature number -> the feature as written (``written_lookup`` of the text
    the features were read from), asked only when some plot's coordinates could have been
    written with fewer than 6 decimals."""
    numbers = list(range(len(features))) if numbers is None else list(numbers)
    return _requests(features, numbers, harvest_date, commodity, checks, today, written)


def _requests(features: list[Any], indices: list[int], harvest_date: dt.date | None, commodity: str | None,
              checks: tuple[str, ...], today: dt.date | None, written: Callable[[int], Any] | None) -> list[PlotRequest]:
    """The PlotRequests of ``features`` (numbered ``indices``); ``written(number)``: the
    feature of that number as written (``written_features``), or None when unknown."""
    fallback_end = today or dt.date.today()
    out: list[PlotRequest | None] = [None] * len(features)
    todo: list[int] = []
    for k, (feature, index) in enumerate(zip(features, indices)):
        where = f"feature {index}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            out[k] = PlotRequest(str(index), None, fallback_end, error=f"{where}: not a GeoJSON Feature")
        elif not isinstance(feature.get("properties") or {}, dict):
            out[k] = PlotRequest(feature_plot_id(feature, index), None, fallback_end,
                                 error=f"{where}: properties must be an object")
        else:
            todo.append(k)
    geometries = parse_geometries(
        [(features[k].get("geometry"), features[k].get("properties") or {}, f"feature {indices[k]}") for k in todo],
        None if written is None else lambda j: _written_coordinates(written(indices[todo[j]])))
    for k, pg in zip(todo, geometries):
        out[k] = _request(features[k], indices[k], pg, harvest_date, commodity, checks, today)
    return out  # type: ignore[return-value]


def _written_coordinates(written: Any) -> Any:
    """The geometry coordinates of a feature as written, None when it has none."""
    geometry = written.get("geometry") if isinstance(written, dict) else None
    return geometry.get("coordinates") if isinstance(geometry, dict) else None


def _request(feature: dict[str, Any], index: int, pg: PlotGeometry | GeometryError, harvest_date: dt.date | None,
             commodity: str | None, checks: tuple[str, ...], today: dt.date | None) -> PlotRequest:
    """The PlotRequest of a feature whose geometry gave ``pg``: its error, or the request
    with its analysis end and commodity (the first error in that order)."""
    where = f"feature {index}"
    plot_id = feature_plot_id(feature, index)
    props = feature.get("properties") or {}
    try:
        if isinstance(pg, GeometryError):
            raise pg
        end = harvest_date or registered_harvest_date(props, where) or today or dt.date.today()
        com = check_commodity(commodity, "--commodity") if commodity else check_commodity(props.get("commodity"), where)
    except (GeometryError, IntakeError) as exc:
        return PlotRequest(plot_id, None, today or dt.date.today(), error=str(exc))
    return PlotRequest(plot_id, pg.geometry, end, com, checks, warnings=pg.warnings, area_ha=pg.area_ha)
