"""Password hashes: what is stored and why.

New passwords are hashed with Argon2id through pwdlib (which wraps argon2-cffi). The stored
value is a PHC string, ``$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<digest>``: it
carries its own algorithm and cost parameters, so the parameters below can be raised later
without locking anyone out. A stored hash whose parameters differ from the current ones
still verifies, and :func:`verify_and_update` then returns a new hash made with the current
parameters for the caller to store.

Release 0.1.0 stored hand-rolled scrypt hashes, ``scrypt$<b64 salt>$<b64 digest>`` (n=2**14,
r=8, p=1, dklen=32). Those still verify through :class:`LegacyScryptHasher`, which comes
after Argon2 in the hasher list, so it is never used for new hashes; on the next successful
login :func:`verify_and_update` returns an Argon2id replacement.

A stored hash that is malformed or of an unknown scheme verifies False; it never raises.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.base import HasherProtocol, ensure_bytes, ensure_str, validate_str_or_bytes

__all__ = ["ARGON2_PARAMETERS", "LegacyScryptHasher", "dummy_verify", "hash_password", "verify_and_update"]

# Argon2id cost for an interactive login on a 2-core server. pwdlib's defaults (argon2-cffi's
# RFC 9106 "low memory" profile, t=3, m=64 MiB, p=4) measured ~120 ms per hash or verify on this
# machine (2-core AMD EPYC), above the 100 ms budget, and would hold 64 MiB per concurrent login
# (the /login endpoint runs in a thread pool). These are OWASP's recommended Argon2id minimum,
# measured here at 24-27 ms per hash and per verify (medians of 30-50 runs, slowest run 40 ms),
# 19 MiB of memory and one core per login, leaving the other core to the API and Dagster.
# Raise them (memory first) when the hardware allows: existing hashes are upgraded on the next
# successful login.
ARGON2_PARAMETERS = {
    "time_cost": 2,  # passes over memory
    "memory_cost": 19 * 1024,  # KiB (19 MiB)
    "parallelism": 1,  # lanes
    "hash_len": 32,  # bytes
    "salt_len": 16,  # bytes, random per hash
}


class LegacyScryptHasher(HasherProtocol):
    """Release 0.1.0's scrypt hashes, ``scrypt$<b64 salt>$<b64 digest>``, as a pwdlib hasher.

    Only for verifying hashes stored before Argon2: it is placed after Argon2 in the hasher
    list, so it never makes the hash that gets stored, and every hash it identifies needs a
    rehash."""

    PREFIX = "scrypt"
    PARAMS = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}

    @classmethod
    def identify(cls, hash: str | bytes) -> bool:
        validate_str_or_bytes(hash, "hash")
        try:
            return ensure_str(hash).startswith(cls.PREFIX + "$")
        except UnicodeDecodeError:
            return False

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        validate_str_or_bytes(password, "password")
        salt = os.urandom(16) if salt is None else salt
        digest = hashlib.scrypt(ensure_bytes(password), salt=salt, **self.PARAMS)
        return "$".join((self.PREFIX, base64.b64encode(salt).decode(), base64.b64encode(digest).decode()))

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        validate_str_or_bytes(password, "password")
        validate_str_or_bytes(hash, "hash")
        try:
            scheme, salt_b64, digest_b64 = ensure_str(hash).split("$")
            salt = base64.b64decode(salt_b64, validate=True)
            expected = base64.b64decode(digest_b64, validate=True)
        except ValueError:  # wrong number of fields; bad base64 (binascii.Error) or UTF-8 are ValueErrors too
            return False
        if scheme != self.PREFIX or not salt or len(expected) != self.PARAMS["dklen"]:
            return False
        got = hashlib.scrypt(ensure_bytes(password), salt=salt, **self.PARAMS)
        return hmac.compare_digest(got, expected)

    def check_needs_rehash(self, hash: str | bytes) -> bool:
        return True


_password_hash = PasswordHash((Argon2Hasher(**ARGON2_PARAMETERS), LegacyScryptHasher()))


def hash_password(password: str) -> str:
    """An Argon2id PHC string for ``password`` with a fresh random salt."""
    return _password_hash.hash(password)


def verify_and_update(password: str, stored_hash: str) -> tuple[bool, str | None]:
    """``(valid, new_hash)``: whether ``password`` matches ``stored_hash`` and, when it does and
    the stored hash is legacy scrypt or Argon2 with other than the current parameters, the
    hash to store instead (otherwise None). A malformed or unknown hash gives (False, None)."""
    try:
        return _password_hash.verify_and_update(password, stored_hash)
    except (UnknownHashError, ValueError):
        return False, None


@functools.cache
def _dummy_hash() -> str:
    # A hash of a random secret nobody knows, made once per process with the current parameters.
    return hash_password(secrets.token_urlsafe(32))


def dummy_verify(password: str) -> None:
    """Do the work of verifying a password against a real Argon2 hash, for logins with an
    unknown username, so the response time does not tell which usernames exist."""
    verify_and_update(password, _dummy_hash())
