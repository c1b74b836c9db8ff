"""Personal alerts: /me preferences, the test alert, and `notify: subscribers` through the
outbox to each person's own Chat space, a Discourse PM or email, exactly once."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timezone

import pytest
import structlog

from syncd.core.alerts import Occasion, Preferences, in_quiet_hours, kinds_of, masked, wants
from syncd.outbox.workers import DeliveryWorker
from syncd.processor import Processor
from syncd.service import load_rules_holder
from syncd.store.db import transaction

from conftest import signed_sample
from standins.discourse import DiscourseStandIn
from standins.gchat import ChatStandIn
from webkit import BOB, JANE, STUDENT, csrf, provider, sign_in, web_app, web_settings

CHANNEL = "json_extract(params, '$.channel')"
NEW_TICKET_RULES = """rules:
  - name: new-ticket-tells-subscribers
    on: topic_created
    then:
      - notify: subscribers
"""


def _form(**over):
    form = {"events": ["new_ticket", "urgent_high"], "min_priority": "low", "destination": "gchat",
            "gchat_url": "", "email": "", "timezone": "Asia/Kolkata", "quiet_start": "",
            "quiet_end": "", "digest_below": "", "digest_at": "09:00", "tags": ""}
    form.update(over)
    return form


def _save(client, **over):
    token = csrf(client.get("/me").get_data(as_text=True))
    return client.post("/me", data={**_form(**over), "csrf_token": token})


def _worker(settings, store, **kw):
    return DeliveryWorker(settings, store, sleep=lambda s: None, **kw)


def _drain(worker, limit=50):
    for _ in range(limit):
        if not worker.run_once():
            return
    raise AssertionError("the outbox did not drain")


@pytest.fixture
def site(tmp_path):
    settings = web_settings(tmp_path)
    app, store = web_app(settings)
    return settings, store, app


def _person(app, user):
    client = app.test_client()
    sign_in(client, provider(user=user), user)
    return client


# --- preferences (pure) ----------------------------------------------------------------

def _prefs(**kw):
    return Preferences(person_id=1, username="jane", destination="gchat",
                       gchat_url="https://chat.googleapis.com/x", **kw)


def _occasion(event="topic_created", **ticket):
    return Occasion(event=event, ticket={"id": 1, "priority": "normal", "category": "support",
                                         "tags": ["printer"], **ticket}, actor="alice")


def test_kinds_name_what_a_firing_stands_for():
    """A new urgent ticket is new and urgent; priority_changed to high is urgent_high."""
    assert kinds_of(_occasion(priority="urgent")) == {"new_ticket", "urgent_high"}
    assert kinds_of(Occasion("priority_changed", {"priority": "high"}, new="high")) == {"urgent_high"}
    assert kinds_of(Occasion("sla_breached", {})) == {"sla"}
    assert kinds_of(Occasion("priority_changed", {}, new="urgent", marked=("escalation",))) \
        == {"urgent_high", "escalation"}


def test_wants_filters_by_event_category_tag_and_priority():
    """Each filter narrows; empty lists mean every category and any tag."""
    assert wants(_prefs(), _occasion())
    assert not wants(_prefs(events=frozenset({"sla"})), _occasion())
    assert not wants(_prefs(categories=("grades",)), _occasion())
    assert wants(_prefs(categories=("support",)), _occasion())
    assert not wants(_prefs(tags=("network",)), _occasion())
    assert wants(_prefs(tags=("Printer",)), _occasion())
    assert not wants(_prefs(min_priority="high"), _occasion())
    assert wants(_prefs(min_priority="high"), _occasion(priority="urgent"))
    assert not wants(replace(_prefs(), destination="none"), _occasion())


def test_replies_only_on_tickets_i_answered_or_am_assigned_and_never_my_own():
    """reply_mine: a post on a ticket I posted in or am assigned to, not by me."""
    mine = _prefs(events=frozenset({"reply_mine"}))
    post = Occasion("post_created", {"priority": "normal"}, actor="alice",
                    participants=frozenset({"jane"}))
    assert wants(mine, post)
    assert not wants(mine, replace(post, participants=frozenset()))
    assert wants(mine, replace(post, participants=frozenset(), ticket={"assignee": "jane"}))
    assert not wants(mine, replace(post, actor="jane"))
    group = replace(post, participants=frozenset(),
                    ticket={"assignee": "Support-Team", "assignee_type": "group"})
    assert not wants(mine, group)
    assert wants(replace(mine, groups=("support-team",)), group)


def test_quiet_hours_span_midnight_in_the_persons_zone():
    """22:00-07:00 in Asia/Kolkata: 23:30 IST is quiet, 12:00 IST is not (stored, not applied yet)."""
    prefs = _prefs(timezone="Asia/Kolkata", quiet_start="22:00", quiet_end="07:00")
    assert in_quiet_hours(prefs, datetime(2026, 3, 2, 18, 0, tzinfo=timezone.utc))    # 23:30
    assert not in_quiet_hours(prefs, datetime(2026, 3, 2, 6, 30, tzinfo=timezone.utc))  # 12:00


def test_masked_webhook_keeps_no_key_or_token():
    """What /me shows back of a saved webhook: host and a bit of the space only."""
    shown = masked("https://chat.googleapis.com/v1/spaces/AAAAxyz/messages?key=K123&token=T456")
    assert "K123" not in shown and "T456" not in shown and "chat.googleapis.com" in shown


# --- /me ---------------------------------------------------------------------------------

def test_preferences_are_saved_and_the_webhook_is_never_shown_back(site):
    """Saved settings come back on /me; the webhook's key and token never appear again."""
    settings, store, app = site
    client = _person(app, JANE)
    url = "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=SECRETKEY&token=SECRETTOKEN"
    with structlog.testing.capture_logs() as logged:
        r = _save(client, gchat_url=url, categories=["support"], tags="printer, Network",
                  min_priority="normal", quiet_start="22:00", quiet_end="07:00", digest_below="high")
    assert r.status_code == 303
    page = client.get("/me?done=saved").get_data(as_text=True)
    assert "SECRETKEY" not in page and "SECRETTOKEN" not in page and "key and token hidden" in page
    assert "SECRET" not in json.dumps(logged, default=str)
    row = store.db().conn.execute("SELECT categories, tags, min_priority, quiet_start, "
                                  "digest_below, gchat_url FROM alert_preferences").fetchone()
    assert row == ('["support"]', '["printer", "network"]', "normal", "22:00", "high", url)
    assert _save(client).status_code == 303           # empty field: the saved URL is kept
    assert store.db().conn.execute("SELECT gchat_url FROM alert_preferences").fetchone()[0] == url


