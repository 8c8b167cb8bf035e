"""Login (HTTP Basic -> JWT) and the user's token balance."""

from __future__ import annotations

import time
from typing import Annotated

import jwt
from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPBasicCredentials

from eudr_pipeline.errors import AuthenticationFailed, TooManyAttempts
from eudr_pipeline.service.deps import TOKEN_TTL_S, CurrentUser, StateDep, basic
from eudr_pipeline.service.schemas import ERRORS, LoginResponse, TokenBalance

router = APIRouter(tags=["auth"])


@router.post("/login", response_model=LoginResponse, responses=ERRORS)
def login(request: Request, state: StateDep, credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)]) -> dict:
    """HTTP Basic credentials -> a signed JWT (HS256), valid for an hour. The same work
    for an unknown user as for a wrong password (a dummy hash check); after 5 failures in
    5 minutes for a username (20 from an address), 429 with Retry-After (service/throttle.py)."""
    if credentials is None:
        raise AuthenticationFailed("send HTTP Basic credentials", scheme="Basic")
    keys = (f"user:{credentials.username}", f"addr:{request.client.host if request.client else '-'}")
    wait = state.login_throttle.retry_after(*keys)
    if wait is not None:
        raise TooManyAttempts(wait)
    if not state.accounts.authenticate(credentials.username, credentials.password):
        state.login_throttle.failed(*keys)
        raise AuthenticationFailed("wrong username or password", scheme="Basic")
    state.login_throttle.succeeded(keys[0])
    now = int(time.time())
    token = jwt.encode({"sub": credentials.username, "iat": now, "exp": now + TOKEN_TTL_S}, state.jwt_secret(),
                       algorithm="HS256")
    return {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL_S}


@router.get("/users/check_tokens", response_model=TokenBalance, responses=ERRORS)
def check_tokens(state: StateDep, username: CurrentUser) -> dict:
    b = state.ledger.balance(username)
    return {"username": username, "balance": b.balance, "reserved": b.reserved, "free": b.free}
