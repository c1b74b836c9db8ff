"""Timers through the processor's path, driven by a fake clock: SLA warnings and breaches,
idle tickets, scheduled rules, quiet hours and digests."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from syncd.channels.gchat import message
from syncd.processor import Processor
from syncd.rules.reloader import RulesHolder
from syncd.timers.scheduler import Scheduler
from syncd.service import prepare
from syncd.store import deliveries, timers
from syncd.store import tickets as ticketstore
from syncd.store.db import transaction

from conftest import make_settings, sample_body, signed_sample
from standins.gchat import message_errors

UTC = timezone.utc
CREATED = datetime(2026, 3, 2, 9, 14, 7, 512000, tzinfo=UTC)   # webhooks/topic_created.json
CHANNELS = "channels:\n  staff: {type: gchat, url: ''%s}\n  escalations: {type: gchat, url: ''}\n"
SLAS = ("slas:\n  - name: std\n    first_response: 10m\n    resolution: 1d\n    warn_at: 50%\n")
ESCALATE = """rules:
  - name: warn
    on: sla_warning
    once: false
    then: [{notify: {channel: escalations, text: "warning {{ event.target }} late={{ event.late }}"}}]
  - name: breach
    on: sla_breached
    once: false
    if: {sla_breached: first_response}
    then: [{notify: {channel: escalations, text: "breached {{ event.target }} late={{ event.late }}"}}]
"""


def setup(tmp_path, rules: str, extra: str = SLAS, staff: str = ""):
    settings = make_settings(tmp_path, extra=extra + CHANNELS % staff)
    store, _ = prepare(settings)
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "10-time.yaml").write_text(rules)
    holder = RulesHolder(folder, list(settings.channels), {"support": 5})
    p = Processor(settings, store, holder)
    return settings, store, p, Scheduler(settings, store, p)


EVENT_IDS = iter(range(900, 100_000))


def deliver(store, p, names, now, bodies=None):
    for name in names:
        body = (bodies or {}).get(name)
        headers, raw = signed_sample(name, event_id=str(next(EVENT_IDS)), body=body)
        with transaction(store.db()) as conn:
            deliveries.store(conn, headers, raw, 1234)
    while p.run_once(now):
        pass


def notes(store, channel="escalations"):
    rows = store.db().conn.execute("SELECT params, status FROM outbox WHERE kind = 'notify' "
                                   "ORDER BY id").fetchall()
    return [(json.loads(r[0]).get("text"), r[1]) for r in rows
            if json.loads(r[0])["channel"] == channel]


def test_warning_then_breach_fire_once_each_through_the_rules(tmp_path):
    """sla_warning at 50 % and sla_breached at 100 % of first_response each notify once."""
    _, store, p, sched = setup(tmp_path, ESCALATE)
    deliver(store, p, ["topic_created", "post_created"], CREATED + timedelta(seconds=20))
    assert not sched.run_once(CREATED + timedelta(minutes=4))
    assert sched.run_once(CREATED + timedelta(minutes=5, seconds=1))
    assert not sched.run_once(CREATED + timedelta(minutes=5, seconds=2))
    assert notes(store) == [("warning first_response late=False", "pending")]
    sched.run_once(CREATED + timedelta(minutes=10, seconds=1))
    sched.run_once(CREATED + timedelta(minutes=10, seconds=2))
    assert [n[0] for n in notes(store)] == ["warning first_response late=False",
                                            "breached first_response late=False"]
    history = ticketstore.history(store.db().conn, 1234)
    assert [h["name"] for h in history if h["kind"] == "event"][-2:] == ["sla_warning",
                                                                        "sla_breached"]


def test_a_staff_reply_before_the_due_time_cancels_the_breach(tmp_path):
    """The first staff reply at minute 2 cancels the first_response timers."""
    _, store, p, sched = setup(tmp_path, ESCALATE)
    deliver(store, p, ["topic_created", "post_created"], CREATED + timedelta(seconds=20))
    reply = sample_body("post_created_reply")
    reply["post"]["created_at"] = (CREATED + timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    deliver(store, p, ["post_created_reply"], CREATED + timedelta(minutes=2),
            bodies={"post_created_reply": reply})
    pending = timers.pending_for(store.db().conn, 1234)
    assert {(t["kind"], t["target"]) for t in pending} == {("sla_warning", "resolution"),
                                                          ("sla_breached", "resolution")}
    sched.run_once(CREATED + timedelta(hours=1))
    assert notes(store) == []
    state = timers.load_sla(store.db().conn, 1234)
    assert state["clocks"][0]["outcome"] == "met"


def test_timers_due_while_down_fire_once_late(tmp_path):
    """Three hours of downtime: the warning and the breach fire once each, marked late."""
    _, store, p, sched = setup(tmp_path, ESCALATE)
    deliver(store, p, ["topic_created", "post_created"], CREATED + timedelta(seconds=20))
    later = CREATED + timedelta(hours=3)
    for _ in range(3):
        sched.run_once(later)
    assert [n[0] for n in notes(store)] == ["warning first_response late=True",
                                            "breached first_response late=True"]
    rows = store.db().conn.execute("SELECT kind, late FROM timers WHERE status = 'fired' "
                                   "ORDER BY id").fetchall()
    assert rows == [("sla_warning", 1), ("sla_breached", 1)]


def test_a_clock_jump_back_and_forth_fires_each_timer_once(tmp_path):
    """The clock jumps ahead a day, back, and ahead again: each due timer fired once."""
    _, store, p, sched = setup(tmp_path, ESCALATE)
    deliver(store, p, ["topic_created", "post_created"], CREATED + timedelta(seconds=20))
    for jump in (timedelta(days=1), timedelta(minutes=1), timedelta(days=1, minutes=5)):
        sched.run_once(CREATED + jump)
    fired = store.db().conn.execute("SELECT kind, target, COUNT(*) FROM timers WHERE "
                                    "status = 'fired' GROUP BY kind, target").fetchall()
    assert all(n == 1 for _, _, n in fired) and len(fired) == 4


def test_ticket_idle_fires_after_no_activity_and_activity_restarts_it(tmp_path):
    """An idle rule fires 30 min after the last activity; a like before that moves it."""
    rules = """rules:
  - name: nudge
    on: {ticket_idle: {after: 30m}}
    then: [{notify: {channel: escalations, text: "idle {{ ticket.id }}"}}]