def test_bad_input_is_explained_and_nothing_saved(site):
    """A webhook on another host, a bad email or half quiet hours: 400 with each reason."""
    _, store, app = site
    client = _person(app, JANE)
    r = _save(client, gchat_url="https://evil.example/hook?key=a&token=b", email="not-an-email",
              quiet_start="22:00")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "chat.googleapis.com" in html
    assert "not an email address" in html and "both a start and an end" in html
    assert store.db().conn.execute("SELECT COUNT(*) FROM alert_preferences").fetchone()[0] == 0


def test_test_alert_goes_through_the_outbox_to_my_chat_space(site):
    """The button writes an outbox row; a delivery worker posts a valid card to my space."""
    settings, store, app = site
    with ChatStandIn() as chat:
        client = _person(app, JANE)
        assert _save(client, gchat_url=chat.url, timezone="America/New_York").status_code == 303
        token = csrf(client.get("/me").get_data(as_text=True))
        assert client.post("/me/test", data={"csrf_token": token}).status_code == 303
        assert client.post("/me/test", data={"csrf_token": token}).status_code == 303  # twice
        assert store.db().conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
        row = store.db().conn.execute("SELECT kind, ticket_id, params FROM outbox").fetchone()
        assert row[:2] == ("notify", -42) and chat.key not in row[2]
        assert json.loads(row[2])["channel"] == "person:42"
        _drain(_worker(settings, store))
        assert len(chat.messages) == 1 and chat.invalid == []
        assert "Test alert for @jane" in chat.messages[0]["text"]
        assert re.search(r"\d\d:\d\d E[SD]T", json.dumps(chat.messages[0]["cardsV2"]))  # her zone
        assert "Last test alert: <strong>sent</strong>" in client.get("/me").get_data(as_text=True)


