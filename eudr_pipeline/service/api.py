"""The HTTP API (api.md): login, tokens, plots, jobs compatible with the reference
`POST /jobs/make_job`, export and images. Every error body is
{"detail": ..., "errors": [{"loc": ..., "msg": ...}]}."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any, Literal

import jwt
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from eudr_pipeline import __version__
from eudr_pipeline.service.accounts import InsufficientTokens
from eudr_pipeline.service.db import analysis_runs
from eudr_pipeline.service.logic import _iso, create_job, estimate, job_response, validate_job
from eudr_pipeline.service.plots import ValidationFailed
from eudr_pipeline.service.state import ServiceState

TOKEN_TTL_S = 3600


class ApiError(HTTPException):
    def __init__(self, status: int, detail: str, errors: list[dict] | None = None, headers: dict | None = None):
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.errors = errors or []


# ------------------------------------------------------------------ schema (OpenAPI)

class ErrorItem(BaseModel):
    loc: list[Any]
    msg: str


class ErrorBody(BaseModel):
    detail: str
    errors: list[ErrorItem] = []


class LoginResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class TokenBalance(BaseModel):
    username: str
    balance: int
    reserved: int
    free: int


class Check(BaseModel):
    type: Literal["eudr", "protected-area", "indigenous-land"]
    config: dict[str, str] | None = Field(None, description="harvest_date (YYYY-MM-DD) and/or commodity")
    per_plot: dict[str, dict[str, str]] | None = Field(None, description="overrides of config keyed by plot_id")


class MakeJobRequest(BaseModel):
    job_name: str | None = None
    plot_ids: list[str] = Field(..., min_length=1, max_length=10000)
    notes: str | None = None
    additional_info: dict[str, str] | None = None
    checks: list[dict[str, Any]] | None = Field(None, description="[{type: eudr|protected-area|indigenous-land, config, per_plot}]")


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class GeoJSONFeature(Open):
    type: Literal["Feature"]
    geometry: dict[str, Any]
    properties: dict[str, Any] | None = None


class PlotOut(Open):
    plot_id: str
    username: str
    plot_name: str | None
    geojson_features: list[GeoJSONFeature]
    commodity: str | None
    harvest_dates: list[str]
    country: str | None
    state: str | None
    lat: str
    lon: str
    area_ha: float
    created_at: str
    updated_at: str
    additional_info: dict[str, str]


class JobPlot(Open):
    username: str
    country: str | None
    state: str | None
    analysis: dict[str, Any]
    plot_id: str
    plot_name: str | None
    geojson_features: list[dict[str, Any]]
    harvest_dates: list[str]
    commodity: str | None
    lat: str
    lon: str
    area_ha: float | None
    tokens_cost: int
    created_at: str | None
    updated_at: str | None
    analysis_image: str | None
    additional_info: dict[str, Any]


class Task(Open):
    id: str
    plot_id: str
    check: str
    status: str
    progress: int
    time_taken: str | None
    err_msg: str | None
    failure_type: str | None
    created_at: str | None
    finished_at: str | None


class JobResponse(Open):
    username: str
    notes: str | None
    job_id: str
    job_name: str | None
    plot_ids: list[str]
    created_at: str
    updated_at: str
    additional_info: dict[str, str]
    token_cost: int
    status: Literal["creating", "pending", "incomplete", "done-with-errors", "done"]
    plots: list[JobPlot]
    job_visualization_url: list[str]
    harvest_date: str | None
    progress: int
    estimated_duration: int
    tasks: list[Task]
    val_errors: list[dict[str, Any]]


class JobList(BaseModel):
    total: int
    limit: int
    offset: int
    jobs: list[JobResponse]


class EstimateResponse(BaseModel):
    token_cost: int
    estimated_duration: int
    plots: dict[str, int]


class RetrieveJob(BaseModel):
    job_id: str


ERRORS = {s: {"model": ErrorBody} for s in (400, 401, 402, 404)}


# ------------------------------------------------------------------ app

def create_app(state: ServiceState | None = None) -> FastAPI:
    state = state or ServiceState.from_env()
    app = FastAPI(title="EUDR due-diligence pipeline", version=__version__,
                  description="Compatible with the reference `POST /jobs/make_job` (3.0.1).")
    base_url = state.base_url

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException):
        errors = getattr(exc, "errors", [])
        return JSONResponse({"detail": exc.detail, "errors": errors}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", [])), "msg": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=400)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception):
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}", "errors": []}, status_code=500)

    def user(authorization: str | None = Header(None)) -> str:
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiError(401, "missing bearer token: send 'Authorization: Bearer <JWT>' from POST /login",
                           headers={"WWW-Authenticate": "Bearer"})
        try:
            claims = jwt.decode(authorization[7:].strip(), state.jwt_secret(), algorithms=["HS256"],
                                options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "token expired: log in again", headers={"WWW-Authenticate": "Bearer"}) from None
        except jwt.InvalidTokenError as exc:
            raise ApiError(401, f"invalid token: {exc}", headers={"WWW-Authenticate": "Bearer"}) from None
        if not state.accounts.exists(claims["sub"]):
            raise ApiError(401, "invalid token: unknown user", headers={"WWW-Authenticate": "Bearer"})
        return claims["sub"]

    async def json_body(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"body is not valid JSON: {exc}", [{"loc": ["body"], "msg": str(exc)}]) from None

    @app.post("/login", response_model=LoginResponse, responses=ERRORS, tags=["auth"])
    def login(authorization: str | None = Header(None)):
        """HTTP Basic credentials -> a signed JWT (HS256), valid for an hour."""
        if not authorization or not authorization.startswith("Basic "):
            raise ApiError(401, "send HTTP Basic credentials", headers={"WWW-Authenticate": "Basic"})
        try:
            username, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "malformed Basic credentials", headers={"WWW-Authenticate": "Basic"}) from None
        if not state.accounts.authenticate(username, password):
            raise ApiError(401, "wrong username or password", headers={"WWW-Authenticate": "Basic"})
        now = int(time.time())
        token = jwt.encode({"sub": username, "iat": now, "exp": now + TOKEN_TTL_S}, state.jwt_secret(), algorithm="HS256")
        return {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL_S}

    @app.get("/users/check_tokens", response_model=TokenBalance, responses=ERRORS, tags=["auth"])
    def check_tokens(username: str = Depends(user)):
        b = state.accounts.balance(username)
        return {"username": username, "balance": b.balance, "reserved": b.reserved, "free": b.free}

    def plot_out(p: dict) -> dict:
        return {"plot_id": p["plot_id"], "username": p["username"], "plot_name": p["plot_name"],
                "geojson_features": p["features"], "commodity": p["commodity"], "harvest_dates": p["harvest_dates"],
                "country": p["country"], "state": p["state"], "notes": p["notes"], "lat": f"{p['lat']:.6f}",
                "lon": f"{p['lon']:.6f}", "area_ha": p["area_ha"], "created_at": _iso(p["created_at"]),
                "updated_at": _iso(p["updated_at"]), "additional_info": p["additional_info"],
                **({"warnings": p["warnings"]} if p.get("warnings") else {})}

    @app.post("/plots/make_plot", response_model=list[PlotOut], responses=ERRORS, tags=["plots"],
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "type": "object", "description": "GeoJSON FeatureCollection; each feature becomes a plot"}}}}})
    async def make_plot(request: Request, username: str = Depends(user)):
        """Register plots: a GeoJSON FeatureCollection, one plot per feature. Properties:
        plot_name, commodity, harvest_date or harvest_dates, point_ha, country, state, notes,
        additional_info. Any invalid feature: 400 listing every problem, nothing stored."""
        body = await json_body(request)
        try:
            return [plot_out(p) for p in state.plots.register(username, body)]
        except ValidationFailed as exc:
            raise ApiError(400, exc.detail, exc.errors) from None

    @app.get("/plots", response_model=dict[str, Any], responses=ERRORS, tags=["plots"])
    def list_plots(username: str = Depends(user), limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)):
        total, rows = state.plots.list(username, limit, offset)
        return {"total": total, "limit": limit, "offset": offset, "plots": [plot_out(p) for p in rows]}

    @app.get("/plots/{plot_id}", response_model=PlotOut, responses=ERRORS, tags=["plots"])
    def get_plot(plot_id: str, username: str = Depends(user)):
        p = state.plots.get(username, plot_id)
        if p is None:
            raise ApiError(404, f"plot {plot_id} not found")
        return plot_out(p)

    @app.get("/analysis-runs", responses=ERRORS, tags=["plots"])
    def list_analysis_runs(plot_id: str, username: str = Depends(user)):
        """Every analysis of a plot across jobs: job, checks, effective config, status,
        error, tokens, the analysis."""
        if state.plots.get(username, plot_id) is None:
            raise ApiError(404, f"plot {plot_id} not found")
        out = []
        from eudr_pipeline.service.db import job_plots, jobs

        q = (sa.select(analysis_runs, job_plots.c.checks, job_plots.c.tokens_cost)
             .join(jobs, jobs.c.job_id == analysis_runs.c.job_id)
             .join(job_plots, (job_plots.c.job_id == analysis_runs.c.job_id) & (job_plots.c.plot_id == analysis_runs.c.plot_id))
             .where(analysis_runs.c.plot_id == plot_id, jobs.c.username == username).order_by(analysis_runs.c.id))
        with state.engine.connect() as con:
            for r in con.execute(q).mappings():
                checks = r["checks"]
                out.append({"job_id": r["job_id"], "checks": [c["type"] for c in checks],
                            "config": {c["type"]: c["config"] for c in checks}, "status": r["status"],
                            "error": r["error"], "tokens_cost": r["tokens_cost"],
                            "layer_versions": r["layer_versions"], "analysis": r["analysis"],
                            "created_at": _iso(r["created_at"]), "dagster_run_id": r["dagster_run_id"]})
        return {"plot_id": plot_id, "analysis_runs": out}

    response_for = state.job_response

    def owned_job(username: str, job_id: str) -> dict:
        job = state.jobs.job_for(username, job_id)
        if job is None:
            raise ApiError(404, f"job {job_id} not found")
        return job

    @app.post("/jobs/make_job", response_model=JobResponse, responses=ERRORS, tags=["jobs"],
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": MakeJobRequest.model_json_schema()}}}})
    async def make_job(request: Request, username: str = Depends(user),
                       x_dry_run: str | None = Header(None, alias="X-Dry-Run")):
        """Create a job over the user's plots. Consumes tokens (reserved now, spent when the
        plots are analysed, refunded for plots that fail). X-Dry-Run: true: no tokens, no
        heavy compute, a simulated analysis."""
        dry = _dry(x_dry_run)
        body = await json_body(request)
        norm, owned, errors = validate_job(body, username, state.plots)
        if errors:
            raise ApiError(400, f"{len(errors)} problem(s) in the job request; nothing was stored", errors)
        try:
            job_id = create_job(state.engine, state.accounts, username, norm, owned, dry)
        except InsufficientTokens as exc:
            raise ApiError(402, str(exc), [{"loc": ["body", "plot_ids"], "msg": str(exc)}]) from None
        if dry:
            from eudr_pipeline.service.dry_run import simulate

            simulate(state, job_id)
        return response_for(state.jobs.job_for(username, job_id))

    @app.post("/jobs/estimate", response_model=EstimateResponse, responses=ERRORS, tags=["jobs"],
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": MakeJobRequest.model_json_schema()}}}})
    async def estimate_job(request: Request, username: str = Depends(user)):
        body = await json_body(request)
        norm, owned, errors = validate_job(body, username, state.plots)
        if errors:
            raise ApiError(400, f"{len(errors)} problem(s) in the job request", errors)
        cost, duration, per_plot = estimate(norm, owned)
        return {"token_cost": cost, "estimated_duration": duration, "plots": per_plot}

    @app.get("/jobs", response_model=JobList, responses=ERRORS, tags=["jobs"])
    def list_jobs(username: str = Depends(user), limit: int = Query(20, ge=1, le=200), offset: int = Query(0, ge=0)):
        total, rows = state.jobs.list_jobs(username, limit, offset)
        return {"total": total, "limit": limit, "offset": offset, "jobs": [response_for(j) for j in rows]}

    @app.get("/jobs/{job_id}", response_model=JobResponse, responses=ERRORS, tags=["jobs"])
    def get_job(job_id: str, username: str = Depends(user),
                include_plots: bool = Query(True, description="false: status and progress only, `plots` and `tasks` empty (cheap polling)")):
        job = owned_job(username, job_id)
        if include_plots:
            return response_for(job)
        return job_response(job, [], {}, {}, base_url) | {"plot_ids": [], "progress": _progress(job)}

    @app.post("/jobs/retrieve_job", response_model=JobResponse, responses=ERRORS, tags=["jobs"])
    def retrieve_job(body: RetrieveJob, username: str = Depends(user)):
        return response_for(owned_job(username, body.job_id))

    @app.get("/jobs/{job_id}/export", responses={**ERRORS, 200: {"content": {
        "application/geo+json": {}, "text/csv": {}, "application/vnd.apache.parquet": {}}}}, tags=["jobs"])
    def export(job_id: str, format: Literal["geojson", "csv", "parquet"] = "geojson", username: str = Depends(user)):
        """Results for download. geojson: EUDR/TRACES-ready (EPSG:4326, [lon, lat], 6
        decimals, ProducerCountry, ProductionPlace, Area) with the analysis as properties."""
        from eudr_pipeline.service.export import export_csv, export_geojson, export_parquet

        resp = response_for(owned_job(username, job_id))
        if format == "geojson":
            return Response(json.dumps(export_geojson(resp), ensure_ascii=False), media_type="application/geo+json",
                            headers={"Content-Disposition": f'attachment; filename="{job_id}.geojson"'})
        if format == "csv":
            return Response(export_csv(resp), media_type="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="{job_id}.csv"'})
        return Response(export_parquet(resp), media_type="application/vnd.apache.parquet",
                        headers={"Content-Disposition": f'attachment; filename="{job_id}.parquet"'})

    @app.get("/jobs/{job_id}/plots/{plot_id}/image.png", responses={**ERRORS, 200: {"content": {"image/png": {}}}},
             tags=["jobs"], response_class=Response)
    def image(job_id: str, plot_id: str, username: str = Depends(user)):
        owned_job(username, job_id)
        path = state.results_dir / job_id / "images" / f"{plot_id}.png"
        if not path.is_file():
            raise ApiError(404, f"no image for plot {plot_id} in job {job_id} (yet)")
        return FileResponse(path, media_type="image/png")

    return app


def _progress(job: dict) -> int:
    return 100 if job["status"] in ("done", "done-with-errors", "incomplete") else 0


def _dry(value: str | None) -> bool:
    if value is None:
        return False
    v = value.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no", ""):
        return False
    raise ApiError(400, f"X-Dry-Run must be true or false, got {value!r}", [{"loc": ["header", "X-Dry-Run"], "msg": "not a boolean"}])


def _j(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else v
