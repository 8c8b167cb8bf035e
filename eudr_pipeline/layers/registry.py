"""The dataset registry (``layers/datasets.toml``, overridable by the operator's file,
``EUDR_DATASETS_FILE``): what each dataset is (raster, vector or imagery), how its files
are found, which values are valid, its licence and attribution, and the indicators it
feeds. Validated against the dataclasses below (every field's type, no unknown field,
each spec's own consistency checks); a file that does not validate is a SettingsError
naming the dataset and the field (``datasets.x.bands.0.name: field required``).

Plain dataclasses and a small checker rather than pydantic models: every process loads the
registry at import (``eudr analyze`` included), and pydantic's import and model building
were about 0.07 s of a 1.3 s command (BENCHMARKS.md)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from eudr_pipeline.core.indicators import Indicator
from eudr_pipeline.errors import SettingsError

DEFAULT_REGISTRY = Path(__file__).with_name("datasets.toml")
NAME = r"^[a-z][a-z0-9_]{0,47}$"  # dataset and indicator names: folder and column names


@dataclass(frozen=True)
class BandSpec:
    """One raster band of a dataset: its files (``pattern``: a regex on file names, None:
    every raster of the version folder) and its valid values."""

    name: str
    pattern: str | None = None
    required: bool = True
    valid_range: tuple[float, float] | None = None
    valid_max_from: Literal["last_loss_year"] | None = None
    zero_ok: bool = True
    meanings: dict[str, str] = field(default_factory=dict)
    analysis_name: str | None = None


@dataclass(frozen=True)
class IndicatorSpec:
    """One indicator (core/indicators.py defines the kinds)."""

    name: str
    kind: Literal["area_where", "area_per_year", "overlap"]
    band: str | None = None
    values: list[float] | None = None
    min: float | None = None
    max: float | None = None
    encoding: Literal["year", "days_since"] = "year"
    year_offset: int = 0
    epoch: dt.date | None = None
    modulo: int | None = None
    within_forest_2020: bool = False
    countries: list[str] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind == "area_where" and self.values is None and self.min is None and self.max is None:
            raise ValueError("an area_where indicator needs values, min or max")
        if self.encoding == "days_since" and self.epoch is None:
            raise ValueError("encoding days_since needs an epoch (a date)")


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the registry."""

    kind: Literal["raster", "vector", "imagery"]
    title: str
    builtin: bool = False
    licence: str = ""
    attribution: str = ""
    url: str = ""
    description: str = ""
    feeds: list[str] = field(default_factory=list)
    bands: list[BandSpec] = field(default_factory=list)
    indicators: list[IndicatorSpec] = field(default_factory=list)
    required_columns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind == "raster" and not self.bands:
            raise ValueError("a raster dataset needs at least one band")
        names = {b.name for b in self.bands}
        for ind in self.indicators:
            if ind.kind == "overlap" and self.kind != "vector":
                raise ValueError(f"indicator {ind.name}: overlap needs a vector dataset")
            if ind.kind != "overlap" and self.kind != "raster":
                raise ValueError(f"indicator {ind.name}: {ind.kind} needs a raster dataset")
            if ind.kind != "overlap" and (ind.band or self.bands[0].name) not in names:
                raise ValueError(f"indicator {ind.name}: no band {ind.band!r} (bands: {', '.join(sorted(names))})")


@dataclass(frozen=True)
class Registry:
    """Every dataset, by name (the folder name in the layer source directory)."""

    datasets: dict[str, DatasetSpec]
    schema_: int = 1

    def indicators(self) -> tuple[Indicator, ...]:
        """Every indicator of every dataset, as the core computes them."""
        out = []
        for name, ds in self.datasets.items():
            for ind in ds.indicators:
                band = ind.band or (ds.bands[0].name if ds.bands else None)
                out.append(Indicator(
                    name=ind.name, dataset=name, kind=ind.kind, band=band if ind.kind != "overlap" else None,
                    values=tuple(ind.values) if ind.values is not None else None, min=ind.min, max=ind.max,
                    encoding=ind.encoding, year_offset=ind.year_offset, epoch=ind.epoch, modulo=ind.modulo,
                    within_forest_2020=ind.within_forest_2020,
                    countries=tuple(c.upper() for c in ind.countries) if ind.countries else None,
                    description=ind.description))
        return tuple(out)


def _invalid(where: str, message: str) -> SettingsError:
    """A value of the registry file that does not fit its field (``where``: the field's
    path); load_registry names the file."""
    return SettingsError(f"{where}: {message}")


def _check(kind: Any, value: Any, where: str) -> Any:
    """``value`` as the type ``kind`` (a dataclass, str, bool, int, float, a date, a
    Literal, X | None, list[X], tuple[X, Y], dict[str, X]), or SettingsError at ``where``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        return _spec(kind, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _check(next(a for a in args if a is not type(None)), value, where)
    if origin is Literal:
        if value not in args:
            raise _invalid(where, f"must be one of {', '.join(map(repr, args))}, not {value!r}")
        return value
    if origin in (list, tuple, dict):
        if not isinstance(value, dict if origin is dict else list):
            raise _invalid(where, f"must be a {'table' if origin is dict else 'list'}, not {value!r}")
        if origin is dict:
            return {k: _check(args[1], v, f"{where}.{k}") for k, v in value.items()}
        if origin is tuple and len(value) != len(args):
            raise _invalid(where, f"must have {len(args)} items, not {len(value)}")
        items = [_check(args[0] if origin is list else args[i], v, f"{where}.{i}") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _invalid(where, f"must be {'a date' if kind is dt.date else kind.__name__}, not {value!r}")
    return value


def _spec(cls: type, value: Any, where: str) -> Any:
    """An instance of the dataclass ``cls`` from the table ``value`` (every field checked)."""
    if not isinstance(value, dict):
        raise _invalid(where, f"must be a table, not {value!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    prefix = f"{where}." if where else ""
    for key in sorted(value.keys() - fields.keys()):
        raise _invalid(f"{prefix}{key}", "unknown field")
    for name, f in fields.items():
        if name not in value and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _invalid(f"{prefix}{name}", "field required")
    try:
        return cls(**{k: _check(hints[k], v, f"{prefix}{k}") for k, v in value.items()})
    except SettingsError:
        raise
    except ValueError as exc:  # a spec's own consistency check
        raise _invalid(where or "registry", str(exc)) from exc


def _read(path: Path) -> dict:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"dataset registry {path}: {exc}") from exc
    data["schema_"] = data.pop("schema", 1)
    return data


def load_registry(override: Path | str | None = None) -> Registry:
    """The shipped registry, with the datasets of ``override`` (an operator's TOML file of
    the same form) replacing or adding entries of the same name."""
    import re

    data = _read(DEFAULT_REGISTRY)
    if override:
        extra = _read(Path(override))
        data["datasets"] = {**data["datasets"], **extra.get("datasets", {})}
    try:
        registry = _spec(Registry, data, "")
    except SettingsError as exc:
        raise SettingsError(f"dataset registry {override or DEFAULT_REGISTRY}: {exc}") from exc
    names = [i.name for i in registry.indicators()]
    bad = [n for n in [*registry.datasets, *names] if not re.match(NAME, n)]
    if bad or len(set(names)) != len(names):
        raise SettingsError(f"dataset registry {override or DEFAULT_REGISTRY}: names must be unique, lower case, "
                            f"letters, digits and _ (bad: {', '.join(bad) or 'a repeated indicator name'})")
    return registry