def test_test_alert_needs_somewhere_to_go(site):
    """Before a destination is saved, the button explains instead of queueing nothing."""
    _, store, app = site
    client = _person(app, JANE)
    token = csrf(client.get("/me").get_data(as_text=True))
    r = client.post("/me/test", data={"csrf_token": token})
    assert r.status_code == 400 and "Choose where alerts go" in r.get_data(as_text=True)
    assert store.db().conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_a_revoked_personal_webhook_is_dead_with_the_reason_and_health_stays_ok(site):
    """401 from my space: the alert is dead, /me says why, /healthz is not degraded by it."""
    settings, store, app = site
    with ChatStandIn() as chat:
        client = _person(app, JANE)
        _save(client, gchat_url=chat.url)
        chat.revoked = True
        client.post("/me/test", data={"csrf_token": csrf(client.get("/me").get_data(as_text=True))})
        _drain(_worker(settings, store))
        page = client.get("/me").get_data(as_text=True)
        assert "<strong>dead</strong>" in page and "update its url" in page and chat.token not in page
        assert client.get("/healthz").get_json()["status"] == "ok"


# --- notify: subscribers -----------------------------------------------------------------

def _processor(settings, store, tmp_path, rules=NEW_TICKET_RULES):
    folder = tmp_path / "no-rules"
    folder.mkdir(exist_ok=True)
    (folder / "10-subscribers.yaml").write_text(rules)
    return Processor(settings, store, load_rules_holder(settings, store))


def _deliver_new_ticket(store, processor):
    from syncd.store import deliveries
    for name in ("topic_created", "post_created"):
        headers, raw = signed_sample(name)
        with transaction(store.db()) as conn:
            deliveries.store(conn, headers, raw, 1234)
    while processor.run_once():
        pass


def test_notify_subscribers_sends_one_alert_to_each_matching_person_once(site, tmp_path):
    """Jane (new tickets) and Bob (urgent only), a student: only Jane's space hears of it;
    a fan-out taken again after a crash adds nobody twice."""
    settings, store, app = site
    with ChatStandIn() as jane_space, ChatStandIn(key="bob-key") as bob_space:
        _save(_person(app, JANE), gchat_url=jane_space.url)
        _save(_person(app, BOB), gchat_url=bob_space.url, events=["urgent_high"])
        _person(app, STUDENT)
        _deliver_new_ticket(store, _processor(settings, store, tmp_path))
        worker = _worker(settings, store)
        _drain(worker)
        assert len(jane_space.messages) == 1 and bob_space.messages == []
        card = jane_space.messages[0]
        assert jane_space.invalid == [] and card["thread"]["threadKey"] == "syncd-ticket-1234"
        conn = store.db().conn
        fan = conn.execute(f"SELECT id FROM outbox WHERE {CHANNEL} = 'subscribers'").fetchone()[0]
        with transaction(store.db()) as tx:   # as if the worker died before marking it sent
            tx.execute("UPDATE outbox SET status = 'pending' WHERE id = ?", (fan,))
            tx.execute("UPDATE outbox SET status = 'pending', attempts = 1, "
                       f"last_error = 'crashed' WHERE {CHANNEL} = 'person:42'")
        _drain(worker)
        assert len(jane_space.messages) == 1 and jane_space.requests == 2   # Chat dedupes by requestId
        assert conn.execute(f"SELECT COUNT(*) FROM outbox WHERE {CHANNEL} LIKE 'person:%'"
                            ).fetchone()[0] == 1
        page = _person(app, JANE).get("/me").get_data(as_text=True)   # listed on her /me
        assert "My recent alerts" in page and 'href="/tickets/1234"' in page


