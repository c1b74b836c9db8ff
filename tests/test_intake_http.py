"""POST /intake/teams, POST /intake/form, GET /intake/{id}: the contract's Intake table,
through Flask's test client over a real SQLite file."""
from __future__ import annotations

import base64
import json
import sqlite3

import pytest

from syncd.inbox.http import Receiver, create_app
from syncd.inbox.teams import sign
from syncd.outbox import queue as outbox
from syncd.service import prepare

from conftest import make_settings

TEAMS_TOKEN = base64.b64encode(b"made-up teams token, 32 bytes!!!").decode()
FORM_TOKEN = "made-up-form-token-0123456789"
INTAKE = ("intake:\n"
          f"  teams: {{security_token: '{TEAMS_TOKEN}'}}\n"
          f"  form: {{token: {FORM_TOKEN}}}\n"
          "  category: support\n"
          "  categories_by_priority: {urgent: hardware}\n")
TITLE = "VPN drops every ten minutes"
BEARER = {"Authorization": f"Bearer {FORM_TOKEN}"}


@pytest.fixture
def env(tmp_path):
    settings = make_settings(tmp_path, INTAKE, categories="[support, hardware]")
    store, secret = prepare(settings)
    client = create_app(Receiver(settings, store, secret)).test_client()
    return settings, store, client


def activity(text: str, activity_id: str = "1759944781430") -> bytes:
    """A Teams outgoing-webhook Activity (fields of MicrosoftDocs' channel-message example)."""
    return json.dumps({
        "type": "message", "id": activity_id, "timestamp": "2026-12-01T09:00:00.000Z",
        "serviceUrl": "https://smba.trafficmanager.net/amer/", "channelId": "msteams",
        "from": {"id": "29:1abc", "name": "Jane Smith", "aadObjectId": "b15a9416"},
        "conversation": {"id": "19:abc@thread.tacv2;messageid=1", "conversationType": "channel"},
        "recipient": {"id": "28:0b6f", "name": "Helpdesk"}, "textFormat": "plain",
        "text": f"<at>Helpdesk</at> {text}",
        "entities": [{"type": "mention", "text": "<at>Helpdesk</at>",
                      "mentioned": {"id": "28:0b6f", "name": "Helpdesk"}}]},
        separators=(",", ":")).encode()


def teams(client, body: bytes, header: str | None = "sign"):
    headers = {"Content-Type": "application/json"}
    if header == "sign":
        headers["Authorization"] = sign(TEAMS_TOKEN, body)
    elif header:
        headers["Authorization"] = header
    return client.post("/intake/teams", data=body, headers=headers)


def count(store, table="intakes"):
    return store.db().conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


GOOD_TEXT = f"Title: {TITLE}\nPriority: urgent\nDescription: Since 9am.\nAll of floor 3."


def test_teams_message_is_stored_then_answered(env):
    """Valid HMAC, readable text: 200 message with title and priority, already committed
    with its topic action in the urgent category."""
    _, store, client = env
    r = teams(client, activity(GOOD_TEXT))
    assert r.status_code == 200
    reply = r.get_json()
    assert reply["type"] == "message" and TITLE in reply["text"] and "urgent" in reply["text"]
    assert "on its way" in reply["text"]
    other = sqlite3.connect(store.path)   # another connection sees it: committed
    row = other.execute("SELECT source, title, priority, description, requester_name, category, "
                        "external_id FROM intakes").fetchone()
    assert row == ("teams", TITLE, "urgent", "Since 9am.\nAll of floor 3.", "Jane Smith",
                   "hardware", "1759944781430")
    action = other.execute("SELECT ticket_id, kind, status, params FROM outbox").fetchone()
    assert action[:3] == (-1, "create_intake_topic", "pending")
    assert json.loads(action[3])["external_id"] == "intake-1"


def test_teams_text_not_readable_gets_the_format_and_stores_nothing(env):
    """200 message naming what is wrong and showing the format; no intake, no action."""
    _, store, client = env
    r = teams(client, activity("my printer is broken, help"))
    assert r.status_code == 200
    text = r.get_json()["text"]
    assert "no Title: or Description:" in text and "Priority:" in text
    assert count(store) == 0 and count(store, "outbox") == 0


