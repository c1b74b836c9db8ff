"""SLA clocks (pure): policy choice, due times, pauses, stops, with a fake clock."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from syncd.core import sla
from syncd.core.calendar import Calendar, parse_hours
from syncd.core.tickets import Change, Ticket

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)          # a Monday
HOURS, _ = parse_hours({"mon-fri": ["09:00-18:00"]})
OFFICE = Calendar("office", "UTC", HOURS)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def book(**kw):
    urgent = sla.Policy("urgent", "24x7", {"first_response": 600, "resolution": 3600},
                        warn_at=0.5, matches=lambda t, c: t.priority == "urgent")
    normal = sla.Policy("normal", kw.get("calendar", "24x7"),
                        {"first_response": 3600, "next_response": 1800, "resolution": 8 * 3600},
                        warn_at=0.8, pause_tags=frozenset({"waiting-on-author"}),
                        pause_statuses=frozenset(kw.get("pause_statuses", ())))
    return sla.Book((urgent, normal), {"office": OFFICE})


def created(b, at=T0, **kw):
    ticket = Ticket(1, title="Printer", created_at=iso(at), author="alice", announced=True, **kw)
    state = sla.advance(sla.SlaState(), None, ticket, [Change("topic_created")], b, at)
    return ticket, state


def step(b, state, before, after, names, now):
    return sla.advance(state, before, after, [Change(n) for n in names], b, now)


def test_first_policy_that_matches_applies_and_starts_its_clocks():
    """An urgent ticket gets the urgent policy: first response due in 10 min, warning at 5."""
    b = book()
    _, state = created(b, priority="urgent")
    assert state.policy == "urgent"
    assert {(k, t, d) for k, t, d in sla.timers(state, b)} == {
        ("sla_warning", "first_response", T0 + timedelta(minutes=5)),
        ("sla_breached", "first_response", T0 + timedelta(minutes=10)),
        ("sla_warning", "resolution", T0 + timedelta(minutes=30)),
        ("sla_breached", "resolution", T0 + timedelta(hours=1))}
    snap = sla.snapshot(state, b, T0 + timedelta(minutes=4))
    assert snap["targets"]["first_response"]["remaining_seconds"] == 360
    assert snap["targets"]["first_response"]["status"] == "running"


def test_staff_reply_meets_first_response_and_cancels_its_timers():
    """A staff reply before the due time meets first_response; no timer is left for it."""
    b = book()
    t, state = created(b)
    answered = replace(t, stage="answered", first_response_at=iso(T0 + timedelta(minutes=20)))
    state = step(b, state, t, answered, ["post_created"], T0 + timedelta(minutes=20))
    assert state.clock("first_response").outcome == "met"
    assert state.clock("first_response").used == 1200
    assert {x[1] for x in sla.timers(state, b)} == {"resolution"}
    snap = sla.snapshot(state, b, T0 + timedelta(hours=2))
    assert snap["targets"]["first_response"]["status"] == "met"


def test_next_response_runs_when_the_author_writes_again():
    """Author replies after staff answered: next_response starts; the next staff reply meets it."""
    b = book()
    t, state = created(b)
    answered = replace(t, stage="answered", first_response_at=iso(T0 + timedelta(minutes=5)))
    state = step(b, state, t, answered, ["post_created"], T0 + timedelta(minutes=5))
    reopened = replace(answered, stage="open")
    at = T0 + timedelta(minutes=30)
    state = step(b, state, answered, reopened, ["post_created", "status_changed"], at)
    assert ("sla_breached", "next_response", at + timedelta(minutes=30)) in sla.timers(state, b)
    state = step(b, state, reopened, answered, ["post_created"], at + timedelta(minutes=10))
    assert state.clock("next_response").outcome == "met"
    assert state.clock("next_response").used == 600


def test_pause_tag_stops_the_clock_while_waiting_on_the_author():
    """Time with a pause tag on does not count; the due time moves by the paused time."""
    b = book()
    t, state = created(b)
    waiting = replace(t, tags=("waiting-on-author",))
    state = step(b, state, t, waiting, ["tag_added"], T0 + timedelta(minutes=10))
    assert state.paused and sla.timers(state, b) == []
    snap = sla.snapshot(state, b, T0 + timedelta(hours=5))
    assert snap["targets"]["first_response"]["status"] == "paused"
    assert snap["targets"]["first_response"]["remaining_seconds"] == 3000
    back = T0 + timedelta(hours=5)
    state = step(b, state, waiting, t, ["tag_removed"], back)
    assert ("sla_breached", "first_response", back + timedelta(minutes=50)) in sla.timers(state, b)


def test_pause_status_answered_pauses_resolution():
    """With pause_statuses [answered], resolution waits while the ticket is answered."""
    b = book(pause_statuses=["answered"])
    t, state = created(b)
    answered = replace(t, stage="answered", first_response_at=iso(T0 + timedelta(hours=1)))
    state = step(b, state, t, answered, ["post_created"], T0 + timedelta(hours=1))
    assert state.clock("resolution").since is None and state.clock("resolution").used == 3600


def test_resolve_stops_every_clock_and_reopen_resumes_resolution():
    """Resolved: nothing runs, no timers; reopened: resolution goes on from its used time."""
    b = book()
    t, state = created(b)
    resolved = replace(t, stage="resolved", resolved_at=iso(T0 + timedelta(hours=2)))
    state = step(b, state, t, resolved, ["solution_accepted"], T0 + timedelta(hours=2))
    assert sla.timers(state, b) == []
    assert state.clock("resolution").outcome == "met"
    assert state.clock("first_response").outcome == "stopped"
    again = T0 + timedelta(hours=10)
    state = step(b, state, resolved, t, ["solution_unaccepted"], again)
    assert ("sla_breached", "resolution", again + timedelta(hours=6)) in sla.timers(state, b)


def test_priority_change_chooses_the_other_policy_and_keeps_used_time():
    """normal → urgent after 8 min: the urgent 10-min first response is due 2 min later."""
    b = book()
    t, state = created(b)
    urgent = replace(t, priority="urgent")
    at = T0 + timedelta(minutes=8)
    state = step(b, state, t, urgent, ["priority_changed"], at)
    assert state.policy == "urgent"
    assert ("sla_breached", "first_response", at + timedelta(minutes=2)) in sla.timers(state, b)


def test_business_calendar_due_skips_the_weekend():
    """Friday 17:30 + 1 h of office time is due Monday 09:30."""
    b = book(calendar="office")
    friday = datetime(2026, 3, 6, 17, 30, tzinfo=UTC)
    _, state = created(b, at=friday)
    due = {t: d for k, t, d in sla.timers(state, b) if k == "sla_breached"}
    assert due["first_response"] == datetime(2026, 3, 9, 9, 30, tzinfo=UTC)


def test_fired_timers_are_not_planned_again_and_breach_shows():
    """mark() records a warning and a breach; the snapshot says breached once past due."""
    b = book()
    _, state = created(b)
    state = sla.mark(sla.mark(state, "sla_warning", "first_response"), "sla_breached",
                     "first_response")
    assert {(k, t) for k, t, _ in sla.timers(state, b)} == {("sla_warning", "resolution"),
                                                          ("sla_breached", "resolution")}
    snap = sla.snapshot(state, b, T0 + timedelta(hours=2))
    assert sla.breaching(snap, "first_response") and not sla.breaching(snap, "resolution")


def test_lines_say_due_time_and_time_left():
    """The card's words: 'first response due 14:00, in 2 h'."""
    b = book()
    _, state = created(b, at=datetime(2026, 3, 2, 13, 0, tzinfo=UTC))
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC) + timedelta(hours=1)
    said = sla.lines(sla.snapshot(state, b, now), UTC, now)
    assert said[0] == "first response due 14:00, in 1 h"
    assert sla.lines(sla.snapshot(state, b, now + timedelta(hours=2)), UTC,
                     now + timedelta(hours=2))[0] == "first response overdue since 14:00 (1 h)"


def test_state_round_trips_through_json_form():
    """The stored form reads back to the same state."""
    b = book()
    _, state = created(b)
    assert sla.SlaState.from_dict(state.as_dict()) == state


def test_no_matching_policy_halts_the_clocks_until_one_matches():
    """A ticket no policy matches keeps its used time, with no timers, until one matches."""
    only_urgent = sla.Book((sla.Policy("urgent", "24x7", {"first_response": 600}, warn_at=None,
                                       matches=lambda t, c: t.priority == "urgent"),))
    t = Ticket(1, created_at=iso(T0), priority="urgent", announced=True)
    state = sla.advance(sla.SlaState(), None, t, [Change("topic_created")], only_urgent, T0)
    low = replace(t, priority="low")
    state = step(only_urgent, state, t, low, ["priority_changed"], T0 + timedelta(minutes=2))
    assert state.policy is None and sla.timers(state, only_urgent) == []
    assert sla.snapshot(state, only_urgent, T0 + timedelta(hours=1)) is None
    back = T0 + timedelta(hours=1)
    state = step(only_urgent, state, low, t, ["priority_changed"], back)
    assert sla.timers(state, only_urgent) == [("sla_breached", "first_response",
                                               back + timedelta(minutes=8))]
