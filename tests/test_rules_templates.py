"""Sandboxed templates: rendering, localtime, and no way out to Python internals."""
from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from syncd.rules.templates import TemplateFailed, compile_template

VARS = {"ticket": {"id": 1, "title": "Jam", "tags": ["a"], "resolved_at": None},
        "event": {"at": "2026-03-02T09:14:07.512Z"},
        "rule": {"name": "r", "description": ""}, "similar": []}


def test_renders_ticket_event_and_rule():
    """Templates see ticket, event and rule."""
    t = compile_template("#{{ ticket.id }} {{ ticket.title }} ({{ rule.name }})")
    assert t.render(VARS) == "#1 Jam (r)"


@pytest.mark.parametrize("source,tz,expected", [
    ("{{ event.at | localtime }}", "Asia/Kolkata", "2026-03-02 14:44 IST"),
    ("{{ event.at | localtime('%H:%M') }}", "UTC", "09:14"),
    ("{{ ticket.resolved_at | localtime }}", "UTC", ""),
])
def test_localtime_filter(source, tz, expected):
    """localtime shows an ISO UTC time in the configured time zone."""
    assert compile_template(source).render(VARS, ZoneInfo(tz)) == expected


@pytest.mark.parametrize("source", [
    "{{ ticket.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ticket.tags.__class__.__base__ }}",
    "{{ rule.name.format.__globals__ }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
])
def test_sandbox_blocks_internals(source):
    """Reaching for Python internals fails with an error, never reveals them."""
    with pytest.raises(TemplateFailed, match="SecurityError: .*unsafe"):
        compile_template(source).render(VARS)


def test_sandbox_blocks_mutation_of_ticket_data():
    """Calling methods that would change the data passed in is refused."""
    t = compile_template("{{ ticket.tags.append('x') }}{{ ticket.tags }}")
    with pytest.raises(TemplateFailed, match="unsafe"):
        t.render(VARS)
    assert VARS["ticket"]["tags"] == ["a"]


def test_syntax_error_and_unknown_variable_at_compile_time():
    """Syntax errors and unknown variables are found when the template is compiled."""
    with pytest.raises(TemplateFailed, match="template syntax error on line 2"):
        compile_template("ok\n{% if %}")
    with pytest.raises(TemplateFailed, match="unknown variable 'os'"):
        compile_template("{{ os.system('id') }}")


def test_uses_similar_is_detected():
    """A template that mentions similar asks for similar tickets; others do not."""
    assert compile_template("{% for s in similar %}{{ s.title }}{% endfor %}").uses_similar
    assert not compile_template("{{ ticket.title }}").uses_similar
