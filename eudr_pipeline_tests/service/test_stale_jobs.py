"""Stale jobs (service/stale_jobs.py) on a real job database: which jobs are stale given
the layer versions in use, with their name, owner, plot count and the versions that
differ; dry runs, jobs never analysed and jobs in progress left out; the analysis users
see decides; one query whatever the number of jobs."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

from eudr_pipeline.config import Settings
from eudr_pipeline.demo import demo_plots
from eudr_pipeline.errors import NotFound, RequestInvalid
from eudr_pipeline.service.database import job_plots, jobs
from eudr_pipeline.service.job_requests import validate_job_request
from eudr_pipeline.service.jobs import submit_job
from eudr_pipeline.service.schemas import MakeJobRequest
from eudr_pipeline.service.stale_jobs import check_reanalysable, stale_jobs
from eudr_pipeline_tests.conftest import service_state

USED = {"jrc_gfc2020": "V3", "hansen_gfc": "v1.12", "hansen_gfc_treecover2000": "v1.12", "jrc_tmf": "v1_2025",
        "wdpa": "2025-11", "landmark": "2025-06", "imagery": "demo-2025"}  # as an analysis records them
IN_USE = {"jrc_gfc2020": "V3", "hansen_gfc": "v1.12", "jrc_tmf": "v1_2025", "wdpa": "2025-11", "landmark": "2025-06",
          "imagery": "demo-2025"}  # as the layer store gives them
NEW_HANSEN = IN_USE | {"hansen_gfc": "v1.13"}


@pytest.fixture
def state(tmp_path):
    state = service_state(Settings(data_dir=tmp_path))
    for user in ("erin", "femi"):
        state.accounts.add_user(user, "pw", 1000)
    return state


def submit(state, owner: str, name: str, ids=("demo-02", "demo-03"), dry_run: bool = False) -> str:
    """A job of demo plots submitted by ``owner`` as POST /jobs/make_job does."""
    plots = state.plots.register(owner, [f for f in demo_plots()["features"] if f["properties"]["plot_id"] in ids])
    request = validate_job_request(MakeJobRequest(job_name=name, plot_ids=[p["plot_id"] for p in plots]), owner,
                                   state.plots)
    return submit_job(state, owner, request, dry_run)


def analyse(state, job_id: str, versions: dict[str, str], status: str = "done", publish: bool = True) -> str:
    """An analysis of every plot of the job with ``versions`` recorded (as job_analyses
    records it), published (as job_responses does) unless ``publish`` is false, and the job
    ended with ``status``; the analysis's run id."""
    from eudr_pipeline.service.jobs import prepare_publication

    run = str(uuid.uuid4())
    rows = state.jobs.job_plot_rows(job_id)
    state.jobs.record_analyses(job_id, run, versions, [{"plot_id": r["plot_id"], "area_ha": 1.0, "analysis": {}}
                                                       for r in rows])
    if publish:
        state.jobs.publish(prepare_publication(state, job_id, run).job)
    state.jobs.set_status(job_id, status)
    return run


def test_jobs_whose_analysis_used_a_superseded_version_are_stale(state):
    q1 = submit(state, "erin", "Q1 shipment")
    north = submit(state, "femi", "North field", ids=("demo-04",))
    dry = submit(state, "erin", "dry", dry_run=True)
    never = submit(state, "erin", "never analysed")
    running = submit(state, "femi", "in progress")
    for job_id in (q1, north, dry):
        analyse(state, job_id, USED)
    analyse(state, running, USED, status="pending")  # a retry in progress: its run uses the versions in use
    state.jobs.set_status(never, "incomplete")
    assert stale_jobs(state.engine, IN_USE) == []

    found = stale_jobs(state.engine, NEW_HANSEN)
    assert [j.job_id for j in found] == [q1, north]  # oldest submission first
    first = found[0]
    assert (first.job_name, first.owner, first.plots, first.status) == ("Q1 shipment", "erin", 2, "done")
    # the treecover band's key is its layer's: one line per layer
    assert (first.used, first.current) == ({"hansen_gfc": "v1.12"}, {"hansen_gfc": "v1.13"})
    assert first.changes() == "hansen_gfc v1.12 -> v1.13" and first.new_versions() == "hansen_gfc=v1.13"
    assert isinstance(first.submitted, dt.datetime)
    assert (found[1].owner, found[1].plots) == ("femi", 1)

    # several layers differ: each named; a job re-analysed with the versions in use is no longer stale
    both = NEW_HANSEN | {"wdpa": "2026-01"}
    assert stale_jobs(state.engine, both)[0].changes() == "hansen_gfc v1.12 -> v1.13; wdpa 2025-11 -> 2026-01"
    analyse(state, q1, both)
    assert [j.job_id for j in stale_jobs(state.engine, both)] == [north]