@pytest.mark.parametrize("header", [None, "HMAC AAAA", "Bearer x",
                                    sign(base64.b64encode(b"o" * 32).decode(), b"{}")])
def test_teams_bad_or_missing_hmac_is_401_and_nothing_stored(env, header):
    """Missing, malformed or foreign signatures: 401, nothing stored."""
    _, store, client = env
    r = teams(client, activity(GOOD_TEXT), header)
    assert r.status_code == 401 and r.get_json()["status"] == "error"
    assert count(store) == 0


def test_teams_same_activity_twice_is_stored_once(env):
    """The Activity id dedupes: the second answer says it was already received."""
    _, store, client = env
    body = activity(GOOD_TEXT)
    teams(client, body)
    r = teams(client, body)
    assert r.status_code == 200 and "already received" in r.get_json()["text"]
    assert count(store) == 1 and count(store, "outbox") == 1


def test_teams_body_not_json_is_400_after_the_hmac(env):
    """A signed body that is not JSON: 400 with a JSON error."""
    _, _, client = env
    r = teams(client, b"not json")
    assert r.status_code == 400 and "JSON" in r.get_json()["error"]


def test_teams_and_form_bodies_over_the_limit_are_413(env):
    """Over server.max_body_bytes: 413, nothing stored."""
    settings, store, client = env
    big = b"x" * (settings.server.max_body_bytes + 1)
    assert teams(client, big, "HMAC x").status_code == 413
    assert client.post("/intake/form", data=big, headers=BEARER).status_code == 413
    assert count(store) == 0


def test_intake_without_tokens_is_off(tmp_path):
    """No tokens configured: 503 saying which key turns the endpoint on."""
    settings = make_settings(tmp_path)
    store, secret = prepare(settings)
    client = create_app(Receiver(settings, store, secret)).test_client()
    r = client.post("/intake/teams", data=activity(GOOD_TEXT), headers={"Authorization": "HMAC x"})
    assert r.status_code == 503 and "intake.teams.security_token" in r.get_json()["error"]
    r = client.post("/intake/form", json={}, headers=BEARER)
    assert r.status_code == 503 and "intake.form.token" in r.get_json()["error"]


FORM = {"title": TITLE, "priority": "high", "description": "Since 9am.",
        "requester": {"name": "Jane Smith", "email": "jane@example.edu"},
        "tags": ["vpn"], "external_id": "forms-response-17"}


def test_form_is_accepted_with_an_intake_id(env):
    """202 {"status": "accepted", "intake_id"}; stored with its action."""
    _, store, client = env
    r = client.post("/intake/form", json=FORM, headers=BEARER)
    assert (r.status_code, r.get_json()) == (202, {"status": "accepted", "intake_id": 1})
    row = store.db().conn.execute("SELECT source, priority, requester_email, category, tags "
                                  "FROM intakes").fetchone()
    assert row == ("form", "high", "jane@example.edu", "support", '["vpn"]')


def test_form_same_external_id_again_is_a_duplicate(env):
    """The same external_id: 200 duplicate with the first intake's id, stored once."""
    _, store, client = env
    client.post("/intake/form", json=FORM, headers=BEARER)
    r = client.post("/intake/form", json={**FORM, "title": TITLE + " again"}, headers=BEARER)
    assert (r.status_code, r.get_json()) == (200, {"status": "duplicate", "intake_id": 1})
    assert count(store) == 1


def test_form_invalid_fields_are_each_named(env):
    """400 {"status": "error", "errors": [{field, message}...]}; nothing stored."""
    _, store, client = env
    bad = {**FORM, "priority": "whenever", "requester": {"name": "Jane"}, "category": "payroll"}
    r = client.post("/intake/form", json=bad, headers=BEARER)
    assert r.status_code == 400
    body = r.get_json()
    assert body["status"] == "error"
    assert [e["field"] for e in body["errors"]] == ["priority", "requester.email", "category"]
    assert "support" in body["errors"][2]["message"]
    assert count(store) == 0


