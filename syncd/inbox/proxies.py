"""Behind a reverse proxy: the client's address from ``X-Forwarded-For``, in every log line.

``server.trusted_proxies`` lists the proxies' addresses or networks. A request from one of
them has its ``REMOTE_ADDR`` replaced by the right-most address in ``X-Forwarded-For`` that
is not itself a trusted proxy (the one the nearest proxy saw), and ``wsgi.url_scheme`` by
``X-Forwarded-Proto``; from any other peer the headers are ignored, so nobody can claim an
address. This is waitress's ``trusted_proxy`` rule, for a list of proxies and networks
(waitress trusts one address, or all). Each request binds ``client`` for its log lines, and
a refused request (4xx/5xx) is logged with it.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Iterable

import structlog
from flask import Flask, request

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
        return self.app(environ, start_response)


def register(app: Flask, proxies: Iterable[str] = ()) -> None:
    """Wrap ``app`` for ``proxies`` and log each request's client address."""
    app.wsgi_app = TrustedProxies(app.wsgi_app, proxies)

    @app.before_request
    def bind_client():
        structlog.contextvars.bind_contextvars(client=request.remote_addr)

    @app.after_request
    def log_refused(response):
        if response.status_code >= 400:
            log.info("request_refused", status=response.status_code, method=request.method,
                     path=request.path)
        return response

    @app.teardown_request
    def unbind_client(_exc):
        structlog.contextvars.unbind_contextvars("client")
