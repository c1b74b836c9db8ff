"""A person's quiet hours and daily digest hold their `notify: subscribers` alerts with the
channels' hold machinery (held outbox rows, released or digested by the scheduler), exactly
once; urgent alerts and the test alert go at once. Clocks are driven, never slept on."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from syncd.core.alerts import Preferences, plan_hold
from syncd.outbox import subscribers
from syncd.outbox.workers import DeliveryWorker
from syncd.processor import Processor
from syncd.service import load_rules_holder
from syncd.store.db import transaction
from syncd.timers.scheduler import Scheduler

from conftest import signed_sample
from standins.gchat import ChatStandIn
from webkit import BOB, JANE, csrf, provider, sign_in, web_app, web_settings

UTC = timezone.utc
CHANNEL = "json_extract(params, '$.channel')"
RULES = "rules:\n  - name: new-ticket-tells-subscribers\n    on: topic_created\n    then:\n" \
        "      - notify: subscribers\n"
NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)          # 23:30 in Kolkata (UTC+5:30)


def _prefs(**kw):
    return Preferences(person_id=1, username="jane", destination="gchat",
                       gchat_url="https://chat.googleapis.com/x", timezone="Asia/Kolkata", **kw)


# --- the plan (pure) -------------------------------------------------------------------------

def test_quiet_hours_across_midnight_hold_until_they_end_in_the_persons_zone():
    """22:00-07:00 in Kolkata: at 23:30 a normal alert waits for 07:00 local; noon goes."""
    prefs = _prefs(quiet_start="22:00", quiet_end="07:00")
    assert plan_hold(prefs, "normal", NOW) == ("quiet", datetime(2026, 3, 3, 1, 30, tzinfo=UTC))
    assert plan_hold(prefs, "high", NOW)[0] == "quiet"
    assert plan_hold(prefs, "normal", datetime(2026, 3, 2, 6, 30, tzinfo=UTC)) is None


def test_quiet_hours_within_a_day_and_none_without_them():
    """01:00-06:00 UTC holds at 03:00 until 06:00; no quiet hours and no digest hold nothing."""
    prefs = Preferences(person_id=1, username="j", timezone="UTC", quiet_start="01:00",
                        quiet_end="06:00")
    at = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert plan_hold(prefs, "low", at) == ("quiet", datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    assert plan_hold(prefs, "low", datetime(2026, 3, 2, 0, 30, tzinfo=UTC)) is None
    assert plan_hold(Preferences(person_id=1, username="j"), "low", at) is None


def test_digest_holds_below_the_chosen_priority_until_the_digest_time():
    """Digest below high at 09:00 Kolkata: normal waits for the next 09:00 local, high goes."""
    prefs = _prefs(digest_below="high", digest_at="09:00")
    assert plan_hold(prefs, "normal", NOW) == ("digest", datetime(2026, 3, 3, 3, 30, tzinfo=UTC))
    assert plan_hold(prefs, "low", NOW)[0] == "digest"
    assert plan_hold(prefs, "high", NOW) is None


def test_urgent_and_the_test_alert_are_never_held():
    """Even in quiet hours with a digest below urgent, an urgent alert or a test goes at once."""
    prefs = _prefs(quiet_start="22:00", quiet_end="07:00", digest_below="urgent")
    assert plan_hold(prefs, "urgent", NOW) is None
    assert plan_hold(prefs, "normal", NOW, test=True) is None
    assert plan_hold(prefs, "normal", NOW)[0] == "digest"


def test_a_bad_zone_falls_back_to_utc():
    """A zone the machine does not know: quiet hours are read in UTC rather than dropped."""
    prefs = Preferences(person_id=1, username="j", timezone="Mars/Olympus", quiet_start="17:00",
                        quiet_end="19:00")
    assert plan_hold(prefs, "normal", NOW) == ("quiet", datetime(2026, 3, 2, 19, 0, tzinfo=UTC))


# --- through the outbox and the scheduler -------------------------------------------------

def _form(**over):
    form = {"events": ["new_ticket", "urgent_high"], "min_priority": "low", "destination": "gchat",
            "gchat_url": "", "email": "", "timezone": "Asia/Kolkata", "quiet_start": "",
            "quiet_end": "", "digest_below": "", "digest_at": "09:00", "tags": ""}
    form.update(over)
    return form


def _person(app, user, **over):
    client = app.test_client()
    sign_in(client, provider(user=user), user)
    token = csrf(client.get("/me").get_data(as_text=True))
    assert client.post("/me", data={**_form(**over), "csrf_token": token}).status_code in (200, 302, 303)
    return client


def _drain(worker, limit=50):
    for _ in range(limit):
        if not worker.run_once():
            return
    raise AssertionError("the outbox did not drain")


@pytest.fixture
def site(tmp_path, monkeypatch):
    settings = web_settings(tmp_path)
    app, store = web_app(settings)
    folder = tmp_path / "no-rules"
    folder.mkdir(exist_ok=True)
    (folder / "10-subscribers.yaml").write_text(RULES)
    processor = Processor(settings, store, load_rules_holder(settings, store))
    clock = {"now": NOW}
    monkeypatch.setattr(subscribers, "utcnow", lambda: clock["now"])   # the fan-out's clock
    worker = DeliveryWorker(settings, store, sleep=lambda s: None)
    return settings, store, app, processor, worker, clock


def _new_ticket(store, processor, priority=None):
    from syncd.store import deliveries
    for name in ("topic_created", "post_created"):
        headers, raw = signed_sample(name)
        with transaction(store.db()) as conn:
            deliveries.store(conn, headers, raw, 1234)
    while processor.run_once():
        pass
    if priority:
        with transaction(store.db()) as conn:
            conn.execute("UPDATE outbox SET params = json_set(params, '$.ticket.priority', ?) "
                         f"WHERE {CHANNEL} = 'subscribers'", (priority,))


def _alerts(store):
    return store.db().conn.execute(
        f"SELECT {CHANNEL}, status, hold_kind, hold_until FROM outbox "
        f"WHERE {CHANNEL} LIKE 'person:%' ORDER BY id").fetchall()


def test_quiet_hours_and_digest_hold_alerts_and_the_scheduler_sends_each_once(site):
    """Jane (quiet 22:00-07:00) gets her alert at 07:00; Bob (digest below high at 09:00)
    gets one digest at 09:00; a second scheduler pass and a crash-retry send nothing more."""
    settings, store, app, processor, worker, clock = site
    with ChatStandIn() as jane_space, ChatStandIn(key="bob-key") as bob_space:
        _person(app, JANE, gchat_url=jane_space.url, quiet_start="22:00", quiet_end="07:00")
        _person(app, BOB, gchat_url=bob_space.url, digest_below="high", digest_at="09:00")
        _new_ticket(store, processor)
        _drain(worker)
        assert jane_space.messages == [] and bob_space.messages == []
        assert _alerts(store) == [
            ("person:42", "held", "quiet", "2026-03-03T01:30:00.000000Z"),
            ("person:43", "held", "digest", "2026-03-03T03:30:00.000000Z")]
        page = app.test_client()
        sign_in(page, provider(user=BOB), BOB)
        assert "waits for the digest" in page.get("/me").get_data(as_text=True)
        sched = Scheduler(settings, store, processor)
        sched.run_once(datetime(2026, 3, 3, 1, 29, tzinfo=UTC))
        assert [a[1] for a in _alerts(store)] == ["held", "held"]
        sched.run_once(datetime(2026, 3, 3, 1, 30, 1, tzinfo=UTC))
        _drain(worker)
        assert len(jane_space.messages) == 1 and bob_space.messages == []
        sched.run_once(datetime(2026, 3, 3, 3, 30, 1, tzinfo=UTC))
        sched.run_once(datetime(2026, 3, 3, 3, 30, 2, tzinfo=UTC))     # nothing left to gather
        _drain(worker)
        assert len(bob_space.messages) == 1 and len(jane_space.messages) == 1
        card = json.dumps(bob_space.messages[0])
        assert "1 held notification" in card and bob_space.invalid == []
        assert [a[1] for a in _alerts(store)] == ["sent", "digested", "sent"]
        with transaction(store.db()) as tx:   # the fan-out taken again after a crash
            tx.execute(f"UPDATE outbox SET status = 'pending' WHERE {CHANNEL} = 'subscribers'")
        _drain(worker)
        assert len(_alerts(store)) == 3 and len(bob_space.messages) == 1
        page = _person(app, BOB, gchat_url="").get("/me").get_data(as_text=True)
        assert "digested" in page


def test_an_urgent_alert_goes_at_once_in_quiet_hours(site):
    """Quiet hours and a digest below urgent: an urgent ticket's alert is not held."""
    settings, store, app, processor, worker, clock = site
    with ChatStandIn() as jane_space:
        _person(app, JANE, gchat_url=jane_space.url, quiet_start="22:00", quiet_end="07:00",
                digest_below="urgent")
        _new_ticket(store, processor, priority="urgent")
        _drain(worker)
        assert len(jane_space.messages) == 1
        assert [a[1] for a in _alerts(store)] == ["sent"]


def test_the_test_alert_goes_at_once_in_quiet_hours(site):
    """The test alert is sent while the person's quiet hours are on (it is never held)."""
    settings, store, app, processor, worker, clock = site
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")
    with ChatStandIn() as jane_space:
        client = _person(app, JANE, gchat_url=jane_space.url, timezone="UTC",
                         quiet_start=start, quiet_end=end)
        client.post("/me/test", data={"csrf_token": csrf(client.get("/me").get_data(as_text=True))})
        _drain(worker)
        assert len(jane_space.messages) == 1


def test_a_digest_by_email_lists_each_held_alert():
    """The digest's plain text (email and PM) has one line a held alert with its link."""
    params = {"channel": "person:42", "text": "Digest: 2 notifications", "digest": [
        {"id": 7, "title": "Printer", "priority": "low", "url": "https://f.example/t/7"},
        {"id": 8, "title": "Wi-Fi", "priority": "normal", "url": None, "text": "a reply"}]}
    text = subscribers._text(params)
    assert "- [low] #7 Printer: https://f.example/t/7" in text
    assert "- [normal] #8 Wi-Fi" in text and "a reply" in text
    assert subscribers._subject(params) == "[syncd] Digest: 2 notifications"
