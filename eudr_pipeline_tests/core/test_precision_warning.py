"""The coordinate precision warning is judged from the text as written: the README's own
6-decimal coordinates (-5.297500, written with trailing zeros) get none, coordinates
written with fewer decimals get one, and parsed numbers alone (the API's body) are not
judged, since a float does not say how it was written."""

from __future__ import annotations

import json

from eudr_pipeline.core.intake import request_from_feature, written_features
from eudr_pipeline.service.plots import plot_row

# the feature collection of the README's curl session, as written there
README_PLOTS = """{
  "type": "FeatureCollection", "features": [
   {"type": "Feature", "properties": {"plot_name": "North field", "commodity": "cocoa", "harvest_date": "2024-11-01",
                                      "country": "C\\u00f4te d Ivoire"},
    "geometry": {"type": "Polygon", "coordinates": [[[-5.297500, 6.829000], [-5.293500, 6.829000],
                 [-5.293500, 6.832500], [-5.297500, 6.832500], [-5.297500, 6.829000]]]}},
   {"type": "Feature", "properties": {"plot_name": "Smallholding", "commodity": "cocoa", "point_ha": 3.0},
    "geometry": {"type": "Point", "coordinates": [-5.270000, 6.812000]}}]}"""


def requests_of(text: str):
    features = json.loads(text)["features"]
    written = written_features(text)
    return [request_from_feature(f, i, written=written[i]) for i, f in enumerate(features)]


def test_the_readme_coordinates_written_with_6_decimals_get_no_warning():
    requests = requests_of(README_PLOTS)
    assert [r.error for r in requests] == [None, None]
    assert [r.warnings for r in requests] == [[], []]
    # the floats alone look like 4 and 2 decimals: that is what the old check judged
    assert repr(json.loads(README_PLOTS)["features"][0]["geometry"]["coordinates"][0][0][0]) == "-5.2975"


def test_coordinates_written_with_fewer_decimals_get_a_warning_naming_them():
    coarse = (README_PLOTS.replace("-5.297500", "-5.2975").replace("6.832500", "6.8325")
              .replace("-5.293500", "-5.2935").replace("6.829000", "6.829"))
    polygon, point = requests_of(coarse)
    assert polygon.warnings == ["feature 0: coordinates written with 4 decimals (fewer than 6: about 11.1 m precision)"]
    assert point.warnings == []  # its own coordinates still have 6
    [one] = requests_of(README_PLOTS.replace("[-5.270000, 6.812000]", "[-5.27, 6.812]"))[1:]
    assert one.warnings == ["feature 1: coordinates written with 3 decimals (fewer than 6: about 111 m precision)"]


def test_a_plot_is_judged_by_its_most_precise_coordinate():
    """JSON writers drop trailing zeros (6.829000 -> 6.829): one coordinate written with 6
    decimals shows the plot was captured with them."""
    dropped = README_PLOTS.replace("-5.297500", "-5.2975").replace("6.829000", "6.829")
    assert [r.warnings for r in requests_of(dropped)] == [[], []]


def test_exponents_and_integers_count_as_written():
    text = README_PLOTS.replace("[-5.270000, 6.812000]", "[-5270000e-6, 6812000E-6]")
    assert requests_of(text)[1].warnings == []
    text = README_PLOTS.replace("[-5.270000, 6.812000]", "[-5, 7]")
    assert "written with 0 decimals" in requests_of(text)[1].warnings[0]


def test_parsed_numbers_alone_are_not_judged():
    """The API receives the body parsed (FastAPI): its plots carry no precision warning,
    whatever the client wrote, and a run of the service analyses them the same way."""
    coarse = json.loads(README_PLOTS.replace("-5.297500", "-5.3"))["features"]
    problems, row = plot_row(0, coarse[0])
    assert problems == [] and row["warnings"] == []
    assert request_from_feature(coarse[0], 0).warnings == []


def test_text_that_is_not_a_feature_collection_gives_nothing_to_judge():
    assert written_features("not json") == []
    assert written_features('{"type": "Feature", "geometry": null}') == [{"type": "Feature", "geometry": None}]
    assert written_features("[1, 2]") == []