"""
    _, store, p, sched = setup(tmp_path, rules, extra="")
    deliver(store, p, ["topic_created", "post_created"], CREATED + timedelta(seconds=20))
    deliver(store, p, ["post_liked"], CREATED + timedelta(minutes=20))
    sched.run_once(CREATED + timedelta(minutes=35))
    assert notes(store) == []
    sched.run_once(CREATED + timedelta(minutes=51))
    assert notes(store) == [("idle 1234", "pending")]


def test_a_scheduled_rule_notifies_counts_and_breaching_tickets(tmp_path):
    """on: {schedule: daily 10:00} (Asia/Kolkata): one summary card with counts by priority."""
    rules = """rules:
  - name: morning
    on: {schedule: "daily 10:00"}
    then: [{notify: {channel: staff, text: "{{ event.total }} open, {{ event.breaching_total }} breaching"}}]
"""
    settings, store, p, sched = setup(tmp_path, rules)
    deliver(store, p, ["topic_created", "post_created"], CREATED + timedelta(seconds=20))
    sched.run_once(CREATED + timedelta(seconds=30))
    due = timers.schedules(store.db().conn)["morning"]["due_at"]
    assert due.startswith("2026-03-03T04:30:00")          # 10:00 IST
    sched.run_once(datetime(2026, 3, 3, 4, 30, 1, tzinfo=UTC))
    assert notes(store, "staff") == [("1 open, 1 breaching", "pending")]
    row = store.db().conn.execute("SELECT params FROM outbox WHERE kind = 'notify' AND "
                                  "ticket_id = 0").fetchone()
    params = json.loads(row[0])
    assert params["summary"]["counts"]["normal"] == 1
    assert message_errors(message(params, settings.tz)) == []
    assert timers.schedules(store.db().conn)["morning"]["due_at"].startswith("2026-03-04T04:30")


def test_digest_holds_low_notifications_and_sends_one_card(tmp_path):
    """Below high: held until 09:00 IST the next day, then sent together as one digest card."""
    rules = """rules:
  - name: new
    on: topic_created
    then: [{notify: staff}]
