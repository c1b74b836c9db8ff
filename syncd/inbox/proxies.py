"""Behind a reverse proxy: the client's address from ``X-Forwarded-For``, in every log line.

``server.trusted_proxies`` lists the proxies' addresses or networks. A request from one of
them has its ``REMOTE_ADDR`` replaced by the right-most address in ``X-Forwarded-For`` that
is not itself a trusted proxy (the one the nearest proxy saw), and ``wsgi.url_scheme`` by
``X-Forwarded-Proto``; from any other peer the headers are ignored, so nobody can claim an
address. This is waitress's ``trusted_proxy`` rule, for a list of proxies and networks
(waitress trusts one address, or all). Each request binds ``client`` for its log lines, and
a refused request (4xx/5xx) is logged with it; the middleware is outermost, so the
webhook's fast path (``hotpath.py``) is covered too.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Iterable

import structlog
from flask import Flask

from syncd import logs

log = logs.get("syncd.http")


class TrustedProxies:
    """WSGI middleware: believe X-Forwarded-For only from the listed proxies."""

    def __init__(self, app: Any, proxies: Iterable[str]):
        self.app = app
        self.networks = [ipaddress.ip_network(str(p), strict=False) for p in proxies]

    def trusted(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address((address or "").strip())
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def __call__(self, environ: dict, start_response: Any) -> Any:
        peer = environ.get("REMOTE_ADDR")
        if self.networks and self.trusted(peer):
            hops = [h.strip() for h in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")
                    if h.strip()]
            client = peer
            for hop in reversed(hops):
                client = hop
                if not self.trusted(hop):
                    break
            environ["REMOTE_ADDR"] = client
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        structlog.contextvars.bind_contextvars(client=environ.get("REMOTE_ADDR"))

        def respond(status: str, headers: list, exc_info: Any = None) -> Any:
            if status[:1] in ("4", "5"):
                log.info("request_refused", status=int(status[:3]), method=environ.get(
                    "REQUEST_METHOD"), path=environ.get("PATH_INFO"))
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, respond)
        finally:
            structlog.contextvars.unbind_contextvars("client")


def register(app: Flask, proxies: Iterable[str] = ()) -> None:
    """Wrap ``app`` (outermost, so the webhook's fast path too) for ``proxies``: the client's
    address in REMOTE_ADDR and in every log line of the request; refusals logged."""
    app.wsgi_app = TrustedProxies(app.wsgi_app, proxies)
