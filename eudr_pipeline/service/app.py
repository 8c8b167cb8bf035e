"""The HTTP API (api.md) as a FastAPI app: the routers, and the one place where errors
become responses. Every error body is {"detail": ..., "errors": [{"loc": ..., "msg": ...}]}."""

from __future__ import annotations

import json
import math
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from eudr_pipeline import __version__
from eudr_pipeline.config import Settings
from eudr_pipeline.errors import (
    AuthenticationFailed,
    EudrError,
    InsufficientTokens,
    NotFound,
    RequestInvalid,
    TooManyAttempts,
)
from eudr_pipeline.service.limits import MAX_BODY_BYTES
from eudr_pipeline.service.routers import auth, jobs, plots, reports, results
from eudr_pipeline.service.state import ServiceState

# the error family -> HTTP status (errors.py); anything else unexpected is a 500
STATUS_OF_ERROR: tuple[tuple[type[EudrError], int], ...] = (
    (RequestInvalid, 400), (AuthenticationFailed, 401), (InsufficientTokens, 402), (NotFound, 404),
    (TooManyAttempts, 429))


def error_body(detail: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"detail": detail, "errors": errors}


class ErrorResponse(JSONResponse):
    """An error body as ASCII JSON: a message that quotes the client's text (a lone
    surrogate, any script) is always encodable, escaped as JSON allows."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":"), default=str).encode("ascii")


PARSE_FAILURE = "There was an error parsing the body"  # FastAPI's words for a body json.loads gave up on


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` (by its Content-Length, or as it
    streams in) is answered 413 before any of it is parsed; the body is read here, at most
    ``max_bytes``, and handed on unchanged."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send, declared)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client left
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send, str(size).encode())
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send, declared: bytes) -> None:
        status = 413 if declared.isdigit() else 400
        msg = (f"the request body is over {self.max_bytes:,} bytes (README: Limits)" if status == 413
               else "Content-Length is not a number")
        await ErrorResponse(error_body(msg, [{"loc": ["body"], "msg": msg}]), status_code=status)(scope, receive, send)


def _error_items(exc: EudrError) -> list[dict[str, Any]]:
    if isinstance(exc, RequestInvalid):
        return exc.errors
    if isinstance(exc, InsufficientTokens):
        return [{"loc": ["body", "plot_ids"], "msg": str(exc)}]
    if isinstance(exc, (AuthenticationFailed, TooManyAttempts)):
        return [{"loc": ["header", "Authorization"], "msg": str(exc)}]
    return [{"loc": ["path"], "msg": str(exc)}]


async def eudr_error(_: Request, exc: EudrError) -> JSONResponse:
    status = next((s for cls, s in STATUS_OF_ERROR if isinstance(exc, cls)), 500)
    detail = exc.detail if isinstance(exc, RequestInvalid) else str(exc)
    headers = {"WWW-Authenticate": exc.scheme} if isinstance(exc, AuthenticationFailed) else None
    if isinstance(exc, TooManyAttempts):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return ErrorResponse(error_body(detail, _error_items(exc)), status_code=status, headers=headers)


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"loc": list(e.get("loc", [])), "msg": e.get("msg", "")} for e in exc.errors()]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return ErrorResponse(error_body(f"body is not valid JSON: {errors[0]['msg']}", errors), status_code=400)
    summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:3])
    return ErrorResponse(error_body(f"invalid request: {summary}", errors), status_code=400)


async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
    detail = str(exc.detail)
    if exc.status_code == 400 and detail == PARSE_FAILURE:
        detail = ("body is not valid JSON as this API reads it: nested more deeply than Python's parser allows, "
                  "or a number of more than 4,300 digits")
    return ErrorResponse(error_body(detail, [{"loc": ["body"] if exc.status_code == 400 else [], "msg": detail}]),
                         status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def internal_error(_: Request, exc: Exception) -> JSONResponse:
    return ErrorResponse(error_body(f"internal error: {type(exc).__name__}", []), status_code=500)


def create_app(state: ServiceState | None = None) -> FastAPI:
    """The API over ``state`` (default: built from the environment's settings)."""
    state = state or ServiceState(Settings.from_env())
    state.check_jwt_secret()  # refuse to start with a weak secret

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
    app.add_middleware(BodyLimit)
    return app


def app_from_environment() -> FastAPI:
    """The API of one server worker process (``eudr serve`` with EUDR_API_WORKERS > 1 starts
    several, each building its app here from the same environment)."""
    settings = Settings.from_env()
    settings.apply_registry()
    settings.apply_object_store_env()
    return create_app(ServiceState(settings))
