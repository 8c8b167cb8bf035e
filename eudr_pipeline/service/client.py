"""A minimal HTTP client of the API (standard library only), for the demo and the tests."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from eudr_pipeline.service.job_status import TERMINAL_STATUSES


class ApiResponseError(Exception):
    def __init__(self, status: int, body: Any):
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


@dataclass
class Client:
    base_url: str
    token: str | None = None

    def request(self, method: str, path: str, body: Any = None, headers: dict | None = None, raw: bool = False):
        data = None if body is None else json.dumps(body).encode()
        h = {"Content-Type": "application/json", **(headers or {})}
        if self.token and "Authorization" not in h:
            h["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base_url + path, data=data, headers=h, method=method)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                payload = resp.read()
                return payload if raw else json.loads(payload or b"null")
        except urllib.error.HTTPError as exc:
            text = exc.read()
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = text.decode(errors="replace")
            raise ApiResponseError(exc.code, parsed) from None

    def login(self, username: str, password: str) -> "Client":
        basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.token = self.request("POST", "/login", headers={"Authorization": f"Basic {basic}"})["access_token"]
        return self

    def wait_job(self, job_id: str, timeout: float = 120.0, poll: float = 0.25) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.request("GET", f"/jobs/{job_id}?include_plots=false")
            if job["status"] in TERMINAL_STATUSES:
                return self.request("GET", f"/jobs/{job_id}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout:.0f} s")
            time.sleep(poll)
