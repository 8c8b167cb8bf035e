"""The ``eudr`` command.

    eudr analyze PLOTS.geojson[l] --sources DIR [--harvest-date YYYY-MM-DD] [--commodity NAME]
                 [--format json|ndjson|geojson|csv|parquet] [--out FILE] [--chunk-plots N]
    eudr demo [--out-dir DIR] [--core]
    eudr serve | serve-all
    eudr users add NAME --password PW [--tokens N] | users list
    eudr jobs stale [--json] | jobs reanalyse (--stale | JOB_ID...)
    eudr layers ingest [--sources DIR] [--layer NAME] | layers refresh | layers list
    eudr db upgrade [--revision REV]

Exit codes: 0 done (plots that failed carry an ``error``), 2 unusable input (one line on
stderr saying what and where)."""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence


from eudr_pipeline.collector import collector_paused

with collector_paused():  # the imports build many objects and no garbage cycles
    from eudr_pipeline.config import Settings
    from eudr_pipeline.core.analysis import COMMODITIES, AnalysisOptions, PlotResult, analyze_plots
    from eudr_pipeline.core.intake import parse_date, requests_from_features
    from eudr_pipeline.errors import EudrError, PlotsFileError, SettingsError
    from eudr_pipeline.files import write_atomic
    from eudr_pipeline.layers.source_directory import open_layer_set
    from eudr_pipeline.plots_file import CHUNK_PLOTS, PlotChunk, plot_chunks
    from eudr_pipeline.results_file import STREAMED_FORMATS, results_writer


