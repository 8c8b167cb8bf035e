"""Plot geometry intake: every invalid case has its own clear error; point circles."""

import json

import numpy as np

import pytest
import shapely
from pyproj import Geod

from eudr_pipeline.core.geometry import GeometryError, geodesic_area_ha, parse_geometry, plot_geometry, point_circle
from eudr_pipeline_tests.conftest import FIXTURES

SQUARE = [[[10.0000001, 5.0000001], [10.0010001, 5.0000001], [10.0010001, 5.0010001], [10.0000001, 5.0010001], [10.0000001, 5.0000001]]]


def poly(coords):
    return {"type": "Polygon", "coordinates": coords}


@pytest.mark.parametrize(
    "geometry, props, message",
    [
        ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, {}, "unsupported geometry type 'LineString'"),
        ({"type": "Polygon", "coordinates": []}, {}, "empty geometry"),
        (None, {}, "missing geometry"),
        (poly([[[200.0, 5.0], [10.001, 5.0], [10.001, 5.001], [200.0, 5.0]]]), {}, "longitude 200.0 outside [-180, 180]"),
        (poly([[[10.0, 95.0], [10.001, 5.0], [10.001, 5.001], [10.0, 95.0]]]), {}, "latitude 95.0 outside [-90, 90]"),
        (poly([[[10.0, 5.0], [10.001, 5.0], [10.001, 5.001], [10.0, 5.001]]]), {}, "ring is not closed"),
        (poly([[[10.0, 5.0], [10.001, 5.0], [10.0, 5.0]]]), {}, "ring has 3 positions, at least 4 needed"),
        (poly([[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]), {}, "self-intersecting polygon"),
        ({"type": "Point", "coordinates": [10.0, 5.0]}, {"point_ha": 0}, "point_ha 0 out of range"),
        ({"type": "Point", "coordinates": [10.0, 5.0]}, {"point_ha": 4.0}, "point_ha 4.0 out of range"),
        ({"type": "Point", "coordinates": [10.0, 5.0]}, {"point_ha": 12.5}, "EUDR requires a polygon for plots above 4 ha"),
        ({"type": "Point", "coordinates": [10.0, 5.0]}, {"point_ha": "big"}, "point_ha 'big' is not a number"),
        ({"type": "Point", "coordinates": [10.0, "x"]}, {}, "latitude 'x' is not a finite number"),
        ({"type": "MultiPolygon", "coordinates": [SQUARE, SQUARE]}, {}, "polygons 0 and 1 of the MultiPolygon overlap"),
    ],
)
def test_each_invalid_geometry_has_its_reason(geometry, props, message):
    with pytest.raises(GeometryError) as exc:
        parse_geometry(geometry, props, "feature 7")
    assert "feature 7" in str(exc.value)
    assert message in str(exc.value)


def test_polygon_z_dropped_and_precision_warning():
    text = ('[[[10.0, 5.0, 12.0], [10.001, 5.0, 12.0], [10.001, 5.001, 3.0], [10.0, 5.001, 0.0], '
            '[10.0, 5.0, 12.0]]]')
    coords, written = json.loads(text), json.loads(text, parse_float=str, parse_int=str)
    pg = parse_geometry(poly(coords), {}, "feature 0", written)
    assert not pg.geometry.has_z
    assert any("written with 3 decimals " in w for w in pg.warnings)  # its most precise coordinate, Z ignored
    assert parse_geometry(poly(coords), {}, "feature 0").warnings == []  # parsed numbers alone: not judged
    pg6 = parse_geometry(poly(SQUARE), {}, "feature 0", json.loads(json.dumps(SQUARE), parse_float=str))
    assert pg6.warnings == []


def test_hole_is_a_hole():
    outer = [[10.0, 5.0], [10.01, 5.0], [10.01, 5.01], [10.0, 5.01], [10.0, 5.0]]
    hole = [[10.004, 5.004], [10.004, 5.006], [10.006, 5.006], [10.006, 5.004], [10.004, 5.004]]
    with_hole = parse_geometry(poly([outer, hole]), {}, "f").geometry
    full = parse_geometry(poly([outer]), {}, "f").geometry
    geod = Geod(ellps="WGS84")
    hole_ha = abs(geod.polygon_area_perimeter([p[0] for p in hole], [p[1] for p in hole])[0]) / 1e4
    assert geodesic_area_ha(with_hole) == pytest.approx(geodesic_area_ha(full) - hole_ha, rel=1e-9)


