"""Users, passwords and the token ledger.

Passwords are stored as scrypt hashes (random salt, n=2**14, r=8, p=1). Token movements
are ledger rows written in the same transaction as the user's balance/reserved columns;
the ledger allows one reserve, one spend and one refund per job, so a job is never
charged twice whatever retries happen."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

import sqlalchemy as sa

from eudr_pipeline.service.db import token_ledger, users
from eudr_pipeline.service.jobs import utcnow

SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), **SCRYPT)
    return hmac.compare_digest(got, base64.b64decode(digest))


class InsufficientTokens(Exception):
    def __init__(self, needed: int, free: int):
        super().__init__(f"the job costs {needed} tokens but only {free} are free")
        self.needed, self.free = needed, free


@dataclass
class Balance:
    balance: int
    reserved: int

    @property
    def free(self) -> int:
        return self.balance - self.reserved


class Accounts:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add_user(self, username: str, password: str, tokens: int = 0) -> bool:
        """Create ``username`` (True) or, when it exists, top it up by ``tokens`` and set
        the new password (False)."""
        now = utcnow()
        with self.engine.begin() as con:
            exists = con.execute(sa.select(users.c.username).where(users.c.username == username)).first()
            if exists:
                con.execute(users.update().where(users.c.username == username).values(
                    balance=users.c.balance + tokens, password_hash=hash_password(password)))
            else:
                con.execute(users.insert().values(username=username, password_hash=hash_password(password),
                                                  balance=tokens, reserved=0, created_at=now))
            if tokens:
                con.execute(token_ledger.insert().values(username=username, kind="topup", amount=tokens, created_at=now))
        return not exists

    def authenticate(self, username: str, password: str) -> bool:
        with self.engine.connect() as con:
            row = con.execute(sa.select(users.c.password_hash).where(users.c.username == username)).first()
        if row is None:
            verify_password(password, hash_password("timing"))  # same work whether or not the user exists
            return False
        return verify_password(password, row[0])

    def exists(self, username: str) -> bool:
        with self.engine.connect() as con:
            return con.execute(sa.select(users.c.username).where(users.c.username == username)).first() is not None

    def list_users(self) -> list[dict]:
        with self.engine.connect() as con:
            return [dict(r) for r in con.execute(sa.select(users.c.username, users.c.balance, users.c.reserved,
                                                           users.c.created_at).order_by(users.c.username)).mappings()]

    def balance(self, username: str, con: sa.Connection | None = None) -> Balance:
        def q(c):
            r = c.execute(sa.select(users.c.balance, users.c.reserved).where(users.c.username == username)).first()
            return Balance(int(r[0]), int(r[1])) if r else Balance(0, 0)

        if con is not None:
            return q(con)
        with self.engine.connect() as c:
            return q(c)

    def reserve(self, con: sa.Connection, username: str, job_id: str, amount: int) -> None:
        """Hold ``amount`` tokens for ``job_id`` inside the caller's transaction; raises
        InsufficientTokens (and the caller's transaction rolls back) when not free."""
        if amount <= 0:
            return
        res = con.execute(users.update().where(users.c.username == username)
                          .where(users.c.balance - users.c.reserved >= amount)
                          .values(reserved=users.c.reserved + amount))
        if res.rowcount != 1:
            raise InsufficientTokens(amount, self.balance(username, con).free)
        con.execute(token_ledger.insert().values(username=username, job_id=job_id, kind="reserve", amount=amount,
                                                 created_at=utcnow()))

    def settle(self, username: str, job_id: str, reserved: int, spent: int) -> bool:
        """Release the job's reservation, spend ``spent`` and refund the rest, once: a
        second call for the same job changes nothing and returns False."""
        refund = reserved - spent
        try:
            with self.engine.begin() as con:
                done = con.execute(sa.select(token_ledger.c.id).where(token_ledger.c.job_id == job_id,
                                                                     token_ledger.c.kind == "spend")).first()
                if done is not None:
                    return False
                now = utcnow()
                con.execute(token_ledger.insert().values(username=username, job_id=job_id, kind="spend",
                                                         amount=spent, created_at=now))
                con.execute(token_ledger.insert().values(username=username, job_id=job_id, kind="refund",
                                                         amount=refund, created_at=now))
                con.execute(users.update().where(users.c.username == username).values(
                    reserved=users.c.reserved - reserved, balance=users.c.balance - spent))
        except sa.exc.IntegrityError as exc:  # a concurrent settle of the same job won the race
            if "one_entry_per_job_and_kind" in str(exc) or "UNIQUE" in str(exc).upper():
                return False
            raise
        return True

    def ledger(self, username: str) -> list[dict]:
        with self.engine.connect() as con:
            return [dict(r) for r in con.execute(sa.select(token_ledger).where(token_ledger.c.username == username)
                                                 .order_by(token_ledger.c.id)).mappings()]