"""
    settings, store, p, sched = setup(tmp_path, rules, extra="",
                                      staff=", digest: {below: high, at: ['09:00']}")
    deliver(store, p, ["topic_created", "post_created"], CREATED + timedelta(seconds=20))
    row = store.db().conn.execute("SELECT status, hold_kind, hold_until FROM outbox").fetchone()
    assert row[:2] == ("held", "digest") and row[2].startswith("2026-03-03T03:30")
    sched.run_once(datetime(2026, 3, 3, 3, 30, 1, tzinfo=UTC))
    rows = store.db().conn.execute("SELECT ticket_id, status, params FROM outbox ORDER BY id"
                                   ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(1234, "digested"), (0, "pending")]
    card = message(json.loads(rows[1][2]), settings.tz)
    assert message_errors(card) == []
    assert "1 held notification" in json.dumps(card)


def test_quiet_hours_hold_until_opening_but_urgent_goes(tmp_path):
    """Outside the office calendar a normal notification waits for 10:00; urgent does not."""
    cal = ("calendars:\n  office:\n    timezone: UTC\n    hours: {mon-fri: ['10:00-18:00']}\n")
    rules = """rules:
  - name: new
    on: topic_created
    then: [{notify: staff}]
"""
    _, store, p, sched = setup(tmp_path, rules, extra=cal,
                               staff=", quiet_hours: {calendar: office}")
    deliver(store, p, ["topic_created", "post_created"], CREATED + timedelta(seconds=20))
    row = store.db().conn.execute("SELECT status, hold_kind, hold_until FROM outbox").fetchone()
    assert row == ("held", "quiet", "2026-03-02T10:00:00.000000Z")
    sched.run_once(datetime(2026, 3, 2, 10, 0, 1, tzinfo=UTC))
    assert store.db().conn.execute("SELECT status FROM outbox").fetchone()[0] == "pending"
    hold = p.settings.holds["staff"]
    assert hold.plan("urgent", CREATED) is None and hold.plan("high", CREATED)[0] == "quiet"


def test_a_ticket_card_shows_its_sla_due_time(tmp_path):
    """A notification's card carries 'first response due HH:MM, in …' and stays valid."""
    rules = """rules:
  - name: new
    on: topic_created
    then: [{notify: staff}]
"""
    settings, store, p, _ = setup(tmp_path, rules)
    deliver(store, p, ["topic_created", "post_created"], CREATED + timedelta(seconds=20))
    params = json.loads(store.db().conn.execute("SELECT params FROM outbox").fetchone()[0])
    assert params["ticket"]["sla"]["policy"] == "std"
    card = message(params, settings.tz)
    assert message_errors(card) == []
    sla_field = [w for s in card["cardsV2"][0]["card"]["sections"] for w in s["widgets"]
                 if w.get("decoratedText", {}).get("topLabel") == "SLA"]
    assert sla_field and "first response" in sla_field[0]["decoratedText"]["text"]


def test_one_failing_timer_is_marked_failed_and_the_others_fire(tmp_path, monkeypatch):
    """A timer whose rules blow up is 'failed' with the reason; the rest of its batch fires."""
    _, store, p, sched = setup(tmp_path, ESCALATE)
    deliver(store, p, ["topic_created", "post_created"], CREATED + timedelta(seconds=20))
    real = p.decide

    def decide(conn, ticket, changes, now, cats):
        if changes[0].name == "sla_warning":
            raise RuntimeError("template engine on fire")
        return real(conn, ticket, changes, now, cats)

    monkeypatch.setattr(p, "decide", decide)
    sched.run_once(CREATED + timedelta(minutes=11))
    rows = dict(store.db().conn.execute("SELECT kind, status FROM timers WHERE target = "
                                        "'first_response'").fetchall())
    assert rows == {"sla_warning": "failed", "sla_breached": "fired"}
    assert [n[0] for n in notes(store)] == ["breached first_response late=False"]


def test_resolving_cancels_every_timer_of_the_ticket(tmp_path):
    """An accepted solution stops the clocks: no SLA or idle timer is left pending."""
    rules = ESCALATE + """  - name: nudge
    on: {ticket_idle: {after: 2h}}
    then: [{notify: escalations}]
"""
    _, store, p, sched = setup(tmp_path, rules)
    deliver(store, p, ["topic_created", "post_created"], CREATED + timedelta(seconds=20))
    assert len(timers.pending_for(store.db().conn, 1234)) == 5
    deliver(store, p, ["accepted_solution"], CREATED + timedelta(minutes=3))
    assert timers.pending_for(store.db().conn, 1234) == []
    sched.run_once(CREATED + timedelta(days=2))
    assert notes(store) == []
