"""Bad calendars, SLAs, holds and time rules: file:line errors that show the valid form."""
from __future__ import annotations

import pytest

from syncd.config import settings_from_text
from syncd.errors import ConfigError, RuleError
from syncd.rules import load_rules
from syncd.timers.scheduler import check_rules

GOOD = """calendars:
  office:
    timezone: Asia/Kolkata
    hours: {mon-fri: ["09:00-13:00", "14:00-18:00"], sat: ["10:00-14:00"]}
    holidays: {country: IN, subdiv: TN, dates: [2026-12-25]}
slas:
  - name: urgent
    if: {priority: [urgent]}
    calendar: office
    first_response: 1h
    next_response: 4h
    resolution: 1d
    warn_at: 80%
    pause_tags: [waiting-on-author]
channels:
  staff: {type: gchat, url: '', quiet_hours: {calendar: office},
          digest: {below: high, at: ["09:00"], calendar: office}}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        settings_from_text(text, "config.yaml", env={})
    return exc.value.problems


def test_the_contract_example_loads():
    """The contract's calendars and slas sections load, holidays included."""
    s = settings_from_text(GOOD, "config.yaml", env={})
    office = s.calendars["office"]
    assert office.timezone == "Asia/Kolkata" and len(office.holidays) > 10
    assert s.slas[0].targets == {"first_response": 3600, "next_response": 14400,
                                 "resolution": 86400}
    assert s.slas[0].warn_at == 0.8 and "staff" in s.holds


def test_inverted_and_overlapping_hours_name_the_line():
    """Inverted and overlapping ranges are errors at their line with the valid form."""
    bad = GOOD.replace('mon-fri: ["09:00-13:00", "14:00-18:00"]', 'mon-fri: ["13:00-09:00"]')
    found = problems(bad)
    assert found[0].startswith("config.yaml:4:") and "HH:MM-HH:MM" in found[0]
    bad = GOOD.replace('sat: ["10:00-14:00"]', 'fri: ["12:00-15:00"]')
    assert any("config.yaml:4:" in p and "overlaps" in p for p in problems(bad))


def test_unknown_country_and_subdivision():
    """An unknown country or subdivision lists the valid codes."""
    found = problems(GOOD.replace("country: IN", "country: XX"))
    assert found[0].startswith("config.yaml:5:") and "unknown country code 'XX'" in found[0]
    assert "IN" in found[0]
    found = problems(GOOD.replace("subdiv: TN", "subdiv: ZZ"))
    assert "unknown subdivision 'ZZ' of IN" in found[0] and "TN" in found[0]


def test_a_duration_like_4hrs_names_the_valid_form():
    """first_response: 4hrs → the line and '30m, 4h, 2d'."""
    found = problems(GOOD.replace("first_response: 1h", "first_response: 4hrs"))
    assert found == ["config.yaml:10: first_response: '4hrs' is not a duration: write a number "
                     "and a unit (s, m, h, d), e.g. 10s, 30m, 4h, 2d or 1h30m"]


def test_unknown_calendar_bad_warn_and_bad_if():
    """An SLA naming no calendar, a bad warn_at, an unknown condition: one line each."""
    bad = (GOOD.replace("calendar: office\n    first", "calendar: offce\n    first")
           .replace("warn_at: 80%", "warn_at: 180%").replace("priority: [urgent]", "prio: urgent"))
    found = problems(bad)
    assert any(p.startswith("config.yaml:9:") and "unknown calendar 'offce'" in p for p in found)
    assert any(p.startswith("config.yaml:13:") and "80%" in p for p in found)
    assert any(p.startswith("config.yaml:8:") and "unknown condition 'prio'" in p for p in found)


def test_bad_digest_and_quiet_hours():
    """A digest time that is not HH:MM and quiet hours on an unknown calendar are errors."""
    bad = GOOD.replace('at: ["09:00"]', 'at: ["9am"]').replace(
        "quiet_hours: {calendar: office}", "quiet_hours: {calendar: home}")
    found = problems(bad)
    assert any("'9am' is not a time of day: write HH:MM" in p for p in found)
    assert any("unknown calendar 'home'" in p for p in found)


def write_rules(tmp_path, text):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_time_rules_load_and_bad_ones_are_refused(tmp_path):
    """ticket_idle and schedule rules load; a bare ticket_idle or a bad schedule does not."""
    ok = write_rules(tmp_path, """rules:
  - name: idle
    on: {ticket_idle: {hours: 4, calendar: office}}
    if: {status: open}
    then: [{notify: staff}]
  - name: morning
    on: {schedule: "mon-fri 09:00", calendar: office}
    then: [{notify: {channel: staff, text: "{{ event.total }} open"}}]
  - name: breach
    on: [sla_breached, sla_warning]
    if: {sla_breached: first_response, sla_remaining_below: 30m}
    then: [{notify: staff}]
""")
    rules = load_rules(ok, ["staff"])
    assert rules.named("idle").timing.seconds == 4 * 3600
    settings = settings_from_text(GOOD, "config.yaml", env={})
    assert check_rules(rules, settings) == []
    assert "unknown calendar 'office'" in check_rules(rules, settings_from_text("", env={}))[0]
    bad = write_rules(tmp_path, """rules:
  - name: idle
    on: ticket_idle
    then: [{notify: staff}]
  - name: morning
    on: {schedule: "weekdays at nine"}
    then: [{notify: staff}]
  - name: nightly
    on: {schedule: "daily 22:00"}
    then: [{reply: hi}]
  - name: remaining
    on: sla_warning
    if: {sla_remaining_below: 30mins}
    then: [{notify: staff}]
""")
    with pytest.raises(RuleError) as exc:
        load_rules(bad, ["staff"])
    found = exc.value.problems
    assert any(":3:" in p and "{ticket_idle: {hours: 4" in p for p in found)
    assert any(":6:" in p and "mon-fri 09:00" in p for p in found)
    assert any(":10:" in p and "can only notify" in p for p in found)
    assert any(":13:" in p and "'30mins' is not a duration" in p for p in found)


def test_check_names_a_rule_with_an_unknown_calendar(tmp_path):
    """`syncd check` exits 2 naming the rule's file:line when its calendar is not configured."""
    from click.testing import CliRunner

    from syncd.cli import main
    rules = write_rules(tmp_path, "rules:\n  - name: idle\n    on: {ticket_idle: {hours: 4, "
                                  "calendar: office}}\n    then: [{notify: staff}]\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {rules}\n"
                   "channels:\n  staff: {type: gchat, url: ''}\n")
    result = CliRunner().invoke(main, ["--config", str(cfg), "check"])
    assert result.exit_code == 2
    assert f"{rules}:2: rule 'idle': unknown calendar 'office' (calendars: 24x7)" in result.output
