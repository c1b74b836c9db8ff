"""Issue 18, finding 5: template CPU and memory bombs are refused at check or fail their
action with the reason (dead), never hang the processor."""
from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from syncd.cli import main
from syncd.clock import iso, utcnow
from syncd.rules import limits
from syncd.rules.templates import TemplateFailed, TemplateTooCostly, compile_template

from conftest import SECRET, make_settings, sample_body
from test_processor import drain, put, rules_processor

BODY = "x" * 100_000
VARS = {"ticket": {"id": 1, "title": "Jam", "body": BODY, "tags": []}, "event": {},
        "rule": {"name": "r", "description": ""}, "similar": []}


@pytest.mark.parametrize("source", [
    "{{ 'a' * 10**9 }}",
    "{{ ticket.title * 10**8 }}",
    "{{ 10 ** 100000 }}",
    "{{ range(10**7) | list }}",
    "{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}",
    "{{ ticket.title | center(10**9) }}",
    "{{ '" + "y" * 20_000 + "' }}",
    "{{ 1e400 }}",
])
def test_bombs_seen_in_the_source_are_refused_when_compiled(source):
    """What can be seen statically is a load error naming the line, found at once."""
    with pytest.raises(TemplateFailed, match="too costly to render: line 1"):
        compile_template(source)


@pytest.mark.parametrize("source,why", [
    ("{% set x = ticket.body %}" + "{% set x = x ~ x %}" * 5 + "{{ x|length }}", "joining"),
    ("{{ ticket.body * ticket.id * 100 }}", "repeating"),
    ("{% for a in ticket.body %}{{ ticket.body }}{% endfor %}", "over 300,000 characters"),
    ("{{ '%99999999s' | format(1) }}", "format width"),
    ("{{ '{:99999999}'.format(1) }}", "format width"),
    ("{{ ticket.body | replace('x', ticket.body) }}", "replace"),
    ("{% set a %}{{ ticket.body }}{{ ticket.body }}{% endset %}"
     "{% set b %}{{a}}{{a}}{{a}}{{a}}{% endset %}{% set c %}{{b}}{{b}}{{b}}{{b}}{% endset %}"
     "{{ c|length }}", "value of"),
])
def test_bombs_built_from_data_fail_at_render_time(source, why):
    """Sizes that depend on the data are checked before the value is made."""
    with pytest.raises(TemplateTooCostly, match=why):
        compile_template(source).render(VARS)


def test_a_slow_template_stops_at_the_time_budget(monkeypatch):
    """Nested loops over the student's text (10**10 steps) end at the time budget."""
    monkeypatch.setattr(limits, "MAX_SECONDS", 0.2)
    t = compile_template("{% for a in ticket.body %}{% for b in ticket.body %}{% endfor %}"
                         "{% endfor %}")
    with pytest.raises(TemplateTooCostly, match="took over 0.2 s"):
        t.render(VARS)


def test_ordinary_templates_still_render():
    """Arithmetic with big numbers, formats, widths under the limits: all fine."""
    t = compile_template("{{ ticket.id * 99999999 }} {{ '%05d' | format(42) }} "
                         "{{ ticket.title | center(9) }} {{ 'ab' * 3 }}")
    assert t.render(VARS) == "99999999 00042    Jam    ababab"


LOOPS = ("{% for a in range(ticket.id * 50) %}{% for b in range(ticket.id * 50) %}"
         "{% endfor %}{% endfor %}")
BOMB_RULES = f"""rules:
  - name: bomb
    on: topic_created
    then:
      - notify: {{channel: staff, text: "{LOOPS}"}}
      - notify: {{channel: staff, text: "still sent"}}
"""


def test_a_bomb_fails_its_action_dead_and_the_delivery_is_processed(tmp_path, monkeypatch):
    """The processor finishes the delivery; the bomb's action is dead with the reason, the
    rule's other action is pending, and no worker will retry the dead one."""
    monkeypatch.setattr(limits, "MAX_SECONDS", 0.2)
    settings = make_settings(tmp_path)
    from syncd.service import prepare
    store, _ = prepare(settings)
    p = rules_processor(tmp_path, settings, store, BOMB_RULES)
    body = sample_body("topic_created")
    body["topic"]["created_at"] = iso(utcnow())
    put(store, "topic_created", body=body)
    drain(p)
    drain(p, utcnow() + timedelta(seconds=31))
    conn = store.db().conn
    assert conn.execute("SELECT status FROM deliveries").fetchall() == [("processed",)]
    rows = conn.execute("SELECT status, last_error FROM outbox ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["dead", "pending"]
    assert "took over 0.2 s" in rows[0][1]


def test_check_rejects_a_static_bomb_quickly(tmp_path):
    """`syncd check` on "'a' * 10**9": exit 2 naming file and line, without rendering it."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: bomb\n    on: topic_created\n    then:\n"
                     "      - reply: \"{{ 'a' * 10**9 }}\"\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {rules}\n"
                   f"discourse:\n  webhook_secret: {SECRET}\n  category_map: {{support: 5}}\n")
    out = CliRunner().invoke(main, ["--config", str(cfg), "check"])
    assert out.exit_code == 2
    assert "rules.yaml:5" in out.output and "too costly" in out.output
