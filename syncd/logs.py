"""structlog, set up once: ISO UTC timestamps, console on a terminal, JSON lines otherwise."""
from __future__ import annotations

import logging
import sys

import structlog

_SECRET_KEYS = ("url", "api_key", "secret", "webhook", "token", "password")


def _redact(logger, method, event_dict):
    """Belt and braces: never let a secret-looking field reach a log line."""
    for key in list(event_dict):
        lowered = key.lower()
        if lowered.endswith(_SECRET_KEYS) and key not in ("topic_url", "ticket_url", "event"):
            event_dict[key] = "[redacted]"
    return event_dict


def configure(fmt: str = "auto", level: int = logging.INFO, stream=None) -> None:
    stream = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    renderer = structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=shared + [structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=shared))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def get(name: str | None = None):
    return structlog.get_logger(name) if name else structlog.get_logger()
