"""Reloading the config with the rules: on SIGHUP, or when the config file changes.

``ConfigReloader.run_once()`` (a worker step, as the other workers) reads the config again
when asked (``request()``, from SIGHUP) or when the file's size or mtime changed. A file
with problems keeps everything as it runs and records the problems. Otherwise the keys in
``LIVE_KEYS`` take effect at once (``apply`` hands the new settings to the processor, the
workers and the receiver, and rebuilds the notifiers of channels that changed), the rules
are loaded again against the new channels, and every other key that changed is kept at its
running value and named in ``restart_needed`` (the log, ``/healthz``, ``syncd check``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import threading
from typing import Any, Callable, Mapping

from syncd import logs
from syncd.clock import iso
from syncd.config import Settings, load_settings
from syncd.errors import ConfigError

log = logs.get("syncd.reload")

# Dotted prefixes of the keys a running serve takes up without a restart. Everything else
# (server.*, database, log_format, discourse.url/api_key/secret and the API budget,
# outbox.workers, reconcile.*, and any section not listed) needs a restart.
LIVE_KEYS = ("timezone", "rules", "channels", "discourse.categories", "discourse.category_map",
             "discourse.staff_groups", "processor", "outbox.max_attempts",
             "outbox.max_backoff_seconds", "outbox.lease_seconds", "backup")
RUNNING_SETTING = "running_config"   # what serve started with, for `syncd check`


def flatten(settings: Settings) -> dict[str, Any]:
    """Every leaf of the settings as ``dotted.key: value`` (``path`` and ``warnings`` left
    out). Dataclasses and mappings are walked; anything else is a leaf, compared by ``==``."""
    out: dict[str, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name), f"{prefix}.{f.name}" if prefix else f.name)
        elif isinstance(value, Mapping) and value and prefix:
            for k, v in value.items():
                walk(v, f"{prefix}.{k}")
        else:
            out[prefix] = value

    walk(settings, "")
    out.pop("path", None)
    out.pop("warnings", None)
    return out


def is_live(dotted: str) -> bool:
    return any(dotted == k or dotted.startswith(k + ".") for k in LIVE_KEYS)


def differences(old: Settings, new: Settings) -> list[str]:
    a, b = flatten(old), flatten(new)
    return sorted(k for k in set(a) | set(b) if a.get(k, _MISSING) != b.get(k, _MISSING))


_MISSING = object()


def _revert(new: Any, old: Any, parts: list[str]) -> Any:
    """``new`` with the value at ``parts`` taken from ``old`` (a whole mapping, if the path
    goes into one)."""
    head = parts[0]
    if not dataclasses.is_dataclass(new) or not hasattr(new, head):
        return old
    inner_new, inner_old = getattr(new, head), getattr(old, head, None)
    if len(parts) > 1 and dataclasses.is_dataclass(inner_new):
        return dataclasses.replace(new, **{head: _revert(inner_new, inner_old, parts[1:])})
    return dataclasses.replace(new, **{head: inner_old})


def effective(old: Settings, new: Settings, base: Settings | None = None
              ) -> tuple[Settings, list[str], list[str]]:
    """The settings to run with, the live keys that changed, those that need a restart.

    ``old``: what runs now; ``base``: the file as serve started from it (``old`` may differ
    from it by command-line options such as ``--port``, which are not changes to restart for).
    """
    restart = [k for k in differences(base or old, new) if not is_live(k)]
    result = new
    for key in differences(old, new):
        if not is_live(key):
            result = _revert(result, old, key.split("."))
    return result, [k for k in differences(old, new) if is_live(k)], restart


SALT = "_salt"


def fingerprint(settings: Settings, salt: str | None = None) -> dict[str, str]:
    """A salted digest of every restart-only value (no secret is stored, even as a plain hash)."""
    salt = salt if salt is not None else secrets.token_hex(8)
    out = {k: hmac.new(salt.encode(), json.dumps(v, sort_keys=True, default=repr).encode(),
                       hashlib.sha256).hexdigest()[:16]
           for k, v in flatten(settings).items() if not is_live(k)}
    return {**out, SALT: salt}


def restart_needed(running: Mapping[str, str], settings: Settings) -> list[str]:
    """Keys whose value in ``settings`` differs from what a running serve started with."""
    now = fingerprint(settings, running.get(SALT, ""))
    keys = (set(now) | set(running)) - {SALT}
    return sorted(k for k in keys if now.get(k) != running.get(k))


def _file_state(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return (st.st_size, st.st_mtime_ns)


class ConfigReloader:
    """Watches the config file; reloads it (and the rules) when it changes or on request."""

    name = "config-watcher"

    def __init__(self, settings: Settings, holder: Any,
                 apply: Callable[[Settings, list[str]], None] = lambda s, changed: None,
                 env: Mapping[str, str] | None = None):
        self.running = settings
        self.holder, self.apply, self.env = holder, apply, env
        try:
            self.base = load_settings(settings.path, env)   # the file, without --port & co.
        except ConfigError:
            self.base = settings
        self._seen = _file_state(settings.path)
        self._asked = threading.Event()
        self.last: dict[str, Any] = {"at": None, "result": "not reloaded yet", "problems": [],
                                     "restart_needed": []}

    def request(self, *_: Any) -> None:
        """Ask for a reload at the next step (safe to call from a signal handler)."""
        self._asked.set()

    def run_once(self) -> bool:
        if self._asked.is_set() or _file_state(self.running.path) != self._seen:
            self._asked.clear()
            self.reload()
        return False

    def reload(self) -> bool:
        """Read the config again and apply it; False (and the reasons kept) on a problem."""
        self._seen = _file_state(self.running.path)
        at = iso()
        try:
            new = load_settings(self.running.path, self.env)
        except ConfigError as exc:
            self.last = {"at": at, "result": "failed", "problems": list(exc.problems),
                         "restart_needed": self.last["restart_needed"]}
            log.error("config_reload_failed", path=self.running.path, problems=exc.problems,
                      detail="the running config is kept")
            return False
        settings, live, restart = effective(self.running, new, self.base)
        problems = self._check_rules(settings)
        if problems:   # rules that do not fit the new config: keep both as they run
            self.last = {"at": at, "result": "failed", "problems": problems,
                         "restart_needed": self.last["restart_needed"]}
            log.error("config_reload_failed", path=self.running.path, problems=problems,
                      detail="the rules do not load with the new config; both are kept")
            return False
        if live:
            self.apply(settings, live)
        self.running = settings
        rules_ok = self._reload_rules(settings)
        problems = [] if rules_ok else list(getattr(self.holder, "error", []))
        self.last = {"at": at, "result": "ok" if rules_ok else "failed", "problems": problems,
                     "restart_needed": restart}
        if restart:
            log.warning("restart_needed", keys=restart,
                        detail="these keys changed; they take effect when syncd restarts")
        log.info("config_reloaded", changed=live, rules_ok=rules_ok)
        return rules_ok

    def _check_rules(self, settings: Settings) -> list[str]:
        """The problems the rules would have under ``settings`` (nothing is changed)."""
        if self.holder is None:
            return []
        from syncd.errors import RuleError
        from syncd.rules import load_rules
        path = settings.resolve(settings.rules)
        if not os.path.exists(path):
            return []
        try:
            load_rules(path, list(settings.channels), getattr(self.holder, "categories", None))
        except RuleError as exc:
            return list(exc.problems)
        return []

    def _reload_rules(self, settings: Settings) -> bool:
        holder = self.holder
        if holder is None:
            return True
        holder.channels = list(settings.channels)
        holder.path = settings.resolve(settings.rules)
        return holder.reload()

    def state(self) -> dict[str, Any]:
        """For /healthz and /readyz: the last reload, and whether the rules match the files."""
        holder = self.holder
        rules_problems = list(getattr(holder, "error", []) or [])
        stale = bool(holder is not None and holder.changed())
        reasons = []
        if self.last["result"] == "failed" and self.last["problems"] and not rules_problems:
            reasons.append("config reload failed: " + "; ".join(self.last["problems"][:3]))
        if rules_problems:
            reasons.append("the running rules differ from the files (last load failed): "
                           + "; ".join(rules_problems[:3]))
        elif stale:
            reasons.append("the rules files changed and are not loaded yet")
        return {"reload": {**self.last, "rules": dict(getattr(holder, "last_reload", {}) or {})},
                "rules_problems": rules_problems,
                "rules_current": not rules_problems and not stale, "reasons": reasons}


def apply(service: Any, receiver: Any, settings: Settings, changed: list[str]) -> None:
    """Hand the new settings to every worker and the receiver; new notifiers for the
    channels that changed (the others keep theirs, and their rate limits)."""
    old = getattr(service, "settings", None)
    service.settings = settings
    targets = list(getattr(service, "workers", [])) + [receiver]
    notifiers = None
    if any(k == "channels" or k.startswith("channels.") for k in changed):
        notifiers = _notifiers(targets, old, settings)
    for target in targets:
        if hasattr(target, "settings"):
            target.settings = settings
        if notifiers is not None and hasattr(target, "notifiers"):
            target.notifiers = dict(notifiers)
    cache = getattr(receiver, "_cache", None)
    if cache is not None:
        cache.clear()


def _notifiers(targets: list, old: Settings | None, new: Settings) -> dict[str, Any]:
    from syncd.channels import notifier_for
    current: dict[str, Any] = {}
    for target in targets:
        current.update(getattr(target, "notifiers", None) or {})
    out = {}
    for name, channel in new.channels.items():
        before = old.channels.get(name) if old is not None else None
        out[name] = current[name] if before == channel and name in current \
            else notifier_for(channel, new)
    return out


def remember_running(store: Any, settings: Settings) -> None:
    """Record what serve started with, so `syncd check` can say what needs a restart."""
    from syncd.store.db import put_setting, transaction
    with transaction(store.db()) as conn:
        put_setting(conn, RUNNING_SETTING, json.dumps(fingerprint(settings), sort_keys=True))


def merged_state(reloader: "ConfigReloader", *others: Any) -> dict[str, Any]:
    """The reloader's state, with what other workers report (backups)."""
    state = reloader.state()
    for other in others:
        extra = other.state() if hasattr(other, "state") else {}
        state.update(extra)
        error = (extra.get("backup") or {}).get("error")
        if error:   # degraded, but still ready: a backup is not in the request path
            state["notes"] = list(state.get("notes", [])) + [f"the last backup failed: {error}"]
    return state
