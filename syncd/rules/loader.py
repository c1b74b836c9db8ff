"""Rules files -> ``RuleSet``: YAML with line numbers, checked, compiled, every problem at once.

``load_rules(path, channels, categories)`` reads one file, or every ``*.yaml`` of a folder
in name order. Shapes are checked against ``schema.json`` (shipped with the package, the
same file editors use); names, regexes, templates, channels and categories are checked by
compiling them. Problems read ``file:line: message`` and an unknown name lists the valid
ones. Any problem raises ``RuleError`` with all of them.
"""
from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Collection, Mapping

from jsonschema import Draft202012Validator

from syncd import yamlsrc
from syncd.errors import ConfigError, RuleError
from syncd.rules.actions import ACTIONS
from syncd.rules.conditions import CONDITIONS, NESTED, Invalid, LoadContext
from syncd.rules.engine import Action, Rule, RuleSet
from syncd.rules.timing import PLAIN_TIMER_EVENTS, compile_on
from syncd.core.tickets import RULE_EVENTS

SCHEMA_PATH = Path(__file__).with_name("schema.json")
RULE_KEYS = ("name", "description", "on", "if", "then", "once", "stop")


def schema() -> dict[str, Any]:
    """The JSON Schema of a rules file (``syncd rules schema`` prints it)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def rule_files(path: str | Path) -> list[Path]:
    """The file itself, or the folder's ``*.yaml`` files in name order (hidden ones skipped)."""
    p = Path(path)
    if p.is_dir():
        found = sorted(f for f in p.glob("*.yaml") if not f.name.startswith(".") and f.is_file())
        if not found:
            raise RuleError(f"{p}:1: no *.yaml rules files in this folder")
        return found
    if not p.exists():
        raise RuleError(f"{p}:1: rules file or folder not found (set 'rules:' in the config)")
    return [p]


def load_rules(path: str | Path, channels: Collection[str] | None = None,
               categories: Mapping[str, int] | None = None) -> RuleSet:
    """Load and compile rules; ``RuleError`` lists every problem as ``file:line: message``.

    ``channels``: the configured channel names (None: not checked). ``categories``: known
    slug -> id pairs; when non-empty, a slug not in it is an error.
    """
    files = rule_files(path)
    ctx = LoadContext(None if channels is None else frozenset(channels), categories or None)
    problems: list[str] = []
    seen: dict[str, str] = {}
    rules: list[Rule] = []
    for f in files:
        rules.extend(_load_file(str(f), ctx, seen, problems))
    if problems:
        raise RuleError(problems)
    return RuleSet.of(rules, [str(f) for f in files])


def _load_file(filename: str, ctx: LoadContext, seen: dict[str, str],
               problems: list[str]) -> list[Rule]:
    try:
        src = yamlsrc.load_file(filename, interpolate=False)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return []
    data = src.data
    if data is None:
        problems.append(f"{filename}:1: empty rules file: write 'rules:' and a list of rules "
                        "(or remove the file)")
        return []
    if not isinstance(data, dict) or "rules" not in data:
        problems.append(f"{filename}:1: a rules file is a mapping with a 'rules:' list")
        return []
    for key in data:
        if key != "rules":
            problems.append(f"{src.where((key,))}: unknown key '{key}' (a rules file has only "
                            "'rules:')")
    items = data["rules"]
    if not items:
        problems.append(f"{src.where(('rules',))}: 'rules' is empty: add a rule or remove the "
                        "file")
        return []
    if not isinstance(items, list):
        problems.append(f"{src.where(('rules',))}: 'rules' must be a list of rules")
        return []
    out = []
    for i, item in enumerate(items):
        rule = _Compiler(src, ctx, problems).rule(item, ("rules", i), seen)
        if rule is not None:
            out.append(rule)
    return out


