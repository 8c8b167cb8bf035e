"""The token ledger: every token movement of a user is a row (topup, reserve, spend,
refund), written in the same transaction as the user's ``balance``/``reserved`` columns.

A job's cost is reserved when it is submitted (inside the submission's transaction) and
settled once when it ends: the tokens of analysed plots are spent, the rest refunded. The
ledger allows one reserve, one spend and one refund per job (a unique constraint), so a
job is never charged twice whatever retries or races happen."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from eudr_pipeline.errors import InsufficientTokens
from eudr_pipeline.service.database import token_ledger, users
from eudr_pipeline.service.timestamps import utcnow


@dataclass
class Balance:
    """A user's tokens: owned (balance), held by unsettled jobs (reserved), and free."""

    balance: int
    reserved: int

    @property
    def free(self) -> int:
        return self.balance - self.reserved


class TokenLedger:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def balance(self, username: str, con: sa.Connection | None = None) -> Balance:
        """The user's balance (inside ``con``'s transaction when given)."""
        if con is None:
            with self.engine.connect() as c:
                return self.balance(username, c)
        r = con.execute(sa.select(users.c.balance, users.c.reserved).where(users.c.username == username)).first()
        return Balance(int(r[0]), int(r[1])) if r else Balance(0, 0)

    def top_up(self, con: sa.Connection, username: str, amount: int) -> None:
        """Add ``amount`` tokens to the user's balance inside the caller's transaction."""
        if amount:
            con.execute(users.update().where(users.c.username == username).values(balance=users.c.balance + amount))
            con.execute(token_ledger.insert().values(username=username, kind="topup", amount=amount, created_at=utcnow()))

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
        try:
            with self.engine.begin() as con:
                done = con.execute(sa.select(token_ledger.c.id).where(token_ledger.c.job_id == job_id,
                                                                     token_ledger.c.kind == "spend")).first()
                if done is not None:
                    return False
                now = utcnow()
                con.execute(token_ledger.insert(), [
                    {"username": username, "job_id": job_id, "kind": "spend", "amount": spent, "created_at": now},
                    {"username": username, "job_id": job_id, "kind": "refund", "amount": reserved - spent, "created_at": now}])
                con.execute(users.update().where(users.c.username == username).values(
                    reserved=users.c.reserved - reserved, balance=users.c.balance - spent))
        except sa.exc.IntegrityError as exc:  # a concurrent settle of the same job won the race
            if "one_entry_per_job_and_kind" in str(exc) or "UNIQUE" in str(exc).upper():
                return False
            raise
        return True
