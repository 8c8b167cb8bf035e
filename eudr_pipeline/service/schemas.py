"""The API's request bodies and responses as pydantic models (api.md). Request models
check shape and types; what needs the database (plot ownership, commodities in force)
is checked by ``job_requests.py`` and ``plots.py``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from eudr_pipeline.service.job_status import JobStatus


def _string_map(value: Any) -> Any:
    if value is not None and (not isinstance(value, dict)
                              or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
        raise ValueError("additional_info must map strings to strings")
    return value


StringMap = Annotated[dict[str, str] | None, BeforeValidator(_string_map)]


# ------------------------------------------------------------------ requests

class CheckIn(BaseModel):
    type: str = Field(description="eudr | protected-area | indigenous-land")
    config: dict[str, str] | None = Field(None, description="harvest_date (YYYY-MM-DD) and/or commodity")
    per_plot: dict[str, dict[str, str]] | None = Field(None, description="overrides of config keyed by plot_id")


class MakeJobRequest(BaseModel):
    """The make_job (and estimate) body."""

    job_name: str | None = None
    plot_ids: list[str] = Field(..., max_length=10_000, description="1 to 10,000 of the user's plot ids")
    notes: str | None = None
    additional_info: StringMap = None
    checks: list[CheckIn] | None = Field(None, description="default: one eudr check")


class FeatureCollectionIn(BaseModel):
    """A GeoJSON FeatureCollection of plots to register; each feature is validated on
    its own (plots.py) so that every problem is named with its feature index."""

    model_config = ConfigDict(extra="allow")
    type: Literal["FeatureCollection"]
    features: list[Any]


class RetrieveJob(BaseModel):
    job_id: str


# ------------------------------------------------------------------ responses

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


class PlotList(BaseModel):
    total: int
    limit: int
    offset: int
    plots: list[PlotOut]


class AnalysisRun(Open):
    job_id: str
    checks: list[str]
    config: dict[str, Any]
    status: str
    error: str | None
    tokens_cost: int
    layer_versions: dict[str, Any]
    analysis: dict[str, Any] | None
    created_at: str | None
    dagster_run_id: str


class AnalysisRuns(BaseModel):
    plot_id: str
    analysis_runs: list[AnalysisRun]


class JobPlotOut(Open):
    """One plot of a job in the response object (the seed's ``plots`` item)."""

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
    status: JobStatus
    plots: list[JobPlotOut]
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


ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (400, 401, 402, 404)}
"""The error responses every route documents (the body is always ErrorBody)."""