def test_a_layer_without_a_version_in_use_makes_no_job_stale(state):
    job_id = submit(state, "erin", "Q1 shipment")
    analyse(state, job_id, USED)
    without = {k: v for k, v in IN_USE.items() if k not in ("wdpa", "imagery")}  # e.g. demoted, none left
    assert stale_jobs(state.engine, without) == []
    assert stale_jobs(state.engine, without | {"imagery": "demo-2026"})[0].changes() == "imagery demo-2025 -> demo-2026"


def test_the_analysis_users_see_decides(state):
    """A newer analysis recorded but not published (its run failed before the response)
    leaves the job stale: users still see the analysis with the old versions."""
    from eudr_pipeline.service.jobs import prepare_publication

    job_id = submit(state, "erin", "Q1 shipment")
    first = analyse(state, job_id, USED, publish=False)
    assert stale_jobs(state.engine, NEW_HANSEN) == []  # nothing shown yet: nothing to bring up to date
    state.jobs.publish(prepare_publication(state, job_id, first).job)
    second = analyse(state, job_id, USED | {"hansen_gfc": "v1.13", "hansen_gfc_treecover2000": "v1.13"},
                     publish=False)
    assert [j.job_id for j in stale_jobs(state.engine, NEW_HANSEN)] == [job_id]
    state.jobs.publish(prepare_publication(state, job_id, second).job)
    assert stale_jobs(state.engine, NEW_HANSEN) == []


def test_one_query_whatever_the_number_of_jobs(state):
    for i in range(20):
        analyse(state, submit(state, "erin", f"job {i}", ids=("demo-0" + str(i % 8 + 1),)), USED)
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(state.engine, "before_cursor_execute", record)
    try:
        assert len(stale_jobs(state.engine, NEW_HANSEN)) == 20
    finally:
        sa.event.remove(state.engine, "before_cursor_execute", record)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1, statements


def test_100000_jobs(state):
    """100,000 analysed jobs of 3 plots, 1,000 of them stale: exactly those found."""
    now = dt.datetime.now(dt.timezone.utc)
    ids = [str(uuid.UUID(int=i)) for i in range(100_000)]
    old, new = USED, USED | {"hansen_gfc": "v1.13", "hansen_gfc_treecover2000": "v1.13"}
    with state.engine.begin() as con:
        con.execute(jobs.insert(), [
            {"job_id": j, "username": "erin", "job_name": f"job {i}", "additional_info": {}, "checks": [],
             "status": "done", "dry_run": False, "token_cost": 3, "attempts": 1, "created_at": now, "updated_at": now,
             "layer_versions": old if i % 100 == 0 else new} for i, j in enumerate(ids)])
        con.execute(job_plots.insert(), [{"job_id": j, "position": p, "plot_id": f"p{p}", "feature": {}, "checks": [],
                                          "tokens_cost": 1, "status": "done"} for j in ids for p in range(3)])
    found = stale_jobs(state.engine, NEW_HANSEN)  # one query (above); about 1 s here, not asserted
    assert len(found) == 1000 and all(j.plots == 3 for j in found)
    assert {j.job_id for j in found} == {ids[i] for i in range(0, 100_000, 100)}


def test_what_can_be_reanalysed(state):
    done = submit(state, "erin", "done")
    analyse(state, done, USED)
    dry = submit(state, "erin", "dry", dry_run=True)
    pending = submit(state, "erin", "pending")
    check_reanalysable(state.engine, [done])
    with pytest.raises(NotFound, match="no job nope"):
        check_reanalysable(state.engine, [done, "nope"])
    with pytest.raises(RequestInvalid) as err:
        check_reanalysable(state.engine, [done, dry, pending])
    assert [e["loc"][1] for e in err.value.errors] == [dry, pending]
    assert "dry run" in str(err.value) and "pending" in str(err.value)


def test_the_jobs_commands(state, monkeypatch, capsys):
    from eudr_pipeline.cli import main

    monkeypatch.setenv("EUDR_DATA_DIR", str(state.settings.data_dir))
    done = submit(state, "erin", "done")
    analyse(state, done, USED)
    assert main(["jobs", "stale"]) == 0  # no layer in the store: nothing is stale
    assert capsys.readouterr().out.splitlines()[-1] == "0 stale job(s)"
    assert main(["jobs", "stale", "--json"]) == 0 and json.loads(capsys.readouterr().out) == []
    assert main(["jobs", "reanalyse", "--stale"]) == 0
    assert "nothing to re-analyse" in capsys.readouterr().out
    assert main(["jobs", "reanalyse"]) == 2 and "either --stale or job ids" in capsys.readouterr().err
    assert main(["jobs", "reanalyse", "nope"]) == 2 and "no job nope" in capsys.readouterr().err
    pending = submit(state, "erin", "pending")
    assert main(["jobs", "reanalyse", done, pending]) == 2
    assert "pending: its run will analyse it" in capsys.readouterr().err
