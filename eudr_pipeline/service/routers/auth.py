"""Login (HTTP Basic -> JWT) and the user's token balance."""

from __future__ import annotations

import time
from typing import Annotated

import jwt
from fastapi import APIRouter, Depends
from fastapi.security import HTTPBasicCredentials

from eudr_pipeline.errors import AuthenticationFailed
from eudr_pipeline.service.deps import TOKEN_TTL_S, CurrentUser, StateDep, basic
from eudr_pipeline.service.schemas import ERRORS, LoginResponse, TokenBalance

router = APIRouter(tags=["auth"])


@router.post("/login", response_model=LoginResponse, responses=ERRORS)
def login(state: StateDep, credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)]) -> dict:
    """HTTP Basic credentials -> a signed JWT (HS256), valid for an hour."""
    if credentials is None:
        raise AuthenticationFailed("send HTTP Basic credentials", scheme="Basic")
    if not state.accounts.authenticate(credentials.username, credentials.password):
        raise AuthenticationFailed("wrong username or password", scheme="Basic")
    now = int(time.time())
    token = jwt.encode({"sub": credentials.username, "iat": now, "exp": now + TOKEN_TTL_S}, state.jwt_secret(),
                       algorithm="HS256")
    return {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL_S}


@router.get("/users/check_tokens", response_model=TokenBalance, responses=ERRORS)
def check_tokens(state: StateDep, username: CurrentUser) -> dict:
    b = state.ledger.balance(username)
    return {"username": username, "balance": b.balance, "reserved": b.reserved, "free": b.free}