def test_form_body_not_json_is_400_naming_the_body(env):
    """Not JSON at all: 400 with one error for the body."""
    _, _, client = env
    r = client.post("/intake/form", data=b"{oops", headers=BEARER)
    assert r.status_code == 400 and r.get_json()["errors"][0]["field"] == "body"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-0123456789"},
                                     {"Authorization": FORM_TOKEN}])
def test_form_and_status_without_the_bearer_token_are_401(env, headers):
    """No or wrong bearer token: 401 for POST and GET, nothing stored."""
    _, store, client = env
    assert client.post("/intake/form", json=FORM, headers=headers).status_code == 401
    assert client.get("/intake/1", headers=headers).status_code == 401
    assert count(store) == 0


def test_status_follows_the_topic_action(env):
    """GET /intake/{id}: pending (with the last error while retrying), failed (dead, with the
    reason), created (with topic and ticket); 404 for an unknown id."""
    _, store, client = env
    client.post("/intake/form", json=FORM, headers=BEARER)
    view = client.get("/intake/1", headers=BEARER).get_json()
    assert (view["status"], view["topic_url"], view["ticket_id"], view["error"]) == \
        ("pending", None, None, None)
    db = store.db()
    action = outbox.claim(db, "test")
    outbox.retry_later(db, action, "cannot reach Discourse for POST /posts.json")
    assert client.get("/intake/1", headers=BEARER).get_json()["error"].startswith("cannot reach")
    outbox.retry(db, [action.id])
    action = outbox.claim(db, "test")
    outbox.dead(db, action, "Discourse refused POST /posts.json (422): Title is too short")
    view = client.get("/intake/1", headers=BEARER).get_json()
    assert view["status"] == "failed" and "Title is too short" in view["error"]
    with db.conn:
        db.conn.execute("UPDATE intakes SET topic_id = 1001, topic_url = 'https://f/t/x/1001', "
                        "ticket_id = 1001")
    view = client.get("/intake/1", headers=BEARER).get_json()
    assert (view["status"], view["topic_url"], view["ticket_id"], view["error"]) == \
        ("created", "https://f/t/x/1001", 1001, None)
    assert client.get("/intake/99", headers=BEARER).status_code == 404


def test_healthz_counts_intakes_by_state(env):
    """/healthz shows pending, created and failed intakes."""
    _, _, client = env
    client.post("/intake/form", json=FORM, headers=BEARER)
    teams(client, activity(GOOD_TEXT))
    assert client.get("/healthz").get_json()["intake"] == {"pending": 2, "created": 0, "failed": 0}


def test_without_a_discourse_url_the_intake_stays_pending_saying_dry_run(env):
    """Dry-run: the topic action is only recorded; GET /intake/1 says so."""
    from syncd.outbox.workers import make_workers
    settings, store, client = env
    client.post("/intake/form", json=FORM, headers=BEARER)
    assert make_workers(settings, store)[0].run_once()
    view = client.get("/intake/1", headers=BEARER).get_json()
    assert view["status"] == "pending" and "dry-run" in view["error"]


@pytest.mark.parametrize("text,problem", [
    ("intake:\n  teams: {security_token: 'not base64!'}\n", "intake.teams.security_token"),
    ("intake:\n  form: {token: short}\n", "at least 16 characters"),
    ("intake:\n  categories_by_priority: {hot: support}\n", "not 'hot'"),
    ("intake:\n  category: faq\n", "would never become tickets"),
    ("intake:\n  categories_by_priority: {urgent: faq}\n", "categories_by_priority.urgent"),
])
def test_intake_config_problems_name_the_key(tmp_path, text, problem):
    """Bad intake settings fail `syncd check` with the file, line and key; tokens hidden."""
    from syncd.errors import ConfigError
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, text)
    message = str(caught.value)
    assert problem in message and "config.yaml:" in message and "short'" not in message
