"""Hostile and careless input against the API (issue 10's list and its families): each
gets a 4xx with the error body, and changes nothing (no plot, no job, no token moved).
Property-based tests (hypothesis) throw generated geometries and request bodies at the
intake and the API: never a 5xx, never a state change on a refusal."""

from __future__ import annotations

import base64
import json
import math

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eudr_pipeline.config import Settings
from eudr_pipeline.core.geometry import MAX_VERTICES_PER_PLOT, parse_geometry
from eudr_pipeline.demo import demo_plots
from eudr_pipeline.errors import GeometryError
from eudr_pipeline.service import limits
from eudr_pipeline.service.app import create_app
from eudr_pipeline_tests.conftest import service_state

JSON = {"Content-Type": "application/json"}
POINT = {"type": "Point", "coordinates": [-5.29, 6.83]}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """(client, state, a registered plot id) with one user of 100 tokens."""
    state = service_state(Settings(data_dir=tmp_path_factory.mktemp("hostile"),
                                   jwt_secret="test-secret-of-32-characters-at-least"))
    state.accounts.add_user("ann", "ann-pw", 100)
    with TestClient(create_app(state), raise_server_exceptions=False) as client:
        basic = base64.b64encode(b"ann:ann-pw").decode()
        token = client.post("/login", headers={"Authorization": f"Basic {basic}"}).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        feature = demo_plots()["features"][0]
        [plot] = client.post("/plots/make_plot", json={"type": "FeatureCollection", "features": [feature]}).json()
        yield client, state, plot["plot_id"]


def snapshot(client: TestClient) -> tuple:
    return (client.get("/plots", params={"limit": 1}).json()["total"], client.get("/jobs").json()["total"],
            client.get("/users/check_tokens").json())


def collection(geometry, **props) -> dict:
    return {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": props, "geometry": geometry}]}


def ring(n: int, radius: float = 0.001) -> list:
    pts = [[-5.29 + radius * math.cos(2 * math.pi * k / n), 6.83 + radius * math.sin(2 * math.pi * k / n)]
           for k in range(n)]
    return pts + [pts[0]]


def hostile_requests(pid: str) -> list[tuple[str, str, str, dict]]:
    """(name, method, path, httpx kwargs) of every hostile request of issue 10 and kin."""
    nested = "[" * 100_000 + "]" * 100_000
    fc = lambda g, **p: json.dumps(collection(g, **p))  # noqa: E731
    return [
        ("nested make_job", "POST", "/jobs/make_job", {"content": nested, "headers": JSON}),
        ("nested make_plot", "POST", "/plots/make_plot", {"content": nested, "headers": JSON}),
        ("nested estimate", "POST", "/jobs/estimate", {"content": nested, "headers": JSON}),
        ("5,000-digit job_name", "POST", "/jobs/make_job",
         {"content": f'{{"job_name": {"9" * 5000}, "plot_ids": ["{pid}"]}}', "headers": JSON}),
        ("400-digit point_ha", "POST", "/plots/make_plot",
         {"content": fc(POINT).replace('"properties": {}', '"properties": {"point_ha": ' + "9" * 400 + "}"),
          "headers": JSON}),
        ("400-digit coordinate", "POST", "/plots/make_plot",
         {"content": fc(POINT).replace("-5.29", "9" * 400), "headers": JSON}),
        ("lone surrogate plot_name", "POST", "/plots/make_plot",
         {"content": fc(POINT, plot_name="x").replace('"x"', '"\\ud800"'), "headers": JSON}),
        ("lone surrogate in any property", "POST", "/plots/make_plot",
         {"content": fc(POINT, ProducerName="x").replace('"x"', '"a\\udfff"'), "headers": JSON}),
        ("lone surrogate job_name", "POST", "/jobs/make_job",
         {"content": f'{{"job_name": "\\ud800", "plot_ids": ["{pid}"]}}', "headers": JSON}),
        ("lone surrogate plot id", "POST", "/jobs/make_job", {"content": '{"plot_ids": ["\\ud800"]}', "headers": JSON}),
        ("offset 10^30 plots", "GET", "/plots", {"params": {"offset": 10 ** 30}}),
        ("offset 10^30 jobs", "GET", "/jobs", {"params": {"offset": 10 ** 30}}),
        ("300-character plot id image", "GET", f"/plots/{'a' * 300}/image.png", {}),
        ("300-character job id report", "GET", f"/jobs/{'a' * 300}/report", {}),
        ("string coordinates", "POST", "/plots/make_plot",
         {"json": collection({"type": "Point", "coordinates": ["-5.29", "6.83"]})}),
        ("antimeridian polygon", "POST", "/plots/make_plot",
         {"json": collection({"type": "Polygon", "coordinates": [[[179.9, 0], [-179.9, 0], [-179.9, 0.1], [179.9, 0.1],
                                                                  [179.9, 0]]]})}),
        ("170 x 10 degree polygon", "POST", "/plots/make_plot",
         {"json": collection({"type": "Polygon", "coordinates": [[[-80, -5], [90, -5], [90, 5], [-80, 5], [-80, -5]]]})}),
        ("20,000 ha polygon", "POST", "/plots/make_plot",
         {"json": collection({"type": "Polygon", "coordinates": [ring(64, 0.08)]})}),
        ("60,000 vertices", "POST", "/plots/make_plot",
         {"json": collection({"type": "Polygon", "coordinates": [ring(60_000)]})}),
        ("10,001 features", "POST", "/plots/make_plot",
         {"json": {"type": "FeatureCollection", "features": collection(POINT)["features"] * 10_001}}),
        ("17 MB notes", "POST", "/plots/make_plot", {"json": collection(POINT, notes="x" * (17 * 1024 * 1024))}),
        ("20,000-character notes", "POST", "/plots/make_plot", {"json": collection(POINT, notes="x" * 20_000)}),
        ("100 kB of properties", "POST", "/plots/make_plot", {"json": collection(POINT, extra="x" * 100_000)}),
        ("unknown route", "GET", "/nope", {}),
        ("wrong method", "PUT", "/plots/make_plot", {}),
        ("Content-Length not a number", "POST", "/jobs/make_job", {"content": "{}", "headers": {**JSON,
                                                                                                 "Content-Length": "x"}}),
    ]


@pytest.mark.parametrize("case", range(len(hostile_requests("p"))), ids=[c[0] for c in hostile_requests("p")])
def test_each_hostile_request_is_a_4xx_with_the_error_body_and_changes_nothing(api, case):
    client, _, pid = api
    name, method, path, kwargs = hostile_requests(pid)[case]
    before = snapshot(client)
    r = client.request(method, path, **kwargs)
    assert 400 <= r.status_code < 500, (name, r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"detail", "errors"} and body["errors"] and body["detail"], (name, body)
    assert len(r.content) < 20_000, name  # the refusal does not echo the input back
    assert snapshot(client) == before, name


def test_limits_are_named_in_the_refusals(api):
    client, _, _ = api
    r = client.post("/plots/make_plot", json=collection({"type": "Polygon", "coordinates": [ring(60_000)]}))
    assert f"more than {MAX_VERTICES_PER_PLOT:,} positions" in r.text
    r = client.post("/plots/make_plot", json=collection(POINT, notes="x" * (17 * 1024 * 1024)))
    assert r.status_code == 413 and f"{limits.MAX_BODY_BYTES:,} bytes" in r.json()["detail"]
    r = client.post("/plots/make_plot", json=collection({"type": "Polygon", "coordinates": [ring(64, 0.08)]}))
    assert "a plot may cover at most 10,000 ha" in r.text
    r = client.post("/plots/make_plot", json=collection({"type": "Polygon", "coordinates": [
        [[179.9, 0], [-179.9, 0], [-179.9, 0.1], [179.9, 0.1], [179.9, 0]]]}))
    assert "crosses the antimeridian" in r.text and "split it at 180 degrees" in r.text


# ---------------------------------------------------------------------- property-based

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-10 ** 400, max_value=10 ** 400),
                    st.floats(min_value=-6, max_value=-5), st.floats(min_value=6, max_value=7))
