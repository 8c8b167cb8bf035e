"""Password hashes: Argon2id for new ones, release 0.1.0's scrypt hashes still verify and are
upgraded, malformed hashes verify False, weaker Argon2 parameters are upgraded."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from pwdlib.hashers.argon2 import Argon2Hasher

from eudr_pipeline.service.passwords import ARGON2_PARAMETERS, dummy_verify, hash_password, verify_and_update

PASSWORD = "correct horse battery staple ✓"


def release_010_hash_password(password: str) -> str:
    """Frozen copy of release 0.1.0's hash_password: the format users' stored hashes have."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def current_prefix() -> str:
    p = ARGON2_PARAMETERS
    return f"$argon2id$v=19$m={p['memory_cost']},t={p['time_cost']},p={p['parallelism']}$"


def test_new_hash_is_argon2id_and_verifies():
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=")
    assert stored.startswith(current_prefix())
    assert hash_password(PASSWORD) != stored  # random salt
    assert verify_and_update(PASSWORD, stored) == (True, None)
    assert verify_and_update("wrong password", stored) == (False, None)


def test_legacy_scrypt_hash_verifies_and_is_upgraded():
    legacy = release_010_hash_password(PASSWORD)
    valid, new_hash = verify_and_update(PASSWORD, legacy)
    assert valid
    assert new_hash is not None and new_hash.startswith(current_prefix())
    assert verify_and_update(PASSWORD, new_hash) == (True, None)
    assert verify_and_update("wrong password", new_hash) == (False, None)


def test_wrong_password_against_legacy_hash():
    legacy = release_010_hash_password(PASSWORD)
    assert verify_and_update("wrong password", legacy) == (False, None)
    assert verify_and_update(PASSWORD[:-1], legacy) == (False, None)


@pytest.mark.parametrize("stored", [
    "", "scrypt$x", "garbage", "$argon2id$broken",
    "scrypt$$", "scrypt$!!!$!!!", "scrypt$a$b$c", "scrypt$QUJD$QUJD",  # bad legacy fields
    "$argon2id$v=19$m=19456,t=2,p=1", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$!!!",  # bad Argon2 fields
    "$2b$12$" + "a" * 53,  # a scheme this service never used (bcrypt)
])
def test_malformed_hash_verifies_false(stored):
    assert verify_and_update(PASSWORD, stored) == (False, None)


def test_weaker_argon2_parameters_are_upgraded():
    weak = Argon2Hasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    assert weak.startswith("$argon2id$v=19$m=8192,t=1,")
    valid, new_hash = verify_and_update(PASSWORD, weak)
    assert valid
    assert new_hash is not None and new_hash.startswith(current_prefix())
    assert verify_and_update(PASSWORD, new_hash) == (True, None)
    assert verify_and_update("wrong password", weak) == (False, None)


def test_dummy_verify_runs():
    assert dummy_verify(PASSWORD) is None
    assert dummy_verify("") is None
