"""channels: one file a channel ``type`` (``gchat.py``, ``slack.py``, ``teams.py``,
``email.py``, ``trello.py``, ``sqs.py``, ``s3.py``, ``webhook.py``, ``log.py``), the notifiers.

Every type, built-in or from another package, is found through the ``syncd.channels``
entry-point group (``importlib.metadata.entry_points``), as pytest and datasette find
plugins: syncd's own ``setup.cfg`` lists the built-in ones. The protocol a type follows is
``Notifier`` below, documented in docs/channels.md ("Writing a channel type").

May import: ``core``, ``outbox.pacing``, the shared infrastructure. Must not import:
``inbox``, ``discourse``, ``store``, ``cli``. What a channel keeps between sends (a Slack
thread, a Trello card) it keeps in the ``memory`` the outbox attaches (``attach``).
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import pkgutil
from typing import Any, Callable, Protocol

from syncd.errors import ConfigError, PermanentError, TransientError

GROUP = "syncd.channels"
REGISTRY: dict[str, type] = {}
BROKEN: dict[str, str] = {}        # type -> why its plugin could not be loaded
ORIGIN: dict[str, str] = {}        # type -> the distribution that provides it
_loaded = False


class Notifier(Protocol):
    """What a channel type provides (class attributes and methods; only the last two are
    required):

    - ``CONFIG``: its own keys, ``{key: (check, default, "description")}`` (a dict value is
      a nested section); ``check(value)`` returns True or what the value must be;
    - ``EXTRA`` / ``REQUIRES``: the pip extra and the modules it needs (``"aws"``, ``("boto3",)``);
    - ``is_configured(channel) -> bool`` (classmethod): False means dry-run (default: a url);
    - ``attach(memory)``: receives a per-ticket key/value store (``get``, ``put``, ``history``);
    - ``classify(exc) -> TransientError | PermanentError``: for any other exception ``send``
      lets out;
    - ``render(action) -> dict``: what it would send (pure; dry-run shows it);
    - ``send(action) -> dict``: send it; the result is kept with the action.
    """

    name: str

    def render(self, action: Any) -> dict[str, Any]: ...

    def send(self, action: Any) -> dict[str, Any]: ...


def register(type_name: str) -> Callable[[type], type]:
    """Mark a class as a channel type (the entry point names the class; this sets its name)."""
    def decorate(cls: type) -> type:
        cls.TYPE = type_name
        REGISTRY.setdefault(type_name, cls)
        return cls
    return decorate


def _from_entry_points() -> bool:
    found = False
    for ep in importlib.metadata.entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        origin = dist.metadata["Name"] if dist is not None else ep.value.split(":")[0]
        found = found or origin == "syncd"
        if ep.name in REGISTRY and ORIGIN.get(ep.name) not in (None, origin):
            continue   # the first one wins; a second package cannot replace a type
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not take syncd down
            BROKEN[ep.name] = f"{origin}: {type(exc).__name__}: {exc}"
            continue
        REGISTRY[ep.name] = cls
        ORIGIN[ep.name] = origin
    return found


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    if not _from_entry_points():
        # syncd run from a source tree without being installed: its own modules, directly
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")
    _loaded = True


def reload() -> None:
    """Read the entry points again (after installing a plugin into a running process)."""
    global _loaded
    _loaded = False
    _load_all()


def types() -> list[str]:
    _load_all()
    return sorted(REGISTRY)


def type_class(type_name: str) -> type | None:
    _load_all()
    return REGISTRY.get(type_name)


def missing_modules(cls: type) -> list[str]:
    """The modules a type needs (``REQUIRES``) that are not installed."""
    return [m for m in getattr(cls, "REQUIRES", ()) if importlib.util.find_spec(m) is None]


def notifier_for(channel: Any, settings: Any) -> Notifier:
    """The notifier of a channel's ``type`` (built even when unconfigured: dry-run renders)."""
    cls = type_class(channel.type)
    if cls is None:
        why = f" (its plugin failed to load: {BROKEN[channel.type]})" if channel.type in BROKEN else ""
        raise ConfigError(f"channel {channel.name}: unknown type '{channel.type}'{why} "
                          f"(valid: {', '.join(types())})")
    return cls(channel, settings)


def deliver(notifier: Any, action: Any) -> dict[str, Any]:
    """``notifier.send(action)``; any other exception it lets out goes through its
    ``classify`` (a plugin's), or counts as transient (a bug or an outage: retried)."""
    try:
        return notifier.send(action)
    except (TransientError, PermanentError):
        raise
    except Exception as exc:
        classify = getattr(notifier, "classify", None)
        if classify is None:
            raise
        verdict = classify(exc)
        if not isinstance(verdict, (TransientError, PermanentError)):
            raise
        raise verdict from exc