def test_a_personal_message_alert_is_sent_once_through_discourse(tmp_path):
    """destination pm: a private message to the person, external_id from the action."""
    with DiscourseStandIn() as forum:
        settings = web_settings(tmp_path, forum=forum.base_url)
        settings = replace(settings, discourse=replace(settings.discourse, api_key="test-api-key"))
        app, store = web_app(settings)
        client = _person(app, JANE)
        _save(client, destination="pm")
        client.post("/me/test", data={"csrf_token": csrf(client.get("/me").get_data(as_text=True))})
        from syncd.discourse.gateway import DiscourseGateway
        _drain(_worker(settings, store, gateway=DiscourseGateway(settings)))
        posts = [b for m, p, q, b in forum.log if m == "POST" and p == "/posts.json"]
        assert len(posts) == 1
        assert posts[0]["archetype"] == "private_message" and posts[0]["target_recipients"] == "jane"
        assert posts[0]["external_id"].startswith("syncd-")


def test_an_email_alert_reaches_the_mail_server(tmp_path):
    """destination email: one message to the person's address, with a stable Message-ID."""
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.mails = []

        async def handle_DATA(self, server, session, envelope):
            self.mails.append(envelope)
            return "250 OK"

    import socket
    with socket.socket() as probe:   # a free port: aiosmtpd's start() checks it can connect
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        settings = web_settings(tmp_path, extra=f"  smtp_host: 127.0.0.1\n  smtp_port: {port}\n"
                                "  smtp_starttls: false\n  email_from: helpdesk@example.edu\n")
        app, store = web_app(settings)
        client = _person(app, JANE)
        assert _save(client, destination="email", email="jane@example.edu").status_code == 303
        client.post("/me/test", data={"csrf_token": csrf(client.get("/me").get_data(as_text=True))})
        _drain(_worker(settings, store))
        assert len(inbox.mails) == 1 and inbox.mails[0].rcpt_tos == ["jane@example.edu"]
        text = inbox.mails[0].content.decode()
        assert "Subject: [syncd] test alert" in text and "Message-ID: <syncd-alert-" in text
    finally:
        smtp.stop()


def test_someone_who_left_the_staff_group_gets_no_more_alerts(site, tmp_path):
    """Bob got in through support-team; once the group read from Discourse no longer lists
    him, the fan-out leaves him out (moderators are unaffected)."""
    settings, store, app = site
    from syncd.store import people
    _save(_person(app, JANE), destination="pm")
    _save(_person(app, BOB), destination="pm")
    conn = store.db().conn
    assert [p.username for p in people.subscribers(conn)] == ["jane", "bob"]
    with transaction(store.db()) as tx:
        tx.execute("INSERT INTO staff_members VALUES ('carol', 'support-team', '2026-03-02')")
    assert [p.username for p in people.subscribers(conn)] == ["jane"]


def test_rules_accept_notify_subscribers_and_check_as(tmp_path):
    """notify: subscribers needs no channel of that name; an unknown `as` kind is refused."""
    from syncd.errors import RuleError
    from syncd.rules import load_rules
    good = tmp_path / "good.yaml"
    good.write_text(NEW_TICKET_RULES.replace("- notify: subscribers",
                                             "- notify: {channel: subscribers, as: escalation}"))
    assert load_rules(str(good), ["staff"], {}).rules
    bad = tmp_path / "bad.yaml"
    bad.write_text(NEW_TICKET_RULES.replace("- notify: subscribers",
                                            "- notify: {channel: subscribers, as: gossip}"))
    with pytest.raises(RuleError, match="bad.yaml"):
        load_rules(str(bad), ["staff"], {})


