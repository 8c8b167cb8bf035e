"""The HTTP API (api.md) as a FastAPI app: the routers, and the one place where errors
become responses. Every error body is {"detail": ..., "errors": [{"loc": ..., "msg": ...}]}."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from eudr_pipeline import __version__
from eudr_pipeline.config import Settings
from eudr_pipeline.errors import AuthenticationFailed, EudrError, InsufficientTokens, NotFound, RequestInvalid
from eudr_pipeline.service.routers import auth, jobs, plots, reports, results
from eudr_pipeline.service.state import ServiceState

# the error family -> HTTP status (errors.py); anything else unexpected is a 500
STATUS_OF_ERROR: tuple[tuple[type[EudrError], int], ...] = (
    (RequestInvalid, 400), (AuthenticationFailed, 401), (InsufficientTokens, 402), (NotFound, 404))


def error_body(detail: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"detail": detail, "errors": errors}


def _error_items(exc: EudrError) -> list[dict[str, Any]]:
    if isinstance(exc, RequestInvalid):
        return exc.errors
    if isinstance(exc, InsufficientTokens):
        return [{"loc": ["body", "plot_ids"], "msg": str(exc)}]
    if isinstance(exc, AuthenticationFailed):
        return [{"loc": ["header", "Authorization"], "msg": str(exc)}]
    return [{"loc": ["path"], "msg": str(exc)}]


async def eudr_error(_: Request, exc: EudrError) -> JSONResponse:
    status = next((s for cls, s in STATUS_OF_ERROR if isinstance(exc, cls)), 500)
    detail = exc.detail if isinstance(exc, RequestInvalid) else str(exc)
    headers = {"WWW-Authenticate": exc.scheme} if isinstance(exc, AuthenticationFailed) else None
    return JSONResponse(error_body(detail, _error_items(exc)), status_code=status, headers=headers)


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"loc": list(e.get("loc", [])), "msg": e.get("msg", "")} for e in exc.errors()]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return JSONResponse(error_body(f"body is not valid JSON: {errors[0]['msg']}", errors), status_code=400)
    summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:3])
    return JSONResponse(error_body(f"invalid request: {summary}", errors), status_code=400)


async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse(error_body(str(exc.detail), [{"loc": [], "msg": str(exc.detail)}]),
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def internal_error(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body(f"internal error: {type(exc).__name__}", []), status_code=500)


def create_app(state: ServiceState | None = None) -> FastAPI:
    """The API over ``state`` (default: built from the environment's settings)."""
    state = state or ServiceState(Settings.from_env())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.jwt_secret()  # created before the first request, shared by every process of the deployment
        yield
        state.engine.dispose()

    app = FastAPI(title="EUDR due-diligence pipeline", version=__version__, lifespan=lifespan,
                  description="Compatible with the reference `POST /jobs/make_job` (3.0.1).")
    app.state.service = state
    for router in (auth.router, plots.router, jobs.router, results.router, reports.router):
        app.include_router(router)
    app.add_exception_handler(EudrError, eudr_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
    return app
