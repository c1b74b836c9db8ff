"""Text templates in rules: sandboxed Jinja2 over ``ticket``, ``event``, ``rule``, ``similar``.

Templates are parsed when the rules load (a syntax error or an unknown variable is a load
error) and rendered when actions are decided. They run in Jinja2's sandbox: reaching for
``__class__``, ``mro`` or any other internal attribute raises ``TemplateFailed``, never
exposes Python. ``localtime`` formats an ISO timestamp in the configured time zone.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping
from zoneinfo import ZoneInfo

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from syncd.core import marks
from syncd.rules import limits

VARIABLES = ("event", "rule", "similar", "ticket")
MAX_OUTPUT = 30_000                 # Discourse's default max_post_length is 32000
DEFAULT_TIME_FORMAT = "%Y-%m-%d %H:%M %Z"


class TemplateFailed(Exception):
    """A template could not be parsed or rendered; the message says why."""


class TemplateTooCostly(TemplateFailed):
    """Rendering went over a limit of ``syncd.rules.limits`` (time, output, value size):
    the action fails with the reason and is not tried again."""


@jinja2.pass_context
def localtime(ctx: jinja2.runtime.Context, value: Any, fmt: str = DEFAULT_TIME_FORMAT) -> str:
    """``{{ event.at | localtime }}`` -> ``2026-03-02 14:44 IST`` (the configured zone)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    tz = ctx.get("_tz") or timezone.utc
    return moment.astimezone(tz).strftime(str(fmt))


class _Sandbox(limits.Bounded, ImmutableSandboxedEnvironment):
    """Jinja2's sandbox (read-only too), where touching an unsafe attribute is an error at
    once instead of a silently empty value."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of a "
                            f"{type(obj).__name__!r} value is not allowed in rules (unsafe)")


_marking = threading.local()


def _finalize(value: Any) -> Any:
    """While a notify text renders, mark each ``{{ … }}`` value (``core/marks.py``)."""
    return marks.mark(value) if getattr(_marking, "on", False) else value


def _environment() -> _Sandbox:
    env = _Sandbox(autoescape=False, trim_blocks=True, lstrip_blocks=True, finalize=_finalize)
    env.filters["localtime"] = localtime
    env.bound()
    return env


ENV = _environment()


@dataclass(frozen=True)
class Template:
    source: str
    compiled: jinja2.Template
    uses_similar: bool = False
    loops: bool = True                  # loops or macros: rendering is watched line by line

    def render(self, variables: Mapping[str, Any], tz: ZoneInfo | None = None,
               marked: bool = False) -> str:
        """Render, or raise ``TemplateFailed`` (sandbox violations included). ``marked``:
        wrap interpolated values in ``core.marks`` so a channel can escape them."""
        _marking.on = marked
        try:
            text = limits.bounded_render(self.compiled.generate({**variables, "_tz": tz}),
                                         trace=self.loops)
        except limits.TemplateLimit as exc:
            raise TemplateTooCostly(f"template limit: {exc}") from None
        except jinja2.TemplateError as exc:
            raise TemplateFailed(f"{type(exc).__name__}: {exc}") from None
        except Exception as exc:  # a filter on bad data: still never a crash
            raise TemplateFailed(f"{type(exc).__name__}: {exc}") from None
        finally:
            _marking.on = False
        return text[:MAX_OUTPUT]


def compile_template(source: Any) -> Template:
    """Parse a template; raise ``TemplateFailed`` naming the problem and its line."""
    if not isinstance(source, str):
        raise TemplateFailed(f"must be text, not {source!r}")
    try:
        tree = ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateFailed(f"template syntax error on line {exc.lineno} of the template: "
                             f"{exc.message}") from None
    try:
        limits.check_static(tree)
    except limits.TemplateLimit as exc:
        raise TemplateFailed(f"template too costly to render: {exc}") from None
    unknown = sorted(meta.find_undeclared_variables(tree) - set(VARIABLES))
    if unknown:
        raise TemplateFailed(f"unknown variable '{unknown[0]}' in template "
                             f"(valid: {', '.join(VARIABLES)})")
    uses_similar = "similar" in meta.find_undeclared_variables(tree)
    return Template(source, ENV.from_string(tree), uses_similar, limits.loops(tree))