def test_default_rules_alert_subscribers_of_an_urgent_new_ticket(tmp_path):
    """The shipped rules: an urgent new ticket reaches Bob, who asked for urgent ones only,
    as an escalation (and Jane, who wants new tickets, hears of it being new)."""
    import shutil
    from conftest import ROOT, sample_body
    from syncd.outbox.workers import make_workers
    from syncd.store import deliveries
    settings = web_settings(tmp_path, extra="channels:\n  staff: {type: log}\n"
                            "  escalations: {type: log}\n")
    app, store = web_app(settings)
    (tmp_path / "no-rules").mkdir()
    for name in ("20-new-tickets.yaml", "30-priority.yaml", "40-escalations.yaml"):
        shutil.copy(ROOT / "rules" / name, tmp_path / "no-rules" / name)
    with ChatStandIn() as jane_space, ChatStandIn(key="bob-key") as bob_space:
        _save(_person(app, JANE), gchat_url=jane_space.url, events=["new_ticket"])
        _save(_person(app, BOB), gchat_url=bob_space.url, events=["urgent_high"])
        processor = Processor(settings, store, load_rules_holder(settings, store))
        for name in ("topic_created", "post_created"):
            body = sample_body(name)
            if name == "topic_created":
                body["topic"]["title"] = "URGENT: locked out before my exam"
            headers, raw = signed_sample(name, body=body)
            with transaction(store.db()) as conn:
                deliveries.store(conn, headers, raw, 1234)
        while processor.run_once():
            pass
        worker = make_workers(replace(settings, discourse=replace(settings.discourse, url="")),
                              store)[0]
        worker.sleep = lambda s: None
        _drain(worker)
        assert len(jane_space.messages) == 1 and len(bob_space.messages) == 1
        assert "escalation" in bob_space.messages[0]["text"].lower()


def test_an_alert_to_a_space_that_is_down_is_retried_until_delivered(site):
    """503 from my space: the alert waits with the reason, then goes once the space is back."""
    from datetime import timedelta
    from syncd.clock import utcnow
    settings, store, app = site
    with ChatStandIn() as chat:
        client = _person(app, JANE)
        _save(client, gchat_url=chat.url)
        chat.down = True
        client.post("/me/test", data={"csrf_token": csrf(client.get("/me").get_data(as_text=True))})
        worker = _worker(settings, store)
        assert worker.run_once()
        row = store.db().conn.execute("SELECT status, last_error FROM outbox").fetchone()
        assert row[0] == "pending" and "503" in row[1] and chat.key not in row[1]
        chat.down = False
        assert worker.run_once(now=utcnow() + timedelta(minutes=5))
        assert len(chat.messages) == 1
        assert store.db().conn.execute("SELECT status FROM outbox").fetchone()[0] == "sent"


def test_the_authors_reply_reaches_the_staff_member_who_answered(tmp_path):
    """Shipped rules: Jane answered ticket 1234; the author's next post alerts Jane (who
    asked for replies), not Bob (who did not post in it)."""
    import shutil
    from conftest import ROOT
    from syncd.store import deliveries
    settings = web_settings(tmp_path)
    app, store = web_app(settings)
    (tmp_path / "no-rules").mkdir()
    shutil.copy(ROOT / "rules" / "25-replies.yaml", tmp_path / "no-rules")
    with ChatStandIn() as jane_space, ChatStandIn(key="bob-key") as bob_space:
        _save(_person(app, JANE), gchat_url=jane_space.url, events=["reply_mine"])
        _save(_person(app, BOB), gchat_url=bob_space.url, events=["reply_mine"])
        processor = Processor(settings, store, load_rules_holder(settings, store))
        for name, user in (("topic_created", None), ("post_created", None),
                           ("post_created_reply", "jane"), ("post_created_reply", "alice")):
            body = _as_reply(name, user)
            headers, raw = signed_sample(name, body=body,
                                         event_id=f"{name}-{user}" if user else None)
            with transaction(store.db()) as conn:
                deliveries.store(conn, headers, raw, 1234)
        while processor.run_once():
            pass
        _drain(_worker(settings, store))
        assert len(jane_space.messages) == 1 and bob_space.messages == []


def _as_reply(name, user):
    """A recorded delivery; for a reply, posted by ``user`` (jane: staff; alice: the author)."""
    from conftest import sample_body
    body = sample_body(name)
    if user is None:
        return body
    post = body["post"]
    post.update(username=user, user_id=42 if user == "alice" else 7,   # alice: the author (42)
                id=post["id"] + (1 if user == "jane" else 2),
                post_number=post["post_number"] + (0 if user == "jane" else 1))
    post["staff"] = post["moderator"] = post["admin"] = user == "jane"
    post["primary_group_name"] = None
    return body
