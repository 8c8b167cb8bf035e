"""End to end against a real server and a real Dagster daemon: register, make_job, the
sensor picks it up, the run materializes, the response matches the seed's schema."""

from __future__ import annotations

import base64
import copy
import json
import time

import pytest

from eudr_pipeline.demo import demo_plots
from eudr_pipeline.service.client import ApiResponseError, Client

SEED_JOB_FIELDS = {"username": str, "notes": (str, type(None)), "job_id": str, "job_name": (str, type(None)),
                   "plot_ids": list, "created_at": str, "updated_at": str, "additional_info": dict, "token_cost": int,
                   "status": str, "plots": list, "job_visualization_url": list}
SEED_PLOT_FIELDS = {"username": str, "country": (str, type(None)), "state": (str, type(None)), "analysis": dict,
                    "plot_id": str, "plot_name": (str, type(None)), "geojson_features": list, "harvest_dates": list,
                    "commodity": (str, type(None)), "lat": str, "lon": str, "area_ha": (int, float), "tokens_cost": int,
                    "created_at": str, "updated_at": str, "analysis_image": (str, type(None)), "additional_info": dict}
SEED_ANALYSIS_FIELDS = {"analysisEnd": str, "analysis_end": str, "risk_level": str, "forest_percentage_2020": (int, float),
                        "indigenous_land": dict, "logging_area": (int, float, type(None)), "forest_area_2020": (int, float),
                        "risk_reason": str, "version": str, "areaHa": (int, float), "protected_areas": dict,
                        "deforestation": dict, "deforestation_percentage": (int, float), "protectedAreas": list,
                        "indigenous_overlap": dict}


def features(*ids: str) -> list[dict]:
    return [copy.deepcopy(f) for f in demo_plots()["features"] if f["properties"]["plot_id"] in ids]


def register(api: Client, *ids: str) -> dict[str, str]:
    out = api.request("POST", "/plots/make_plot", {"type": "FeatureCollection", "features": features(*ids)})
    return {p["geojson_features"][0]["properties"]["plot_id"]: p["plot_id"] for p in out}


def tokens(api: Client) -> dict:
    return api.request("GET", "/users/check_tokens")


def check_types(obj: dict, spec: dict, where: str) -> None:
    for k, t in spec.items():
        assert k in obj, f"{where}: missing {k}"
        assert isinstance(obj[k], t), f"{where}.{k}: {type(obj[k]).__name__}"


