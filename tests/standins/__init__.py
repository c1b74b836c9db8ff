"""Small local stand-ins of Discourse and Google Chat for end-to-end tests and the benchmark.

Each listens on 127.0.0.1 on an ephemeral port, in a thread of the test process, and is
started by the test itself (``with ChatStandIn() as chat:``). Toggles simulate outages,
rate limits and revoked credentials.
"""
from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


# The published formats syncd is checked against, kept in the repository (tests/reference/,
# with SOURCES.md saying where each came from), so a fresh clone tests with nothing beside it.
REFERENCE = Path(__file__).resolve().parents[1] / "reference"


def reference(name: str) -> Path:
    path = REFERENCE / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: tests/reference/ holds the published schemas "
                                "the tests check what syncd sends against (see its SOURCES.md)")
    return path


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class StandIn:
    """Base: a threaded HTTP server whose ``handle(method, path, query, headers, body)``
    returns ``(status, headers, body)``."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()  # headers and body are two writes: no Nagle delay between them
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                status, headers, payload = owner.handle(self.command, path, query,
                                                        dict(self.headers), body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def handle(self, method: str, path: str, query: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError

    def start(self) -> "StandIn":
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass (bounded, never forever)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# --- outbox rows as the processor writes them (for delivery tests and the benchmark) -----

def ticket(ticket_id: int, **extra: Any) -> dict[str, Any]:
    base = {"id": ticket_id, "title": f"Printer {ticket_id} on fire", "slug": f"printer-{ticket_id}-on-fire",
            "url": f"https://forum.example.com/t/printer-{ticket_id}-on-fire/{ticket_id}",
            "category_id": 5, "category": "support", "tags": ["printer", "urgent-ish"],
            "status": "open", "priority": "high", "visibility": "public", "likes": 3,
            "author": "alice", "body": "It is <on fire> & smoking.",
            "created_at": "2026-03-02T09:14:07.512000Z",
            "updated_at": "2026-03-02T09:14:07.512000Z", "first_response_at": None,
            "resolved_at": None, "accepted_post_id": None}
    return {**base, **extra}


def notify_params(ticket_id: int, channel: str = "staff", text: str | None = None,
                  private: bool = False, **ticket_extra: Any) -> dict[str, Any]:
    return {"channel": channel, "text": text, "private": private,
            "ticket": ticket(ticket_id, **ticket_extra),
            "event": {"name": "topic_created", "at": "2026-03-02T09:14:07.512000Z"}}


def add_action(conn, ticket_id: int, kind: str, params: dict[str, Any], at: str | None = None,
               rule: str = "test-rule") -> int:
    """Insert an outbox row as ``ticketstore.enqueue`` does (status pending, due now)."""
    from syncd.clock import iso
    at = at or iso()
    cur = conn.execute(
        "INSERT INTO outbox (ticket_id, kind, params, rule, delivery_id, status, next_attempt_at, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, NULL, 'pending', ?, ?, ?)",
        (ticket_id, kind, json.dumps(params), rule, at, at, at))
    return int(cur.lastrowid)
