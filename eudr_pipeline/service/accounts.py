"""User accounts: creation, password check at login (hashes in ``passwords.py``),
listing. Token movements are the ledger's (``ledger.py``)."""

from __future__ import annotations

import sqlalchemy as sa

from eudr_pipeline.service.database import users
from eudr_pipeline.service.ledger import TokenLedger
from eudr_pipeline.service.timestamps import utcnow


class Accounts:
    def __init__(self, engine: sa.Engine, ledger: TokenLedger) -> None:
        self.engine = engine
        self.ledger = ledger

    def add_user(self, username: str, password: str, tokens: int = 0) -> bool:
        """Create ``username`` (True) or, when it exists, top it up by ``tokens`` and set
        the new password (False)."""
        from eudr_pipeline.service import passwords  # Argon2 is loaded where passwords are hashed, not by run workers

        password_hash = passwords.hash_password(password)
        with self.engine.begin() as con:
            exists = con.execute(sa.select(users.c.username).where(users.c.username == username)).first()
            if exists:
                con.execute(users.update().where(users.c.username == username).values(password_hash=password_hash))
            else:
                con.execute(users.insert().values(username=username, password_hash=password_hash, balance=0,
                                                  reserved=0, created_at=utcnow()))
            self.ledger.top_up(con, username, tokens)
        return not exists

    def authenticate(self, username: str, password: str) -> bool:
        """True when the password is the user's. The same work is done for an unknown
        user, and a hash with outdated parameters is replaced by a current one."""
        from eudr_pipeline.service import passwords

        with self.engine.connect() as con:
            row = con.execute(sa.select(users.c.password_hash).where(users.c.username == username)).first()
        if row is None:
            passwords.dummy_verify(password)
            return False
        valid, new_hash = passwords.verify_and_update(password, row[0])
        if valid and new_hash:
            with self.engine.begin() as con:
                con.execute(users.update().where(users.c.username == username, users.c.password_hash == row[0])
                            .values(password_hash=new_hash))
        return valid

    def exists(self, username: str) -> bool:
        with self.engine.connect() as con:
            return con.execute(sa.select(users.c.username).where(users.c.username == username)).first() is not None

    def list_users(self) -> list[dict]:
        """Every user with balance and reservation, by name."""
        with self.engine.connect() as con:
            return [dict(r) for r in con.execute(sa.select(users.c.username, users.c.balance, users.c.reserved,
                                                           users.c.created_at).order_by(users.c.username)).mappings()]