json_leaf = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_value = st.recursive(json_leaf, lambda kids: st.one_of(st.lists(kids, max_size=5),
                                                           st.dictionaries(st.text(max_size=8), kids, max_size=5)),
                          max_leaves=40)
positions = st.lists(st.one_of(numbers, json_leaf), min_size=0, max_size=3)
rings = st.lists(positions, min_size=0, max_size=8)
geometries = st.one_of(
    json_value,
    st.fixed_dictionaries({"type": st.sampled_from(["Point", "Polygon", "MultiPolygon", "LineString", "point"]),
                           "coordinates": st.one_of(positions, st.lists(rings, max_size=3),
                                                    st.lists(st.lists(rings, max_size=2), max_size=2), json_value)}),
)


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(geometry=geometries, properties=st.one_of(st.none(), st.dictionaries(st.sampled_from(["point_ha", "x"]), numbers)))
def test_the_geometry_intake_refuses_or_accepts_but_never_breaks(geometry, properties):
    try:
        pg = parse_geometry(geometry, properties, "feature 0")
    except GeometryError as exc:
        assert str(exc).startswith("feature 0") and len(str(exc)) < 500
        return
    assert pg.geometry.is_valid and not pg.geometry.is_empty


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(geometry=geometries, properties=st.dictionaries(
    st.sampled_from(["plot_name", "commodity", "harvest_date", "point_ha", "country", "notes", "additional_info"]),
    json_value, max_size=4))
def test_make_plot_answers_2xx_or_4xx_and_a_refusal_stores_nothing(api, geometry, properties):
    client, _, _ = api
    before = client.get("/plots", params={"limit": 1}).json()["total"]
    r = client.post("/plots/make_plot", content=json.dumps(collection(geometry, **properties)), headers=JSON)
    assert r.status_code in (200, 400), (r.status_code, r.text[:300])
    after = client.get("/plots", params={"limit": 1}).json()["total"]
    assert after == before + (1 if r.status_code == 200 else 0)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(body=st.one_of(json_value, st.fixed_dictionaries(
    {"plot_ids": st.one_of(json_value, st.lists(st.text(max_size=40), max_size=3))},
    optional={"job_name": json_value, "notes": json_value, "additional_info": json_value, "checks": json_value})))
def test_make_job_and_estimate_answer_4xx_to_what_they_cannot_use(api, body):
    client, _, _ = api
    before = snapshot(client)
    for path in ("/jobs/estimate", "/jobs/make_job"):
        r = client.post(path, headers={"X-Dry-Run": "true", **JSON}, content=json.dumps(body))  # NaN, 10^400 too
        assert r.status_code < 500, (path, r.status_code, r.text[:300])
        assert set(r.json()) == {"detail", "errors"} or r.status_code == 200
    if r.status_code >= 400:
        assert snapshot(client) == before
