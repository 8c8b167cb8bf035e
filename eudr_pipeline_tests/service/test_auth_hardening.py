"""Authentication hardening: the same hashing work for unknown and known usernames,
throttling of repeated failures per username and per client address (429 with
Retry-After), and no start with a weak JWT secret."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from eudr_pipeline.config import Settings
from eudr_pipeline.errors import SettingsError
from eudr_pipeline.service import passwords
from eudr_pipeline.service.app import create_app
from eudr_pipeline.service.throttle import WINDOW_S, LoginThrottle
from eudr_pipeline_tests.conftest import service_state


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api(tmp_path):
    state = service_state(Settings(data_dir=tmp_path, jwt_secret="test-secret-of-32-characters-at-least"))
    for user in ("ann", "bob"):
        state.accounts.add_user(user, f"{user}-pw", 1)
    clock = Clock()
    state.__dict__["login_throttle"] = LoginThrottle(clock=clock)  # the real throttle, on a clock the test moves
    with TestClient(create_app(state)) as client:
        yield client, clock


def login(client: TestClient, user: str, password: str):
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return client.post("/login", headers={"Authorization": f"Basic {basic}"})


def test_repeated_failures_for_a_user_are_throttled_then_forgiven(api):
    client, clock = api
    for _ in range(5):
        assert login(client, "ann", "wrong").status_code == 401
    r = login(client, "ann", "ann-pw")  # even the right password waits
    assert r.status_code == 429 and set(r.json()) == {"detail", "errors"}
    assert 1 <= int(r.headers["Retry-After"]) <= WINDOW_S and "too many failed logins" in r.json()["detail"]
    assert login(client, "bob", "bob-pw").status_code == 200  # another user is not held up
    clock.now += WINDOW_S + 1
    assert login(client, "ann", "ann-pw").status_code == 200
    for _ in range(4):
        assert login(client, "ann", "wrong").status_code == 401
    assert login(client, "ann", "ann-pw").status_code == 200  # a success clears the count
    assert login(client, "ann", "wrong").status_code == 401


def test_failures_from_one_address_are_throttled_across_usernames(api):
    client, _ = api
    for k in range(20):
        assert login(client, f"guess{k}", "x").status_code == 401
    r = login(client, "bob", "bob-pw")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


def test_unknown_and_known_usernames_cost_one_password_hash_check_each(api, monkeypatch):
    client, _ = api
    checks = []
    real = passwords._password_hash.verify_and_update
    monkeypatch.setattr(passwords._password_hash, "verify_and_update",
                        lambda password, stored: checks.append(stored[:9]) or real(password, stored))
    assert login(client, "nobody", "x").status_code == 401
    assert login(client, "ann", "x").status_code == 401
    assert len(checks) == 2 and checks[0] == checks[1] == "$argon2id"  # the same algorithm, the same parameters


@pytest.mark.parametrize("secret", ["short-secret", "changeme", "x" * 31])
def test_the_api_refuses_to_start_with_a_weak_jwt_secret(tmp_path, secret):
    with pytest.raises(SettingsError, match="EUDR_JWT_SECRET"):
        create_app(service_state(Settings(data_dir=tmp_path, jwt_secret=secret)))
    create_app(service_state(Settings(data_dir=tmp_path)))  # unset: the random secret of the data folder
