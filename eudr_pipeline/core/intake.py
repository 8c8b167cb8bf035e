"""Turning GeoJSON features into plot requests: geometry, harvest date, commodity.

Precedence of harvest_date and commodity (api.md): per-plot override > check config >
the plot's own properties; the analysis end is that harvest date, else today."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from eudr_pipeline.core.analysis import COMMODITIES, PlotRequest
from eudr_pipeline.core.geometry import GeometryError, parse_geometry

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class IntakeError(ValueError):
    """A plot's properties are unusable (bad date, unknown commodity)."""


def parse_date(value: Any, where: str) -> dt.date:
    """A YYYY-MM-DD date, or IntakeError naming ``where``."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise IntakeError(f"{where}: {value!r} is not a date in YYYY-MM-DD form")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise IntakeError(f"{where}: {value!r} is not a valid date ({exc})") from exc


def registered_harvest_date(props: dict[str, Any], where: str) -> dt.date | None:
    """The plot's own harvest date: harvest_date, else the latest of harvest_dates."""
    if props.get("harvest_date") not in (None, ""):
        return parse_date(props["harvest_date"], f"{where} harvest_date")
    dates = props.get("harvest_dates")
    if dates:
        if not isinstance(dates, list):
            raise IntakeError(f"{where} harvest_dates: must be a list of YYYY-MM-DD dates")
        return max(parse_date(d, f"{where} harvest_dates[{k}]") for k, d in enumerate(dates))
    return None


def check_commodity(value: Any, where: str) -> str | None:
    if value in (None, ""):
        return None
    if value not in COMMODITIES:
        raise IntakeError(f"{where}: commodity {value!r} is not one of {', '.join(COMMODITIES)}")
    return str(value)


def feature_plot_id(feature: dict[str, Any], index: int) -> str:
    """The feature's ``plot_id`` property, else its ``id``, else its index."""
    props = feature.get("properties") or {}
    for v in (props.get("plot_id"), feature.get("id")):
        if v not in (None, ""):
            return str(v)
    return str(index)


def request_from_feature(
    feature: Any,
    index: int,
    harvest_date: dt.date | None = None,
    commodity: str | None = None,
    checks: tuple[str, ...] = ("eudr",),
    today: dt.date | None = None,
) -> PlotRequest:
    """A PlotRequest for feature ``index``; an invalid feature gives a request carrying
    its error (the other plots still run). ``harvest_date``/``commodity`` override the
    feature's properties, as a check's config does."""
    where = f"feature {index}"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return PlotRequest(str(index), None, today or dt.date.today(), error=f"{where}: not a GeoJSON Feature")
    plot_id = feature_plot_id(feature, index)
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        return PlotRequest(plot_id, None, today or dt.date.today(), error=f"{where}: properties must be an object")
    try:
        pg = parse_geometry(feature.get("geometry"), props, where)
        end = harvest_date or registered_harvest_date(props, where) or today or dt.date.today()
        com = check_commodity(commodity, "--commodity") if commodity else check_commodity(props.get("commodity"), where)
    except (GeometryError, IntakeError) as exc:
        return PlotRequest(plot_id, None, today or dt.date.today(), error=str(exc))
    return PlotRequest(plot_id, pg.geometry, end, com, checks, warnings=pg.warnings)