def _unknown(kind: str, name: Any, valid: Collection[str]) -> str:
    close = difflib.get_close_matches(str(name), list(valid), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {kind} '{name}' ({hint}valid: {', '.join(valid)})"


@lru_cache(maxsize=None)
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$defs": schema()["$defs"], "$ref": "#/$defs/" + pointer})


class _Compiler:
    """Compiles one file's rules, adding problems as it finds them."""

    def __init__(self, src: yamlsrc.Source, ctx: LoadContext, problems: list[str]):
        self.src, self.ctx, self.problems = src, ctx, problems
        self.ok = True
        self.timing = None   # a time rule's Timing (``on: {ticket_idle: ...}``)

    def problem(self, path: tuple, message: str) -> None:
        self.ok = False
        self.problems.append(f"{self.src.where(path)}: {message}")

    def rule(self, item: Any, path: tuple, seen: dict[str, str]) -> Rule | None:
        if not isinstance(item, dict):
            self.problem(path, "a rule is a mapping with name, on, if and then")
            return None
        if True in item and "on" not in item:   # YAML 1.1 reads a bare `on:` key as true
            item = {("on" if k is True else k): v for k, v in item.items()}
            self.src.lines[path + ("on",)] = self.src.line(path + (True,))
        for key in item:
            if key not in RULE_KEYS:
                self.problem(path + (key,), _unknown("key", key, RULE_KEYS))
        name = self.name(item.get("name"), path, seen)
        label = f"rule '{name}'" if name else "this rule"
        on = self.events(item, path, label)
        conditions = self.conditions(item.get("if"), path + ("if",))
        if "then" not in item:
            self.problem(path, f"{label} has no 'then': list the actions it takes")
        actions = self.actions(item.get("then"), path + ("then",)) if "then" in item else ()
        flags = {k: item.get(k, k == "once") for k in ("once", "stop")}
        for key, value in flags.items():
            if not isinstance(value, bool):
                self.problem(path + (key,), f"'{key}' must be true or false, not {value!r}")
        if self.timing is not None and self.timing.event == "schedule":
            self.scheduled_actions(actions, path + ("then",))
        if not self.ok or not name:
            return None
        return Rule(name=name, on=on, conditions=conditions, actions=actions,
                    description=str(item.get("description") or ""), once=flags["once"],
                    stop=flags["stop"], file=self.src.filename, line=self.src.line(path),
                    timing=self.timing)

    def scheduled_actions(self, actions: tuple, path: tuple) -> None:
        for i, action in enumerate(actions):
            if action.kind != "notify":
                self.problem(path + (i,), f"a scheduled rule can only notify (it reports on "
                                          f"all open tickets, not one), not '{action.kind}'")

    def name(self, name: Any, path: tuple, seen: dict[str, str]) -> str | None:
        if name is None:
            self.problem(path, "this rule has no 'name' (every rule needs a unique name)")
            return None
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            self.problem(path + ("name",), f"'name' must be text (up to 100 characters), "
                                           f"not {name!r}")
            return None
        where = self.src.where(path + ("name",))
        if name in seen:
            self.problem(path + ("name",), f"duplicate rule name '{name}' (first defined at "
                                           f"{seen[name]})")
        else:
            seen[name] = where
        return name

    def events(self, item: dict, path: tuple, label: str) -> frozenset[str]:
        if "on" not in item:
            self.problem(path, f"{label} has no 'on': name the event(s) it listens to")
            return frozenset()
        value = item["on"]
        if isinstance(value, dict):
            try:
                self.timing = compile_on(value)
            except Invalid as exc:
                self.problem(path + ("on",), str(exc))
                return frozenset()
            return frozenset({self.timing.event})
        names = value if isinstance(value, list) else [value]
        if not names:
            self.problem(path + ("on",), "'on' is empty: name at least one event")
        for name in names:
            if name in ("ticket_idle", "schedule"):
                self.problem(path + ("on",), f"'{name}' needs its time: write on: "
                             + ("{ticket_idle: {hours: 4, calendar: office}}" if name == "ticket_idle"
                                else "{schedule: \"mon-fri 09:00\", calendar: office}"))
            elif name not in RULE_EVENTS + PLAIN_TIMER_EVENTS:
                self.problem(path + ("on",), _unknown("event", name,
                                                      RULE_EVENTS + PLAIN_TIMER_EVENTS))
        return frozenset(n for n in names if isinstance(n, str))

    def conditions(self, value: Any, path: tuple) -> tuple:
        if value is None:
            return ()
        if not isinstance(value, dict):
            self.problem(path, "'if' must be a mapping of conditions (key: value)")
            return ()
        out = []
        for key, v in value.items():
            where = path + (key,)
            if key not in CONDITIONS:
                self.problem(where, _unknown("condition", key, list(CONDITIONS)))
                continue
            param = self.nested(key, v, where) if key in NESTED else \
                self.compiled(v, f"conditions/properties/{key}", where, key,
                              lambda v=v, key=key: CONDITIONS[key].compile(v, self.ctx))
            out.append((CONDITIONS[key].check, param))
        return tuple(out)

    def nested(self, key: str, value: Any, path: tuple) -> Any:
        if key == "not":
            if not isinstance(value, dict) or not value:
                self.problem(path, "'not' must be a mapping of conditions")
            return self.conditions(value, path)
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            self.problem(path, "'any' must be a list of mappings of conditions")
            return ()
        return tuple(self.conditions(v, path + (i,)) for i, v in enumerate(value))

    def actions(self, value: Any, path: tuple) -> tuple[Action, ...]:
        if not isinstance(value, list) or not value:
            self.problem(path, "'then' must be a list of actions, e.g. '- notify: staff'")
            return ()
        out = []
        for i, item in enumerate(value):
            where = path + (i,)
            if isinstance(item, str):
                name, v, at = item, None, where
            elif isinstance(item, dict) and len(item) == 1:
                name, v = next(iter(item.items()))
                at = where + (name,)
            else:
                self.problem(where, "each action is a mapping with one key, e.g. "
                                    "'- set_priority: high'")
                continue
            if name not in ACTIONS:
                self.problem(at, _unknown("action", name, list(ACTIONS)))
                continue
            params = self.compiled(v, f"action/anyOf/1/properties/{name}", at, name,
                                   lambda v=v, name=name: ACTIONS[name].compile(v, self.ctx))
            out.append(Action(name, params))
        return tuple(out)

    def compiled(self, value: Any, pointer: str, path: tuple, label: str, compile_) -> Any:
        """Check ``value`` against the schema at ``pointer``, then compile it."""
        errors = list(_validator(pointer).iter_errors(value))
        if errors:
            for at, message in _explain(errors[:3], value):
                self.problem(path + at, f"{label}: {message}")
            return None
        try:
            return compile_()
        except Invalid as exc:
            self.problem(path, f"{label}: {exc}")
            return None


def _explain(errors: list, value: Any) -> list[tuple[tuple, str]]:
    """Readable lines for schema errors: for ``anyOf``, the branch the value was meant for."""
    out = []
    for e in errors:
        if e.validator in ("anyOf", "oneOf"):
            branches: dict[int, list] = {}
            for sub in e.context:
                branches.setdefault(sub.relative_schema_path[0], []).append(sub)
            fitting = [subs for subs in branches.values()
                       if not any(s.validator == "type" and not s.relative_path for s in subs)]
            if len(fitting) == 1:
                out.extend(_explain(fitting[0], value))
                continue
            expect = e.schema.get("x-expect") or "something else"
            out.append((tuple(e.absolute_path), f"must be {expect}, not {e.instance!r}"))
        else:
            out.append((tuple(e.absolute_path), e.message))
    return out


def compile_conditions(src: yamlsrc.Source, value: Any, path: tuple, problems: list[str],
                       categories: Mapping[str, int] | None = None) -> tuple:
    """An ``if:`` mapping outside a rule (an SLA policy's): the same conditions, compiled the
    same way; problems are appended as ``file:line: message``."""
    return _Compiler(src, LoadContext(None, categories or None), problems).conditions(value, path)
