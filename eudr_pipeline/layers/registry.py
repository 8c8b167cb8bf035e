"""The dataset registry (``layers/datasets.toml``, overridable by the operator's file,
``EUDR_DATASETS_FILE``): what each dataset is (raster, vector or imagery), how its files
are found, which values are valid, its licence and attribution, and the indicators it
feeds. Validated by the pydantic models below; a file that does not validate is a
SettingsError naming the dataset and the field."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from eudr_pipeline.core.indicators import Indicator
from eudr_pipeline.errors import SettingsError

DEFAULT_REGISTRY = Path(__file__).with_name("datasets.toml")
NAME = r"^[a-z][a-z0-9_]{0,47}$"  # dataset and indicator names: folder and column names


class BandSpec(BaseModel):
    """One raster band of a dataset: its files (``pattern``: a regex on file names, None:
    every raster of the version folder) and its valid values."""

    model_config = ConfigDict(extra="forbid")
    name: str
    pattern: str | None = None
    required: bool = True
    valid_range: tuple[float, float] | None = None
    valid_max_from: Literal["last_loss_year"] | None = None
    zero_ok: bool = True
    meanings: dict[str, str] = {}
    analysis_name: str | None = None


class IndicatorSpec(BaseModel):
    """One indicator (core/indicators.py defines the kinds)."""

    model_config = ConfigDict(extra="forbid")
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

    @model_validator(mode="after")
    def _complete(self) -> "IndicatorSpec":
        if self.kind == "area_where" and self.values is None and self.min is None and self.max is None:
            raise ValueError("an area_where indicator needs values, min or max")
        if self.encoding == "days_since" and self.epoch is None:
            raise ValueError("encoding days_since needs an epoch (a date)")
        return self


class DatasetSpec(BaseModel):
    """One dataset of the registry."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["raster", "vector", "imagery"]
    title: str
    builtin: bool = False
    licence: str = ""
    attribution: str = ""
    url: str = ""
    description: str = ""
    feeds: list[str] = []
    bands: list[BandSpec] = []
    indicators: list[IndicatorSpec] = []
    required_columns: list[str] = []

    @model_validator(mode="after")
    def _consistent(self) -> "DatasetSpec":
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
        return self


class Registry(BaseModel):
    """Every dataset, by name (the folder name in the layer source directory)."""

    model_config = ConfigDict(extra="forbid")
    schema_: int = 1
    datasets: dict[str, DatasetSpec]

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
        registry = Registry.model_validate(data)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"dataset registry {override or DEFAULT_REGISTRY}: {where}") from exc
    names = [i.name for i in registry.indicators()]
    bad = [n for n in [*registry.datasets, *names] if not re.match(NAME, n)]
    if bad or len(set(names)) != len(names):
        raise SettingsError(f"dataset registry {override or DEFAULT_REGISTRY}: names must be unique, lower case, "
                            f"letters, digits and _ (bad: {', '.join(bad) or 'a repeated indicator name'})")
    return registry