def test_job_end_to_end_with_refund(live):
    api = live.client("alice", "alice-pw")
    ids = register(api, "demo-01", "demo-06", "demo-10")
    before = tokens(api)
    job = api.request("POST", "/jobs/make_job", {"job_name": "Q1 shipment", "plot_ids": list(ids.values()),
                                                 "notes": "n", "additional_info": {"reviewer": "A"},
                                                 "checks": [{"type": "eudr", "config": {"commodity": "cocoa"}}]})
    assert job["status"] == "pending" and job["token_cost"] == 2 + 2 + 1
    assert tokens(api)["reserved"] == before["reserved"] + job["token_cost"]
    done = api.wait_job(job["job_id"], timeout=180)  # a hang guard; speed is measured by bench/bench_service.py
    assert done["status"] == "done-with-errors"
    check_types(done, SEED_JOB_FIELDS, "job")
    by_id = {p["plot_id"]: p for p in done["plots"]}
    for key in ("demo-01", "demo-06"):
        p = by_id[ids[key]]
        check_types(p, SEED_PLOT_FIELDS, key)
        check_types(p["analysis"], SEED_ANALYSIS_FIELDS, key)
        png = api.request("GET", p["analysis_image"].replace(live.base_url, ""), raw=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert by_id[ids["demo-01"]]["analysis"]["risk_level"] == "High"
    assert by_id[ids["demo-06"]]["analysis"]["risk_level"] == "Medium"
    failed = by_id[ids["demo-10"]]
    assert failed["analysis"] == {} and "no jrc_gfc2020 tile" in failed["error"]
    task = [t for t in done["tasks"] if t["plot_id"] == ids["demo-10"]][0]
    assert task["status"] == "failed" and task["failure_type"] == "no_layer_coverage"
    after = tokens(api)
    assert after["reserved"] == before["reserved"]
    assert after["balance"] == before["balance"] - 4  # demo-10's token refunded
    assert done["progress"] == 100 and len(done["job_visualization_url"]) == 1 + 2  # the overview, then each map
    assert done["job_visualization_url"][0].endswith(f"/jobs/{job['job_id']}/overview.png")
    # the same job through retrieve_job and in the list
    assert api.request("POST", "/jobs/retrieve_job", {"job_id": job["job_id"]})["status"] == "done-with-errors"
    listed = api.request("GET", "/jobs?limit=5")
    assert listed["jobs"][0]["job_id"] == job["job_id"]
    # history per plot
    runs = api.request("GET", f"/analysis-runs?plot_id={ids['demo-01']}")["analysis_runs"]
    assert runs[-1]["job_id"] == job["job_id"] and runs[-1]["config"]["eudr"]["commodity"] == "cocoa"
    # exports
    gj = json.loads(api.request("GET", f"/jobs/{job['job_id']}/export?format=geojson", raw=True))
    props = gj["features"][0]["properties"]
    assert {"ProducerCountry", "ProductionPlace", "Area"} <= set(props)
    csv_text = api.request("GET", f"/jobs/{job['job_id']}/export?format=csv", raw=True).decode()
    assert csv_text.splitlines()[0].startswith("plot_id,plot_name") and len(csv_text.splitlines()) == 4
    pq = api.request("GET", f"/jobs/{job['job_id']}/export?format=parquet", raw=True)
    assert pq[:4] == b"PAR1"


def test_checks_and_per_plot_overrides(live):
    api = live.client("alice", "alice-pw")
    ids = register(api, "demo-02", "demo-06")
    job = api.request("POST", "/jobs/make_job", {"plot_ids": list(ids.values()), "checks": [
        {"type": "eudr", "config": {"harvest_date": "2022-06-30", "commodity": "coffee"},
         "per_plot": {ids["demo-06"]: {"harvest_date": "2024-12-01"}}},
        {"type": "protected-area"}]})
    done = api.wait_job(job["job_id"], timeout=180)
    by_id = {p["plot_id"]: p["analysis"] for p in done["plots"]}
    assert by_id[ids["demo-02"]]["analysis_end"] == "2022-06-30"
    assert list(by_id[ids["demo-02"]]["deforestation"]["total_yearly"]) == ["2021", "2022"]
    assert by_id[ids["demo-06"]]["analysis_end"] == "2024-12-01"
    assert by_id[ids["demo-06"]]["commodity"] == "coffee"
    assert by_id[ids["demo-06"]]["protected_areas"]["protected_area_overlap_summary"]["protected_area_overlap"]


def test_dry_run_costs_nothing(live):
    api = live.client("alice", "alice-pw")
    ids = register(api, "demo-03")
    before = tokens(api)
    job = api.request("POST", "/jobs/make_job", {"plot_ids": list(ids.values()),
                                                 "checks": [{"type": "eudr", "config": {"commodity": "cocoa"}}]},
                      headers={"X-Dry-Run": "true"})
    assert job["status"] == "done" and job["dry_run"] and job["token_cost"] == 0
    assert job["plots"][0]["analysis"]["dry_run"] is True
    assert tokens(api) == before
    png = api.request("GET", job["plots"][0]["analysis_image"].replace(live.base_url, ""), raw=True)
    assert png[:4] == b"\x89PNG"


def snapshot(live) -> tuple:
    with live.state.engine.connect() as con:
        import sqlalchemy as sa

        return tuple(con.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar()
                     for t in ("plots", "jobs", "job_plots", "token_ledger")) + tuple(
            (u["balance"], u["reserved"]) for u in live.state.accounts.list_users())


def test_every_bad_request_changes_nothing(live):
    api = live.client("alice", "alice-pw")
    ids = register(api, "demo-04")
    pid = next(iter(ids.values()))
    bare = features("demo-05")[0]
    del bare["properties"]["commodity"]
    no_commodity = api.request("POST", "/plots/make_plot", {"type": "FeatureCollection", "features": [bare]})[0]["plot_id"]
    bob = live.client("bob", "bob-pw")
    bobs = register(bob, "demo-05")
    before = snapshot(live)
    bad_plots = features("demo-04", "demo-09")
    cases = [
        ("POST", "/plots/make_plot", {"type": "FeatureCollection", "features": bad_plots}, 400, "self-intersecting"),
        ("POST", "/plots/make_plot", {"type": "Feature"}, 400, "FeatureCollection"),
        ("POST", "/jobs/make_job", {"plot_ids": []}, 400, "plot_ids is required"),
        ("POST", "/jobs/make_job", {"plot_ids": [pid, pid]}, 400, "duplicate plot id"),
        ("POST", "/jobs/make_job", {"plot_ids": ["nope"]}, 400, "unknown plot id nope"),
        ("POST", "/jobs/make_job", {"plot_ids": [next(iter(bobs.values()))]}, 400, "unknown plot id"),
        ("POST", "/jobs/make_job", {"plot_ids": [pid], "checks": [{"type": "carbon"}]}, 400, "unknown check type"),
        ("POST", "/jobs/make_job", {"plot_ids": [pid], "checks": [{"type": "eudr", "config": {"harvest_date": "2024-02-30", "commodity": "cocoa"}}]}, 400, "not a valid date"),
        ("POST", "/jobs/make_job", {"plot_ids": [pid, no_commodity]}, 400, f"plot {no_commodity} has no commodity"),
        ("POST", "/jobs/make_job", {"plot_ids": [f"id{i}" for i in range(10001)]}, 400, "at most 10000"),
        ("POST", "/jobs/make_job", {"plot_ids": [pid], "additional_info": {"a": 1}}, 400, "strings to strings"),
        ("POST", "/jobs/make_job", {"plot_ids": [pid], "checks": [{"type": "eudr", "per_plot": {"other": {}}}]}, 400, "not in plot_ids"),
        ("POST", "/jobs/estimate", {"plot_ids": ["nope"]}, 400, "unknown plot id"),
    ]
    for method, path, body, status, msg in cases:
        with pytest.raises(ApiResponseError) as exc:
            api.request(method, path, body)
        assert exc.value.status == status, (path, body, exc.value.body)
        assert msg in json.dumps(exc.value.body), (msg, exc.value.body)
        assert set(exc.value.body) == {"detail", "errors"} and exc.value.body["errors"]
        assert snapshot(live) == before, (path, body)
    # every problem listed at once
    with pytest.raises(ApiResponseError) as exc:
        api.request("POST", "/jobs/make_job", {"plot_ids": [pid, pid, "x"], "checks": [{"type": "carbon"}]})
    assert len(exc.value.body["errors"]) == 3
    # malformed JSON and a bad X-Dry-Run header
    import urllib.request

    req = urllib.request.Request(live.base_url + "/jobs/make_job", data=b"{not json", method="POST",
                                 headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"})
    with pytest.raises(Exception) as raw_exc:
        urllib.request.urlopen(req)
    assert raw_exc.value.code == 400 and b"not valid JSON" in raw_exc.value.read()
    with pytest.raises(ApiResponseError) as exc:
        api.request("POST", "/jobs/make_job", {"plot_ids": [pid]}, headers={"X-Dry-Run": "maybe"})
    assert exc.value.status == 400 and "X-Dry-Run" in exc.value.body["detail"]
    assert snapshot(live) == before
    # not enough tokens: 402, no job
    poor = live.client("poor", "poor-pw")
    poor_ids = register(poor, "demo-01")
    mid = snapshot(live)
    with pytest.raises(ApiResponseError) as exc:
        poor.request("POST", "/jobs/make_job", {"plot_ids": list(poor_ids.values()), "checks": [{"type": "eudr", "config": {"commodity": "cocoa"}}]})
    assert exc.value.status == 402 and "costs 2 tokens but only 1" in exc.value.body["detail"]
    assert snapshot(live) == mid
    # auth failures: 401 JSON
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic xyz"}):
        with pytest.raises(ApiResponseError) as exc:
            Client(live.base_url).request("GET", "/users/check_tokens", headers=headers)
        assert exc.value.status == 401 and "detail" in exc.value.body
    import jwt as pyjwt

    forged = pyjwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, "not-the-secret", algorithm="HS256")
    expired = pyjwt.encode({"sub": "alice", "exp": int(time.time()) - 5}, live.state.jwt_secret(), algorithm="HS256")
    for tok, msg in ((forged, "invalid token"), (expired, "token expired")):
        with pytest.raises(ApiResponseError) as exc:
            Client(live.base_url, tok).request("GET", "/users/check_tokens")
        assert exc.value.status == 401 and msg in exc.value.body["detail"]
    with pytest.raises(ApiResponseError) as exc:
        Client(live.base_url).request("POST", "/login", headers={
            "Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()})
    assert exc.value.status == 401
    assert snapshot(live) == mid


def test_a_second_user_sees_nothing_of_the_first(live):
    alice = live.client("alice", "alice-pw")
    bob = live.client("bob", "bob-pw")
    ids = register(alice, "demo-08")
    pid = next(iter(ids.values()))
    job = alice.request("POST", "/jobs/make_job", {"plot_ids": [pid], "checks": [{"type": "eudr", "config": {"commodity": "cocoa"}}]})
    done = alice.wait_job(job["job_id"], timeout=180)
    image = done["plots"][0]["analysis_image"].replace(live.base_url, "")
    for method, path, body in (("GET", f"/plots/{pid}", None), ("GET", f"/jobs/{job['job_id']}", None),
                               ("POST", "/jobs/retrieve_job", {"job_id": job["job_id"]}), ("GET", image, None),
                               ("GET", f"/jobs/{job['job_id']}/export?format=csv", None),
                               ("GET", f"/analysis-runs?plot_id={pid}", None)):
        with pytest.raises(ApiResponseError) as exc:
            bob.request(method, path, body, raw=True)
        assert exc.value.status == 404, path
    assert all(j["job_id"] != job["job_id"] for j in bob.request("GET", "/jobs")["jobs"])
    assert all(p["plot_id"] != pid for p in bob.request("GET", "/plots")["plots"])


def test_openapi_describes_the_contract(live):
    doc = Client(live.base_url).request("GET", "/openapi.json")
    paths = doc["paths"]
    for p in ("/login", "/users/check_tokens", "/plots/make_plot", "/plots", "/plots/{plot_id}", "/analysis-runs",
              "/jobs/make_job", "/jobs", "/jobs/{job_id}", "/jobs/retrieve_job", "/jobs/estimate",
              "/jobs/{job_id}/export", "/jobs/{job_id}/plots/{plot_id}/image.png"):
        assert p in paths, p
    job_schema = doc["components"]["schemas"]["JobResponse"]["properties"]
    assert set(SEED_JOB_FIELDS) <= set(job_schema)
    assert job_schema["status"]["enum"] == ["creating", "pending", "incomplete", "done-with-errors", "done"]
    ref = paths["/jobs/make_job"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert "plot_ids" in body["required"] and body["properties"]["plot_ids"]["maxItems"] == 10000
