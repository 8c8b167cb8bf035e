"""Dependencies shared by the routers: the service state of this app, the user a
bearer token names, and the X-Dry-Run header."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import jwt
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer

from eudr_pipeline.errors import AuthenticationFailed, RequestInvalid
from eudr_pipeline.service.state import ServiceState

TOKEN_TTL_S = 3600
bearer = HTTPBearer(auto_error=False, description="a JWT from POST /login")


class Utf8HTTPBasic(HTTPBasic):
    """HTTP Basic credentials decoded as UTF-8 (RFC 7617's charset; FastAPI's own class
    decodes ASCII only, refusing users like 'josé'). None when no Basic header is sent."""

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:  # type: ignore[override]
        scheme, _, param = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, sep, password = base64.b64decode(param.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if not sep:
            raise AuthenticationFailed("malformed Basic credentials: base64 of 'username:password' in UTF-8",
                                       scheme="Basic")
        return HTTPBasicCredentials(username=username, password=password)


basic = Utf8HTTPBasic(auto_error=False, description="username and password, for POST /login")


def get_state(request: Request) -> ServiceState:
    """The app's ServiceState, built once in ``create_app``."""
    return request.app.state.service


StateDep = Annotated[ServiceState, Depends(get_state)]


def current_user(state: StateDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """The username of a valid, unexpired bearer token of an existing user."""
    if credentials is None:
        raise AuthenticationFailed("missing bearer token: send 'Authorization: Bearer <JWT>' from POST /login")
    try:
        claims = jwt.decode(credentials.credentials, state.jwt_secret(), algorithms=["HS256"],
                            options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthenticationFailed("token expired: log in again") from None
    except jwt.InvalidTokenError as exc:
        raise AuthenticationFailed(f"invalid token: {exc}") from None
    if not state.accounts.exists(claims["sub"]):
        raise AuthenticationFailed("invalid token: unknown user")
    return claims["sub"]


CurrentUser = Annotated[str, Depends(current_user)]


def dry_run(x_dry_run: Annotated[str | None, Header(alias="X-Dry-Run")] = None) -> bool:
    """X-Dry-Run: true|false (1/0, yes/no); anything else is a 400."""
    v = (x_dry_run or "").strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no", ""):
        return False
    raise RequestInvalid([{"loc": ["header", "X-Dry-Run"], "msg": "not a boolean"}],
                         f"X-Dry-Run must be true or false, got {x_dry_run!r}")


DryRun = Annotated[bool, Depends(dry_run)]
