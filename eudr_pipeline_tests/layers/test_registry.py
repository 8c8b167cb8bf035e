"""The dataset registry's checker: every field's type, no unknown or missing field, each
spec's consistency, with the path of the offending field in the message; the shipped
registry loads."""

from __future__ import annotations

import datetime as dt

import pytest

from eudr_pipeline.errors import SettingsError
from eudr_pipeline.layers.registry import load_registry

RASTER = '[datasets.x]\nkind = "raster"\ntitle = "X"\n'


@pytest.mark.parametrize("toml, where, message", [
    ('[datasets.x]\nkind = "raster"\n', "datasets.x.title", "field required"),
    (RASTER + 'bands = [{ name = "b", colour = "red" }]\n', "datasets.x.bands.0.colour", "unknown field"),
    (RASTER + 'bands = [{ name = 3 }]\n', "datasets.x.bands.0.name", "must be str, not 3"),
    (RASTER + 'bands = [{ name = "b", valid_range = [0, 1, 2] }]\n', "datasets.x.bands.0.valid_range",
     "must have 2 items"),
    (RASTER + 'bands = [{ name = "b", valid_range = [0, "1"] }]\n', "datasets.x.bands.0.valid_range.1",
     "must be float"),
    (RASTER + 'bands = [{ name = "b", required = "yes" }]\n', "datasets.x.bands.0.required", "must be bool"),
    (RASTER + 'bands = [{ name = "b" }]\n[[datasets.x.indicators]]\nname = "i"\nkind = "area_per_year"\n'
     'year_offset = true\n', "datasets.x.indicators.0.year_offset", "must be int, not True"),
    (RASTER + 'bands = [{ name = "b" }]\n[[datasets.x.indicators]]\nname = "i"\nkind = "area_per_year"\n'
     'encoding = "days_since"\nepoch = "2020-01-01"\n', "datasets.x.indicators.0.epoch", "must be a date"),
    (RASTER + 'bands = "b"\n', "datasets.x.bands", "must be a list"),
    (RASTER, "datasets.x", "a raster dataset needs at least one band"),
    ('[datasets.v]\nkind = "vector"\ntitle = "V"\n[[datasets.v.indicators]]\nname = "i"\nkind = "area_where"\n'
     'min = 1\n', "datasets.v", "area_where needs a raster dataset"),
])
def test_a_field_that_does_not_fit_is_named_with_its_path(tmp_path, toml, where, message):
    path = tmp_path / "datasets.toml"
    path.write_text(toml)
    with pytest.raises(SettingsError) as err:
        load_registry(path)
    assert f"{where}: " in str(err.value) and message in str(err.value) and str(path) in str(err.value)


def test_values_take_their_field_types(tmp_path):
    path = tmp_path / "datasets.toml"
    path.write_text(RASTER + 'bands = [{ name = "b", valid_range = [0, 100] }]\n[[datasets.x.indicators]]\n'
                    'name = "alerts"\nkind = "area_per_year"\nencoding = "days_since"\nepoch = 2014-12-31\n'
                    'modulo = 10000\n[[datasets.x.indicators]]\nname = "dense"\nkind = "area_where"\nvalues = [1, 2]\n')
    x = load_registry(path).datasets["x"]
    assert x.bands[0].valid_range == (0.0, 100.0) and isinstance(x.bands[0].valid_range[1], float)
    alerts, dense = x.indicators
    assert alerts.epoch == dt.date(2014, 12, 31) and alerts.modulo == 10000 and dense.values == [1.0, 2.0]
    assert x.builtin is False and x.feeds == [] and x.bands[0].meanings == {}  # defaults


def test_the_shipped_registry_loads_with_its_builtin_layers():
    registry = load_registry()
    assert {"jrc_gfc2020", "hansen_gfc", "jrc_tmf", "wdpa"} <= set(registry.datasets)
    assert all(registry.datasets[n].builtin for n in ("jrc_gfc2020", "hansen_gfc"))
    assert registry.datasets["hansen_gfc"].bands[0].valid_max_from == "last_loss_year"