def analysed_chunks(
    plots: Path,
    sources: Path,
    harvest_date: dt.date | None = None,
    commodity: str | None = None,
    options: AnalysisOptions = AnalysisOptions(),
    show_progress: bool = True,
    chunk_plots: int = CHUNK_PLOTS,
) -> Iterator[tuple[PlotChunk, list[PlotResult]]]:
    """Analyse every feature of ``plots`` (plots_file.py: a FeatureCollection or a GeoJSON
    text sequence) against the layer source directory ``sources``, a chunk of features at a
    time: (chunk, one result per feature of it, in input order)."""
    layers = open_layer_set(sources)
    bar = None
    try:
        for chunk in plot_chunks(plots, chunk_plots):
            if bar is None and show_progress and sys.stderr.isatty():  # tqdm(disable=None) shows nothing elsewhere
                from tqdm import tqdm

                bar = tqdm(file=sys.stderr, unit="plot", disable=None, mininterval=0.5)
            requests = requests_from_features(chunk.features, harvest_date, commodity, today=dt.date.today(),
                                              numbers=range(chunk.first_index, chunk.first_index + len(chunk.features)),
                                              written=chunk.written)
            for number, why in chunk.errors.items():
                requests[number - chunk.first_index].error = f"feature {number}: {why}"
            yield chunk, analyze_plots(requests, layers, options, progress=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
        layers.close()


def run_analysis(plots: Path, sources: Path, harvest_date: dt.date | None = None, commodity: str | None = None,
                 options: AnalysisOptions = AnalysisOptions(), show_progress: bool = True) -> list[PlotResult]:
    """Every result of ``analysed_chunks``, in input order."""
    with collector_paused():
        return [r for _, results in analysed_chunks(plots, sources, harvest_date, commodity, options, show_progress)
                for r in results]


def _write_results(results: list[PlotResult], out: Path | None, format: str = "json") -> None:
    """The analysis objects written whole (results_file.py)."""
    with results_writer(out, format) as writer:
        writer.write([r.to_json() for r in results])


def results_table(results: list[PlotResult]) -> str:
    """A fixed-width per-plot table: area, forest 2020, loss after 2020, degradation,
    protected/indigenous overlap, risk (or the plot's error)."""
    head = f"{'plot':<10} {'area ha':>9} {'forest ha':>9} {'loss ha':>8} {'logging':>8} {'PA ha':>7} {'IL ha':>7}  risk"
    lines = [head, "-" * len(head)]
    for r in results:
        if r.error:
            lines.append(f"{r.plot_id:<10} {'error: ' + r.error}")
            continue
        a = r.analysis or {}
        pa = a["protected_areas"]["protected_area_overlap_summary"]["total_overlap_area_ha"]
        il = a["indigenous_land"]["indigenous_land_overlap_summary"]["total_overlap_area_ha"]
        log = a["logging_area"]
        lines.append(
            f"{r.plot_id:<10} {r.area_ha:>9.3f} {a['forest_area_2020']:>9.3f} {a['deforestation']['total_jrc']:>8.3f} "
            f"{'n/a' if log is None else f'{log:.3f}':>8} {pa:>7.3f} {il:>7.3f}  {a['risk_level']}"
        )
    return "\n".join(lines)


def cmd_analyze(args: argparse.Namespace, settings: Settings) -> int:
    t0 = time.perf_counter()
    # At the process's exit the interpreter's last collection would walk every object the
    # imports and the analysis left (0.1 s): the command owns no garbage cycles worth it.
    atexit.register(gc.freeze)
    harvest = parse_date(args.harvest_date, "--harvest-date") if args.harvest_date else None
    if args.format in ("parquet",) and not args.out:
        return _fail(f"--format {args.format} writes a binary file: give --out FILE")
    out = Path(args.out) if args.out else None
    chunks = analysed_chunks(Path(args.plots), Path(args.sources), harvest, args.commodity,
                             settings.analysis_options(), chunk_plots=args.chunk_plots)
    count = failed = 0
    with collector_paused():
        if args.format in STREAMED_FORMATS:  # written as the chunks come: the memory of one chunk
            with results_writer(out, args.format) as writer:
                for _, results in chunks:
                    writer.write([r.to_json() for r in results])
                    count, failed = count + len(results), failed + sum(1 for r in results if r.error)
        else:
            features, results = [], []
            for chunk, chunk_results in chunks:
                features += chunk.features
                results += chunk_results
            count, failed = len(results), sum(1 for r in results if r.error)
            out = _write_export(Path(args.plots), features, results, args.format, out)
    print(f"{count} plots analysed in {time.perf_counter() - t0:.2f} s, {failed} failed"
          + (f"; results in {out}" if out else ""), file=sys.stderr)
    return 0


def _write_export(plots: Path, features: list[Any], results: list[PlotResult], format: str,
                  out: Path | None) -> Path | None:
    """The results as an export format (service/exports.py: geojson for the EU information
    system, csv, parquet); a split geojson becomes OUT with the .zip extension."""
    from eudr_pipeline.service.exports import export_job, plots_from_results

    plot_dicts = plots_from_results(features, [r.to_json() for r in results])
    export = export_job({"job_id": plots.stem, "plots": plot_dicts}, format)
    left_out = [f"left out {e.get('plot_id')}: {e.get('error')}" if isinstance(e, dict) else f"left out: {e}"
                for e in export.errors]
    for line in [*export.warnings, *left_out]:
        print(f"eudr: {line}", file=sys.stderr)
    if out is None and export.extension in ("geojson", "csv"):
        sys.stdout.write(export.content.decode("utf-8"))
        return None
    if out is None:
        raise PlotsFileError(f"the {format} export is a {export.extension} file: give --out FILE")
    return write_atomic(out.with_suffix(f".{export.extension}") if export.extension == "zip" else out, export.content)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """The whole service flow, headless, on the embedded demo data: the layers ingested by a
    `layer_refresh` run, a demo user registers the demo plots and submits a job through the
    API, the Dagster daemon's sensor picks it up, the run writes the response; then the
    per-plot table (the plot refused at registration included) and the output paths."""
    import dataclasses

    from eudr_pipeline.demo import demo_plots
    from eudr_pipeline.service.client import ApiResponseError, Client
    from eudr_pipeline.service.deploy import Deployment, ensure_demo_users, free_port
    from eudr_pipeline.service.state import ServiceState

    if args.out_dir:
        settings = dataclasses.replace(settings, data_dir=Path(args.out_dir))
    settings = dataclasses.replace(settings, api_port=free_port())
    print(f"data folder: {settings.data_dir.resolve()}")
    state = ServiceState(settings)
    dep = Deployment.prepare(settings)
    ensure_demo_users(state)
    try:
        dep.start_api()
        dep.start_daemon()
        _refresh_layers(dep)
        api = Client(f"http://{settings.api_host}:{settings.api_port}").login("demo", "demo-password")
        features = demo_plots()["features"]
        registered, refused = _register_demo_plots(api, features)
        print(f"{len(registered)} of the {len(features)} demo plots registered")
        names = {p["plot_id"]: p["geojson_features"][0]["properties"]["plot_id"] for p in registered}
        before = api.request("GET", "/users/check_tokens")
        t0 = time.perf_counter()
        job = api.request("POST", "/jobs/make_job", {"job_name": "Demo shipment", "plot_ids": list(names),
                                                     "checks": [{"type": "eudr", "config": {"commodity": "cocoa"}}]})
        print(f"job {job['job_id']} submitted: {job['status']}, {job['token_cost']} tokens reserved")
        job = api.wait_job(job["job_id"], timeout=300)
        print(f"job {job['status']} in {time.perf_counter() - t0:.1f} s")
        after = api.request("GET", "/users/check_tokens")
    except ApiResponseError as exc:
        return _fail(f"the demo's API call failed: {exc}")
    finally:
        dep.stop()
    results = [PlotResult(names.get(p["plot_id"], p["plot_id"]), p["area_ha"], p["analysis"] or None, p.get("error"))
               for p in job["plots"]]
    results += [PlotResult(features[i]["properties"]["plot_id"], None, None, f"refused at registration: {reason}")
                for i, reason in refused.items()]
    order = {f["properties"]["plot_id"]: k for k, f in enumerate(features)}
    print()
    print(results_table(sorted(results, key=lambda r: order.get(r.plot_id, len(order)))))
    print()
    spent = before["balance"] - after["balance"]
    print(f"tokens: {job['token_cost']} reserved, {spent} spent, {job['token_cost'] - spent} refunded for failed plots")
    for label, path in _result_paths(state, job["job_id"]):
        print(f"{label + ':':<15}{path}")
    return 0 if job["status"] in ("done", "done-with-errors") else 1


def _register_demo_plots(api, features: list[dict]) -> tuple[list[dict], dict[int, str]]:
    """(the registered plots, {feature index: reason} of the features refused). The API
    refuses a whole request naming each bad feature (the demo's self-intersecting plot):
    those are said and left out, the others registered."""
    from eudr_pipeline.service.client import ApiResponseError

    try:
        return api.request("POST", "/plots/make_plot", {"type": "FeatureCollection", "features": features}), {}
    except ApiResponseError as exc:
        refused: dict[int, str] = {}
        for e in exc.body.get("errors", []) if isinstance(exc.body, dict) else []:
            loc = e.get("loc") or []
            if len(loc) > 2 and loc[:2] == ["body", "features"] and isinstance(loc[2], int):
                refused.setdefault(loc[2], e["msg"])
        if not refused:
            raise
    for i, reason in refused.items():
        print(f"plot {features[i]['properties']['plot_id']} refused at registration, as it should be: {reason}")
    good = [f for i, f in enumerate(features) if i not in refused]
    return api.request("POST", "/plots/make_plot", {"type": "FeatureCollection", "features": good}), refused


def _result_paths(state, job_id: str) -> list[tuple[str, Path]]:
    """(label, working copy path) of a job's response JSON, images folder and the GeoParquet
    of its latest analysis run, as the results store holds them."""
    from eudr_pipeline.object_store import key_join
    from eudr_pipeline.service.job_store import results_key

    results = state.results
    keys = [i.key for i in results.list(f"{job_id}/")]
    out = []
    response = results.working_copy(key_join(job_id, "response.json"))
    if response is not None:
        out.append(("response JSON", response))
    overviews = [k for k in keys if k.endswith("/overview.png")]
    if overviews:
        folder = overviews[-1].rsplit("/", 1)[0]
        for k in keys:
            if k.startswith(folder + "/"):
                results.working_copy(k)
        out.append(("images", results.local_path(folder)))
    parquets = [k for k in keys if k.endswith(".parquet")]
    if parquets:
        run_id = state.jobs.job(job_id).get("dagster_run_id")
        key = results_key(job_id, run_id)
        out.append(("results", results.working_copy(key if key in parquets else parquets[-1])))
    return out


def cmd_analyze_demo(args: argparse.Namespace, settings: Settings) -> int:
    """The core alone on the demo data (no service): `eudr demo --core`."""
    from eudr_pipeline.demo import write_demo

    out_dir = Path(args.out_dir) if args.out_dir else settings.demo_dir()
    sources, plots = write_demo(out_dir)
    results = run_analysis(plots, sources, options=settings.analysis_options(), show_progress=False)
    out = out_dir / "results.json"
    _write_results(results, out)
    print(results_table(results))
    print()
    print(f"layer sources: {sources}")
    print(f"plots:         {plots}")
    print(f"results:       {out}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from eudr_pipeline.service.app import create_app
    from eudr_pipeline.service.deploy import upgrade_job_database
    from eudr_pipeline.service.state import ServiceState

    upgrade_job_database(settings)
    state = ServiceState(settings)
    state.check_jwt_secret()
    state.jwt_secret()  # created once here, before the worker processes read it
    host, port = args.host or settings.api_host, args.port or settings.api_port
    workers = args.workers or settings.api_workers
    if workers > 1:  # each worker process builds its app from the environment (the same settings)
        uvicorn.run("eudr_pipeline.service.app:app_from_environment", factory=True, workers=workers, host=host,
                    port=port, log_level="warning")
    else:
        uvicorn.run(create_app(state), host=host, port=port, log_level="warning")
    return 0


def cmd_celery_worker(args: argparse.Namespace, settings: Settings) -> int:
    """A Celery worker executing Dagster runs from the broker (replaces this process: the
    service manager or the deployment stops it with a signal, as any Celery worker)."""
    from eudr_pipeline.service.deploy import production_profile

    if not production_profile(settings):
        raise SettingsError("a Celery worker needs the production profile: set EUDR_DAGSTER_POSTGRES_URL and "
                            "EUDR_CELERY_BROKER_URL (README, Production profile)")
    argv = [sys.executable, "-m", "celery", "-A", "eudr_pipeline.defs.celery_worker", "worker",
            "-Q", "dagster", "-n", f"{args.name}@%h", "--concurrency", str(args.concurrency),
            "--prefetch-multiplier", "1", "--without-gossip", "--without-mingle", "--loglevel", "INFO"]
    os.execv(sys.executable, argv)


def cmd_serve_all(args: argparse.Namespace, settings: Settings) -> int:
    """The local deployment: API, Dagster code server, daemon (sensors, schedule) and
    webserver started first, then the layer versions in force ingested by a `layer_refresh`
    run whose progress is shown per layer (the API answers meanwhile); demo users; Ctrl-C
    stops everything."""
    from eudr_pipeline.service.deploy import DEMO_USERS, Deployment, ensure_demo_users
    from eudr_pipeline.service.state import ServiceState

    import signal

    def _terminate(*_):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # Ctrl-C, a service manager's stop, a closed terminal
        signal.signal(sig, _terminate)
    dep = Deployment.prepare(settings)
    ensure_demo_users(ServiceState(settings))
    try:
        print("starting the API, the Dagster code server, daemon and webserver...")
        dep.start_api(quiet=False)
        dep.start_daemon()
        dep.start_celery_workers()
        dep.start_webserver()
        print(f"API:         http://{settings.api_host}:{settings.api_port}  (docs at /docs)")
        print(f"Dagster:     http://127.0.0.1:{settings.dagster_port}")
        print(f"DAGSTER_HOME={dep.home}  (dagster CLI: -w {dep.workspace()})")
        print("users:       " + ", ".join(f"{u} / {p}" for u, p, _ in DEMO_USERS))
        print(f"logs:        {dep.log_dir.resolve()}")
        _refresh_layers(dep)
        print("ready -- Ctrl-C stops everything")
        while dep.processes_alive():
            time.sleep(1)
        print("a process exited; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        dep.stop()


def _refresh_layers(dep) -> bool:
    """Launch a `layer_refresh` run in the deployment and print its progress, one line per
    layer; whether it succeeded (a failed layer keeps its previous version in use)."""
    run_id = dep.launch_layer_refresh()
    print(f"layer refresh: run {run_id} (Dagster: Runs), the versions in force in the layer sources:")
    status = dep.follow_layer_refresh(run_id, keep_going=dep.processes_alive)
    if status is None:
        return False
    ok = status.value == "SUCCESS"
    print(f"layer refresh {'done' if ok else status.value.lower() + ': the previous versions stay in use'}")
    return ok


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    from eudr_pipeline.service.deploy import upgrade_job_database
    from eudr_pipeline.service.state import ServiceState

    upgrade_job_database(settings)
    state = ServiceState(settings)
    created = state.accounts.add_user(args.name, args.password, args.tokens)
    b = state.ledger.balance(args.name)
    print(f"{'created' if created else 'updated'} {args.name}: balance {b.balance}, reserved {b.reserved}")
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    from eudr_pipeline.service.deploy import upgrade_job_database
    from eudr_pipeline.service.state import ServiceState

    upgrade_job_database(settings)
    for u in ServiceState(settings).accounts.list_users():
        print(f"{u['username']:<24} balance {u['balance']:>8}  reserved {u['reserved']:>8}")
    return 0


def find_stale_jobs(settings: Settings) -> list:
    """The stale jobs now (service/stale_jobs.py): the job database against the layer store."""
    from eudr_pipeline.layers.store import LayerStore
    from eudr_pipeline.service.deploy import upgrade_job_database
    from eudr_pipeline.service.stale_jobs import stale_jobs, versions_in_use
    from eudr_pipeline.service.state import ServiceState

    upgrade_job_database(settings)
    return stale_jobs(ServiceState(settings).engine, versions_in_use(LayerStore.from_settings(settings)))


def cmd_jobs_stale(args: argparse.Namespace, settings: Settings) -> int:
    found = find_stale_jobs(settings)
    if args.json:
        print(json.dumps([{"job_id": j.job_id, "job_name": j.job_name, "owner": j.owner, "plots": j.plots,
                           "status": j.status, "submitted": j.submitted.isoformat(), "used": j.used,
                           "current": j.current} for j in found], indent=1))
        return 0
    print(f"{'job_id':<36}  {'job_name':<24} {'owner':<16} {'plots':>6}  {'submitted':<16}  layers (old -> new)")
    for j in found:
        print(f"{j.job_id:<36}  {(j.job_name or '')[:24]:<24} {j.owner[:16]:<16} {j.plots:>6}  "
              f"{j.submitted:%Y-%m-%d %H:%M}  {j.changes()}")
    print(f"{len(found)} stale job(s)" + (": re-analyse them with `eudr jobs reanalyse --stale`" if found else ""))
    return 0


def cmd_jobs_reanalyse(args: argparse.Namespace, settings: Settings) -> int:
    from eudr_pipeline.defs.operations.backfill import backfill_url, reanalyse_jobs
    from eudr_pipeline.service.stale_jobs import check_reanalysable
    from eudr_pipeline.service.state import ServiceState

    if bool(args.stale) == bool(args.job_ids):
        return _fail("give either --stale or job ids")
    ids = [j.job_id for j in find_stale_jobs(settings)] if args.stale else list(dict.fromkeys(args.job_ids))
    if not ids:
        print("no stale job: nothing to re-analyse")
        return 0
    check_reanalysable(ServiceState(settings).engine, ids)
    backfill_id = reanalyse_jobs(settings, ids)
    print(f"backfill {backfill_id}: reanalyse_job over {len(ids)} job partition(s), run by the Dagster daemon "
          "(no token charged); each job's report follows in a run of its own")
    print(f"follow it at {backfill_url(settings, backfill_id)}")
    return 0


def cmd_layers_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from eudr_pipeline.layers.reference_layers import ALL_LAYERS
    from eudr_pipeline.layers.refresh import ingest_new_versions
    from eudr_pipeline.layers.store import LayerStore

    sources = args.sources or settings.resolved_layer_sources()
    code = 0
    for o in ingest_new_versions(sources, LayerStore.from_settings(settings), args.layer or ALL_LAYERS):
        if o.version is None:
            print(f"{o.layer:<12} no version in {sources}")
        elif o.already_stored:
            print(f"{o.layer:<12} {o.version:<10} already in the store")
        elif o.error:
            print(f"{o.layer:<12} {o.version:<10} error: {o.error}")
        else:
            failed = "; ".join(f"{c['name']}: {c['detail']}" for c in o.row.failed_checks)
            print(f"{o.layer:<12} {o.version:<10} {o.row.status}" + (f" ({failed})" if failed else ""))
        code = code or int(not o.ok)
    return code


def cmd_layers_refresh(args: argparse.Namespace, settings: Settings) -> int:
    """Pick up new layer versions now: a run of the `layer_refresh` Dagster job in the
    deployment's instance (shown in the UI), launched as `dagster job launch` does, through
    the running deployment's code server (else a code server of the command's own), and its
    progress per layer until it ends. Exit 1 when the run failed."""
    from eudr_pipeline.service.deploy import Deployment

    dep = Deployment.prepare(settings)
    print(f"DAGSTER_HOME={dep.home}; workspace {dep.workspace()}")
    try:
        return 0 if _refresh_layers(dep) else 1
    except KeyboardInterrupt:
        print("eudr: stopped following; the run goes on (Dagster UI: Runs)", file=sys.stderr)
        return 130


def cmd_layers_list(args: argparse.Namespace, settings: Settings) -> int:
    from eudr_pipeline.layers.store import LayerStore

    store = LayerStore.from_settings(settings)
    current = {k: v.version for k, v in store.current_versions().items()}
    print(f"{'layer':<12} {'version':<12} {'status':<9} {'in use':<6} {'tiles/rows':>10}  ingested_at")
    for v in store.catalogue.versions():
        size = v.row_count if v.kind == "vector" else v.tile_count  # imagery: its scenes
        print(f"{v.layer:<12} {v.version:<12} {v.status:<9} {'yes' if current.get(v.layer) == v.version else '':<6} "
              f"{size!s:>10}  {v.ingested_at:%Y-%m-%d %H:%M:%S}")
    return 0


def cmd_layers_fetch(args: argparse.Namespace, settings: Settings) -> int:
    """Download the publishers' tiles covering an area into the layer source directory
    (layers/fetch.py); exit 1 when a file failed (the run resumes it next time)."""
    from eudr_pipeline.layers import fetch as lf
    from eudr_pipeline.layers.publishers import load_publishers

    if args.jobs < 1:
        return _fail(f"--jobs {args.jobs}: give 1 or more")
    sources = lf.local_sources(args.sources or settings.layer_sources)
    publishers = load_publishers()
    mirrors = lf.parse_mirrors(args.mirror or [], settings.layer_mirrors, publishers)
    selections = lf.parse_datasets(args.dataset, lf.with_mirrors(publishers, mirrors))
    notes: list[str] = []
    if args.bbox:
        area = lf.bbox_area(args.bbox)
    elif args.plots:
        area, notes = lf.plots_area(Path(args.plots))
    else:
        area = lf.countries_area(args.country)
    try:
        report = lf.fetch_layers(sources, area, selections, lf.FetchOptions(workers=args.jobs, dry_run=args.dry_run))
    except KeyboardInterrupt:
        print("eudr: interrupted; the same command resumes the downloads", file=sys.stderr)
        return 130
    for line in notes:
        print(f"eudr: {line}", file=sys.stderr)
    print("\n".join(lf.report_lines(report, args.dry_run)))
    if report.placed:
        print(f"next: eudr layers ingest --sources {sources}")
    return 0 if report.ok else 1


def cmd_layers_add(args: argparse.Namespace, settings: Settings) -> int:
    """Import files of a layer whose terms rule out automated download (WDPA, LandMark)
    into SOURCES/<layer>/<version>/, and say where and under which terms to get them."""
    from eudr_pipeline.layers import fetch as lf
    from eudr_pipeline.layers.publishers import load_publishers

    manual = {k: p for k, p in load_publishers().items() if p.manual}
    if args.layer not in manual:
        return _fail(f"layers add {args.layer}: only {', '.join(manual)} (the others: eudr layers fetch)")
    p = manual[args.layer]
    if not args.files:
        return _fail(f"give the downloaded FILE. {lf.manual_instructions(p)}")
    sources = lf.local_sources(args.sources or settings.layer_sources)
    folder, files = lf.add_files(sources, p, [Path(f) for f in args.files], args.version)
    print(f"{p.layer}: {len(files)} vector file(s) in {folder}/")
    print(f"terms: {p.licence}" + (f"; {p.terms}" if p.terms else "") + f" (from {p.page})")
    note = lf.in_force_note(sources, p.layer, folder.name)
    if note:
        print(f"note: {note}")
    print(f"next: eudr layers ingest --sources {sources} --layer {p.layer}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from eudr_pipeline.service.database import engine_for
    from eudr_pipeline.service.migrations import current_revision, upgrade_database

    engine = engine_for(settings.resolved_database_url())
    before = current_revision(engine)
    upgrade_database(engine, args.revision)
    print(f"job database {engine.url.render_as_string(hide_password=True)}: {before or 'empty'} -> {current_revision(engine)}")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _fail(msg: str) -> int:
    print(f"eudr: {msg}", file=sys.stderr)
    return 2


def add_jobs_parser(sub) -> None:
    """`eudr jobs stale | reanalyse`: the operator's commands for stale jobs."""
    jb = sub.add_parser("jobs", help="customer jobs: stale ones, re-analysis").add_subparsers(dest="jobs_command",
                                                                                             required=True)
    js = jb.add_parser("stale", help="jobs analysed with a layer version no longer in use")
    js.add_argument("--json", action="store_true", help="as JSON, with every layer's versions")
    js.set_defaults(func=cmd_jobs_stale)
    jr = jb.add_parser("reanalyse", help="re-analyse jobs with the layer versions in use: a Dagster backfill of "
                                         "reanalyse_job over their partitions (no token charged)")
    jr.add_argument("job_ids", nargs="*", metavar="JOB_ID")
    jr.add_argument("--stale", action="store_true", help="every stale job (`eudr jobs stale`)")
    jr.set_defaults(func=cmd_jobs_reanalyse)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eudr", description="EUDR due-diligence pipeline")
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="analyse the plots of a GeoJSON file against a layer source directory")
    a.add_argument("plots", help="GeoJSON FeatureCollection, or a GeoJSON text sequence (one Feature per line: "
                   ".geojsonl/.ndjson, for millions of plots); one plot per feature")
    a.add_argument("--sources", required=True, help="layer source directory (analysis.md section 1)")
    a.add_argument("--harvest-date", help="YYYY-MM-DD; overrides the plots' own harvest dates")
    a.add_argument("--commodity", choices=COMMODITIES, help="overrides the plots' own commodity")
    a.add_argument("--format", choices=("json", "ndjson", "geojson", "csv", "parquet"), default="json",
                   help="json: the analysis objects (default); ndjson: the same, one per line; both are written as "
                        "the plots are analysed, in bounded memory. geojson: the EU information system's geolocation "
                        "file (a .zip when split); csv: the per-plot table; parquet: GeoParquet with everything")
    a.add_argument("--out", help="write the results here instead of stdout")
    a.add_argument("--chunk-plots", type=_positive, default=CHUNK_PLOTS,
                   help=f"plots read, analysed and written at once (default {CHUNK_PLOTS:,}): the memory bound")
    a.set_defaults(func=cmd_analyze)
    d = sub.add_parser("demo", help="the whole service flow on the embedded demo data, headless")
    d.add_argument("--out-dir", help="data folder (default: $EUDR_DATA_DIR)")
    d.add_argument("--core", action="store_true", help="only the analysis core on the demo files (no service)")
    d.set_defaults(func=lambda a, settings: (cmd_analyze_demo if a.core else cmd_demo)(a, settings))
    sv = sub.add_parser("serve", help="run the API alone")
    sv.add_argument("--host", help="default: EUDR_API_HOST (127.0.0.1)")
    sv.add_argument("--port", type=int, help="default: EUDR_API_PORT (8000)")
    sv.add_argument("--workers", type=int, help="server processes (default: EUDR_API_WORKERS, 2)")
    sv.set_defaults(func=cmd_serve)
    sa_ = sub.add_parser("serve-all", help="API + Dagster webserver + daemon (make serve)")
    sa_.set_defaults(func=cmd_serve_all)
    cw = sub.add_parser("celery-worker", help="a Celery run worker of the production profile (dagster-celery)")
    cw.add_argument("--name", default="eudr", help="worker node name, made unique per host as NAME@host (default eudr)")
    cw.add_argument("--concurrency", type=int, default=1, help="runs executed at once by this worker (default 1)")
    cw.set_defaults(func=cmd_celery_worker)
    us = sub.add_parser("users", help="user accounts").add_subparsers(dest="users_command", required=True)
    ua = us.add_parser("add", help="create a user, or top up an existing one")
    ua.add_argument("name")
    ua.add_argument("--password", required=True)
    ua.add_argument("--tokens", type=int, default=0)
    ua.set_defaults(func=cmd_users_add)
    ul = us.add_parser("list", help="users and their token balances")
    ul.set_defaults(func=cmd_users_list)
    add_jobs_parser(sub)
    lay = sub.add_parser("layers", help="the versioned layer store").add_subparsers(dest="layers_command", required=True)
    li = lay.add_parser("ingest", help="ingest the version in force of each layer (what the schedule does)")
    li.add_argument("--sources", help="layer source directory or file:// URI (default: EUDR_LAYER_SOURCES / demo)")
    li.add_argument("--layer", action="append", help="only this layer (repeatable)")
    li.set_defaults(func=cmd_layers_ingest)
    lr = lay.add_parser("refresh", help="launch a layer_refresh run in the deployment's Dagster instance now "
                                        "and show its progress (what the daily schedule does)")
    lr.set_defaults(func=cmd_layers_refresh)
    ll = lay.add_parser("list", help="every catalogued layer version and which is in use")
    ll.set_defaults(func=cmd_layers_list)
    lfe = lay.add_parser("fetch", help="download the tiles covering an area from the layers' publishers")
    lfe.add_argument("--sources", help="layer source directory to fill (default: EUDR_LAYER_SOURCES if a local folder)")
    area = lfe.add_mutually_exclusive_group(required=True)
    area.add_argument("--bbox", help="W,S,E,N in degrees (write --bbox=-8.6,4.3,-2.5,10.7 when W is negative)")
    area.add_argument("--plots", help="GeoJSON file of plots: the tiles under them")
    area.add_argument("--country", nargs="+", action="extend", metavar="ISO3", help="ISO 3166-1 alpha-3 (or alpha-2) codes")
    lfe.add_argument("--dataset", nargs="+", action="extend", metavar="NAME",
                     help="PUBLISHER[.BAND][@RELEASE], e.g. hansen_gfc, jrc_tmf.deforestation_year, hansen_gfc@GFC-2025-v1.13 "
                          "(default: every publisher that can be fetched, its default bands)")
    lfe.add_argument("--mirror", nargs="+", action="extend", metavar="NAME=URL",
                     help="serve publisher NAME from URL (same paths below it); also EUDR_LAYER_MIRRORS=name=url,...")
    lfe.add_argument("--jobs", type=int, default=4, help="parallel downloads (default 4)")
    lfe.add_argument("--dry-run", action="store_true", help="only list what would be downloaded")
    lfe.set_defaults(func=cmd_layers_fetch)
    lad = lay.add_parser("add", help="import a layer file you downloaded (wdpa, landmark: no automated download)")
    lad.add_argument("layer", help="wdpa or landmark")
    lad.add_argument("files", nargs="*", metavar="FILE", help="vector file (a shapefile with its sidecars), folder or .zip")
    lad.add_argument("--version", help="version folder (default: the month a file name gives, Sep2026 -> 2026-09, "
                                       "else this month, YYYY-MM)")
    lad.add_argument("--sources", help="layer source directory (default: EUDR_LAYER_SOURCES if a local folder)")
    lad.set_defaults(func=cmd_layers_add)
    db = sub.add_parser("db", help="the job database").add_subparsers(dest="db_command", required=True)
    du = db.add_parser("upgrade", help="create or upgrade the job database's schema (Alembic migrations)")
    du.add_argument("--revision", default="head", help="target revision (default: head)")
    du.set_defaults(func=cmd_db_upgrade)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        settings.apply_registry()
        settings.apply_object_store_env()  # GDAL's /vsis3/ on the server of AWS_ENDPOINT_URL
        return args.func(args, settings)
    except EudrError as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # `eudr layers list | head`: the reader is gone, nothing to say
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
