"""Reading Discourse's API for reconcile: paced, and patient with 429s.

Every admin API key of a site shares one budget (60 calls a minute by default), so reconcile
spends only its share (``api_calls_per_minute × reconcile_share``) and leaves the rest to the
delivery workers. A 429 is never a failure: the wait Discourse asks for (``extras.
wait_seconds`` in a JSON 429, ``Retry-After`` or the text of a per-IP 429) is honoured and
the call made again. Plain ``requests`` with one pooled session, not pydiscourse, whose
``_request`` sleeps on 429 by itself and ignores ``Retry-After``.
"""
from __future__ import annotations

import re
import time
from typing import Any, Callable

import requests

from syncd import logs
from syncd.errors import PermanentError, TransientError

log = logs.get("syncd.reconcile")
MAX_RATE_LIMITED = 30     # 429s in a row before a call gives up (each waits as told)
MAX_FAILURES = 4          # connection errors / 5xx in a row before a call gives up
DEFAULT_WAIT = 10.0       # a 429 that says nothing about how long
MAX_WAIT = 300.0          # never believe a wait longer than this


class Pacer:
    """Spaces calls evenly: at most ``per_minute`` a minute, no bursts."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self.next_at = 0.0
        self.slept = 0.0

    def wait(self) -> None:
        now = self.clock()
        if self.next_at > now:
            self.sleep(self.next_at - now)
            self.slept += self.next_at - now
            now = self.next_at
        self.next_at = now + self.interval

    def hold(self, seconds: float) -> None:
        """Discourse asked for a pause: no call before ``seconds`` from now."""
        self.next_at = max(self.next_at, self.clock() + seconds)


class ApiReader:
    """``get(path, **params) -> dict`` against one Discourse site, counting its calls."""

    def __init__(self, url: str, api_key: str, api_username: str, timeout: float,
                 per_minute: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.pacer = Pacer(per_minute, clock, sleep)
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers.update({"Api-Key": api_key, "Api-Username": api_username,
                                     "Accept": "application/json"})
        self.calls = 0
        self.rate_limited = 0
        self.waited = 0.0

    @classmethod
    def from_settings(cls, settings, per_minute: float | None = None, **kw: Any) -> "ApiReader":
        d = settings.discourse
        rate = per_minute or d.api_calls_per_minute * d.reconcile_share
        return cls(d.url, d.api_key, d.api_username, d.timeout_seconds, rate, **kw)

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        failures = limited = 0
        while True:
            self.pacer.wait()
            self.calls += 1
            try:
                resp = self.session.get(self.url + path, params=params or None,
                                        timeout=self.timeout, allow_redirects=True)
            except requests.RequestException as exc:
                failures = self._failed(failures, f"GET {path}: {type(exc).__name__}")
                continue
            if resp.status_code == 429:
                limited += 1
                if limited > MAX_RATE_LIMITED:
                    raise TransientError(f"GET {path}: still rate limited after {limited - 1} "
                                         "waits", retry_after=wait_of(resp))
                self._rate_limited(path, wait_of(resp))
                continue
            if resp.status_code >= 500:
                failures = self._failed(failures, f"GET {path}: HTTP {resp.status_code}")
                continue
            if resp.status_code >= 400:
                raise PermanentError(f"GET {path}: HTTP {resp.status_code} {_errors(resp)}")
            return _json(resp, path)

    _get = get  # the name pydiscourse clients use (``categorylist`` takes either)

    def _rate_limited(self, path: str, wait: float) -> None:
        self.rate_limited += 1
        self.waited += wait
        log.info("reconcile_rate_limited", path=path, wait_seconds=wait)
        self.pacer.hold(wait)

    def _failed(self, failures: int, message: str) -> int:
        failures += 1
        if failures >= MAX_FAILURES:
            raise TransientError(message)
        delay = min(2.0 ** failures, 30.0)
        log.warning("reconcile_call_failed", error=message, retry_in=delay)
        self.pacer.hold(delay)
        return failures


def wait_of(resp: requests.Response) -> float:
    """Seconds a 429 asks for: ``extras.wait_seconds``, ``Retry-After``, or the text."""
    wait: float | None = None
    try:
        body = resp.json()
        wait = float(body["extras"]["wait_seconds"])
    except (ValueError, KeyError, TypeError):
        pass
    if wait is None and resp.headers.get("Retry-After", "").strip().isdigit():
        wait = float(resp.headers["Retry-After"])
    if wait is None:
        found = re.search(r"retry again in (\d+) seconds", resp.text or "")
        wait = float(found.group(1)) if found else DEFAULT_WAIT
    return max(0.0, min(wait, MAX_WAIT))


def _json(resp: requests.Response, path: str) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError as exc:
        raise TransientError(f"GET {path}: answer is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise TransientError(f"GET {path}: answer is not a JSON object")
    return data


def _errors(resp: requests.Response) -> str:
    try:
        return "; ".join(resp.json().get("errors") or [])
    except (ValueError, AttributeError):
        return (resp.text or "")[:200]
