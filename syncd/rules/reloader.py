"""``RulesHolder``: the rules ``serve`` runs on, reloaded on SIGHUP or when a file changes.

``current`` is always the last good ``RuleSet``: a reload that finds any problem keeps the
old rules and logs every problem. ``changed()`` compares the files' names, sizes and
modification times with those of the last load attempt, so a broken file is reported once,
not on every poll.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Collection, Mapping

import structlog

from syncd.clock import iso
from syncd.errors import RuleError
from syncd.rules.engine import RuleSet
from syncd.rules.loader import load_rules

log = structlog.get_logger("syncd.rules")


def fingerprint(path: str | Path) -> tuple:
    """Names, sizes and mtimes of the rules files (a file, or a folder's *.yaml)."""
    p = Path(path)
    files = sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    out = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        out.append((str(f), st.st_size, st.st_mtime_ns))
    return tuple(out)


class RulesHolder:
    """Holds the current rules. The first load raises ``RuleError`` on a bad file (so
    ``serve`` exits 2); a missing path means no rules, until one appears."""

    def __init__(self, path: str | Path, channels: Collection[str] | None,
                 categories: Mapping[str, int] | None = None):
        self.path = str(path)
        self.channels = None if channels is None else list(channels)
        self.categories = dict(categories or {})
        self.current: RuleSet | None = None
        self.error: list[str] = []
        self.last_reload: dict = {"at": None, "result": "not reloaded yet"}   # for /healthz
        self._seen: tuple = ()
        self._lock = threading.Lock()
        if Path(self.path).exists():
            self._seen = fingerprint(self.path)
            self.current = load_rules(self.path, self.channels, self.categories)
        else:
            log.warning("rules_missing", path=self.path, detail="no rules: nothing will fire")

    def changed(self) -> bool:
        return fingerprint(self.path) != self._seen

    def reload(self, categories: Mapping[str, int] | None = None) -> bool:
        """Load again; on any problem keep the old rules, log why and return False."""
        with self._lock:
            if categories is not None:
                self.categories = dict(categories)
            self._seen = fingerprint(self.path)
            try:
                rules = load_rules(self.path, self.channels, self.categories)
            except RuleError as exc:
                self.error = list(exc.problems)
                self.last_reload = {"at": iso(), "result": "failed"}
                log.error("rules_reload_failed", path=self.path, problems=exc.problems,
                          kept=len(self.current) if self.current else 0)
                return False
            self.current, self.error = rules, []
            self.last_reload = {"at": iso(), "result": "ok"}
            log.info("rules_reloaded", path=self.path, rules=len(rules), files=len(rules.files))
            for warning in rules.warnings:
                log.warning("rules_warning", detail=warning)
            return True
