"""Discourse for the importer: one paced budget of admin-API calls, 429s honoured.

Discourse counts every request of every admin key against one bucket,
``max_admin_api_reqs_per_minute`` (60 unless the operator raises
``DISCOURSE_MAX_ADMIN_API_REQS_PER_MINUTE``), a rolling minute, and answers 429 with
``Retry-After`` and ``extras.wait_seconds`` when it is spent. ``Pacer`` spaces calls evenly
at ``share`` (98 %) of the budget, shared by every worker thread, so the import spends the
budget without tripping it; a 429 pauses the pacer for the wait Discourse asked and the
same call is sent again (a 429 was not performed, so that is safe).

Other failures are not retried here for writes: a create that timed out may have been done,
so the runner looks the item up before sending it again (``runner.py``). Reads are retried.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import requests

from syncd import logs
from syncd.discourse.gateway import wait_seconds
from syncd.errors import PermanentError, TransientError

log = logs.get("syncd.importers")
MAX_429 = 30
READ_RETRIES = 5


class Cancelled(Exception):
    """The run is stopping (Ctrl-C): a call waiting for its slot is not made."""


class Pacer:
    """Evenly spaced slots at ``per_minute × share``; thread-safe; ``pause`` for 429s;
    ``cancel`` wakes every waiting caller (who then raises ``Cancelled``)."""

    def __init__(self, per_minute: float, share: float = 0.98,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] | None = None):
        if per_minute <= 0:
            raise ValueError("per_minute must be above 0")
        self.per_minute = per_minute
        self.interval = 60.0 / (per_minute * share)
        self._cancelled = threading.Event()
        self._clock, self._sleep = clock, sleep or self._cancelled.wait
        self._next = clock()
        self._lock = threading.Lock()
        self.first_call: float | None = None
        self.last_call: float | None = None

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
            if self.first_call is None:
                self.first_call = slot
            self.last_call = slot
        if slot > now:
            self._sleep(slot - now)
        if self._cancelled.is_set():
            raise Cancelled("the import is stopping")

    def cancel(self) -> None:
        self._cancelled.set()

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._next = max(self._next, self._clock() + max(0.0, seconds))


class Refused(PermanentError):
    """Discourse refused a call (4xx other than 429): ``status`` and its error text."""


class ImportClient:
    """Requests as the API user or, with ``as_user``, as an imported user (a global key)."""

    def __init__(self, url: str, api_key: str, api_username: str, pacer: Pacer,
                 timeout: float = 30.0, session: requests.Session | None = None):
        self.base = url.rstrip("/")
        self.api_username = api_username
        self.pacer, self.timeout = pacer, timeout
        self._key = api_key
        self._local = threading.local()
        self._session = session
        self.calls = 0
        self.rate_limited = 0
        self._count_lock = threading.Lock()

    def _http(self) -> requests.Session:
        if self._session is not None:
            return self._session
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def call(self, verb: str, path: str, *, as_user: str | None = None, json: Any = None,
             params: Any = None, missing_ok: bool = False, retry_reads: bool = True) -> Any:
        """One API call (plus the 429s it took). Returns the JSON answer, or None for a 404
        when ``missing_ok``. Raises ``Refused`` (4xx) or ``TransientError`` (network, 5xx)."""
        headers = {"Api-Key": self._key, "Api-Username": as_user or self.api_username,
                   "Accept": "application/json"}
        tries = 0
        while True:
            self.pacer.wait()
            with self._count_lock:
                self.calls += 1
            try:
                response = self._http().request(verb, self.base + path, headers=headers, json=json,
                                                params=params, timeout=self.timeout,
                                                allow_redirects=True)
            except requests.RequestException as exc:
                error = TransientError(f"cannot reach Discourse for {verb} {path} "
                                       f"({type(exc).__name__})")
            else:
                if response.status_code == 429:
                    wait = wait_seconds(response)
                    with self._count_lock:
                        self.rate_limited += 1
                    log.info("import_rate_limited", path=path, wait=wait)
                    self.pacer.pause(wait)
                    tries += 1
                    if tries > MAX_429:
                        raise TransientError(f"Discourse kept answering 429 to {verb} {path}", wait)
                    continue
                if response.status_code == 404 and missing_ok:
                    return None
                if response.status_code < 400:
                    return _json(response)
                if response.status_code < 500:
                    raise _refused(verb, path, response, as_user)
                error = TransientError(f"Discourse answered {response.status_code} to {verb} {path}")
            if verb != "GET" or not retry_reads or tries >= READ_RETRIES:
                raise error
            tries += 1
            time.sleep(min(30.0, 2.0 ** tries))

    def budget_use(self) -> float | None:
        """Calls made over the calls the budget allowed between the first and last call."""
        first, last = self.pacer.first_call, self.pacer.last_call
        if first is None or last is None or self.calls < 2:
            return None
        allowed = (last - first) * self.pacer.per_minute / 60.0 + 1
        return self.calls / allowed


def _json(response: requests.Response) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        return {}


def error_text(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in errors.items())[:400]
    if isinstance(errors, list):
        return "; ".join(map(str, errors))[:400]
    return str(data.get("error") or data.get("message") or "")[:400] if isinstance(data, dict) else ""


def _refused(verb: str, path: str, response: requests.Response, as_user: str | None) -> Refused:
    text = error_text(response)
    status = response.status_code
    if status == 403 and "whisper" in text:
        text = (f"{as_user or 'the API user'} may not whisper: add the staff group to the site "
                f"setting whispers_allowed_groups (or use --set-site-settings). {text}")
    elif status == 403 and as_user:
        text = (f"acting as {as_user!r} was refused: the API key must be a global key for "
                f"'All Users' (Admin → API → Keys), and the user must be active. {text}")
    elif status == 403:
        text = f"the API key or its user may not do this (an admin key is needed). {text}"
    return Refused(f"Discourse refused {verb} {path} ({status}): {text}".strip(), status)
