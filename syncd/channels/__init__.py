"""channels: one file a channel ``type`` (``gchat.py``, ``log.py``), the notifiers.

A notifier class registers itself with ``@register("type")``; every module in this package
is imported on first use, so adding Slack, Teams or SQS is one new file here: config
validation reads the known types from ``types()``.

May import: ``core``, ``outbox.pacing``, the shared infrastructure. Must not import:
``inbox``, ``discourse``, ``store``, ``cli``.

A notifier has:

- ``__init__(channel, settings)``: ``channel`` is a ``ChannelSettings``;
- ``render(action) -> dict``: the message it would send (pure; used by dry-run and tests);
- ``send(action) -> dict``: send it; return what to keep as the action's result; raise
  ``TransientError`` (try again later) or ``PermanentError`` (dead, with the reason).
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, Protocol

from syncd.errors import ConfigError

REGISTRY: dict[str, type] = {}
_loaded = False


class Notifier(Protocol):
    name: str

    def render(self, action: Any) -> dict[str, Any]: ...

    def send(self, action: Any) -> dict[str, Any]: ...


def register(type_name: str) -> Callable[[type], type]:
    def decorate(cls: type) -> type:
        REGISTRY[type_name] = cls
        return cls
    return decorate


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    _loaded = True


def types() -> list[str]:
    _load_all()
    return sorted(REGISTRY)


def notifier_for(channel: Any, settings: Any) -> Notifier:
    """The notifier of a channel's ``type`` (built even without a URL: dry-run renders)."""
    _load_all()
    try:
        cls = REGISTRY[channel.type]
    except KeyError:
        raise ConfigError(f"channel {channel.name}: unknown type '{channel.type}' "
                          f"(valid: {', '.join(types())})") from None
    return cls(channel, settings)