@pytest.mark.parametrize("lat", [0.0, 45.0, -60.0])
@pytest.mark.parametrize("ha", [0.01, 1.0, 3.99])
def test_point_circle_has_the_area_asked(lat, ha):
    c = point_circle(-70.0, lat, ha)
    assert len(c.exterior.coords) - 1 >= 64
    geod = Geod(ellps="WGS84")
    lon, lat_ = c.exterior.xy
    area = abs(geod.polygon_area_perimeter(lon, lat_)[0]) / 1e4
    assert area == pytest.approx(ha, rel=1e-4)
    # vertices sit at one geodesic distance from the centre
    _, _, dist = geod.inv([-70.0] * len(lon), [lat] * len(lon), lon, lat_)
    assert max(dist) - min(dist) < 1e-6
    # and that distance exceeds the naive radius sqrt(A / pi): an inscribed polygon would be too small
    assert min(dist) > (ha * 1e4 / 3.141592653589793) ** 0.5


def test_default_point_ha_is_one():
    pg = parse_geometry({"type": "Point", "coordinates": [-5.0, 6.0]}, {}, "f")
    assert pg.from_point
    assert geodesic_area_ha(pg.geometry) == pytest.approx(1.0, rel=1e-4)


def test_plot_of_several_features_is_their_union():
    a = poly([[[0.0, 0.0], [0.002, 0.0], [0.002, 0.001], [0.0, 0.001], [0.0, 0.0]]])
    b = poly([[[0.001, 0.0], [0.003, 0.0], [0.003, 0.001], [0.001, 0.001], [0.001, 0.0]]])
    pg = plot_geometry([(a, {}, "f0"), (b, {}, "f1")])
    assert shapely.area(pg.geometry) == pytest.approx(0.003 * 0.001)


def test_real_geometries_parse_with_pyproj_area():
    """Every valid real plot's area is pyproj's geodesic area of the GeoJSON geometry as
    shapely reads it (rings oriented as pyproj wants), to 1e-9."""
    geod, checked = Geod(ellps="WGS84"), 0
    for name in ("brazil_single_polygon", "indonesia_kalimantan_3", "worldwide_150_multipolygons"):
        fc = json.loads((FIXTURES / "plots" / f"{name}.geojson").read_text())
        for i, f in enumerate(fc["features"]):
            try:
                pg = parse_geometry(f["geometry"], f.get("properties"), f"{name} {i}")
            except GeometryError as exc:  # real data holds a few invalid drawings: the reason must say why
                assert "polygon" in str(exc)
                continue
            shape = shapely.orient_polygons(shapely.geometry.shape(f["geometry"]))
            expected = abs(geod.geometry_area_perimeter(shape)[0]) / 1e4
            assert expected > 0 and geodesic_area_ha(pg.geometry) == pytest.approx(expected, rel=1e-9), (name, i)
            checked += 1
    assert checked >= 150


def test_mixed_2d_3d_positions_are_fine_and_bad_ones_are_named():
    coords = [[[10.0000001, 5.0000001], [10.0010001, 5.0000001, 3.0], [10.0010001, 5.0010001], [10.0000001, 5.0000001, 1.0]]]
    assert parse_geometry(poly(coords), {}, "f").geometry.area > 0
    bad = [[[10.0, 5.0], [10.001, 5.0], [10.001], [10.0, 5.0]]]
    with pytest.raises(GeometryError, match=r"f ring 0 position 2: a position must be \[lon, lat\]"):
        parse_geometry(poly(bad), {}, "f")
    boolean = [[[10.0, 5.0], [True, 5.0], [10.001, 5.001], [10.0, 5.0]]]
    with pytest.raises(GeometryError, match="position 1: longitude True is not a finite number"):
        parse_geometry(poly(boolean), {}, "f")


def test_batch_geodesic_areas_match_pyproj_per_geometry():
    from eudr_pipeline.core.geometry import geodesic_areas_ha

    fc = json.loads((FIXTURES / "plots" / "worldwide_150_multipolygons.geojson").read_text())
    geoms = [shapely.make_valid(shapely.geometry.shape(f["geometry"])) for f in fc["features"]]
    geoms.append(shapely.GeometryCollection([shapely.box(0, 0, 0.01, 0.01), shapely.LineString([(0, 0), (1, 1)])]))
    geoms.append(shapely.GeometryCollection([shapely.MultiPolygon([shapely.box(0, 0, 0.01, 0.01), shapely.box(1, 1, 1.01, 1.01)])]))
    geoms.append(shapely.box(0, 0, 0.01, 0.01).difference(shapely.box(0.002, 0.002, 0.004, 0.004)))
    geod = Geod(ellps="WGS84")
    expected = []
    for g in geoms:
        polys = shapely.union_all([p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")])
        expected.append(abs(geod.geometry_area_perimeter(shapely.orient_polygons(polys))[0]) / 1e4)
    got = geodesic_areas_ha(np.array(geoms, dtype=object))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("text, decimals", [("13.5", 1), ("-85.99764", 5), ("-85.997641", 6), ("12.12345678", 8),
                                           ("7", 0), ("7.0", 1), ("-5.297500", 6), ("1.5e-3", 4), ("2E+2", 0)])
def test_written_decimals(text, decimals):
    from eudr_pipeline.core.geometry import written_decimals

    assert written_decimals(text) == decimals
