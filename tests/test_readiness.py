"""/readyz: 200 when everything works, 503 with reasons; /healthz stays 200 for "up"."""
from __future__ import annotations

from syncd.clock import iso
from syncd.inbox.http import Receiver, create_app
from syncd.outbox.workers import health
from syncd.service import prepare
from syncd.store.db import transaction

from conftest import make_settings


def client_for(tmp_path):
    settings = make_settings(tmp_path)
    store, secret = prepare(settings)
    return store, create_app(Receiver(settings, store, secret, delivery_health=health)).test_client()


def refuse(store, name: str, status: int, error: str) -> None:
    """What a delivery worker records when a destination answers 401/403 (workers.py)."""
    with transaction(store.db()) as conn:
        conn.execute("INSERT INTO destination_health (name, ok, http_status, last_error, "
                     "action_id, since, updated_at) VALUES (?, 0, ?, ?, 1, ?, ?)",
                     (name, status, error, iso(), iso()))


def test_ready_when_everything_works(tmp_path):
    """Database reachable, nothing refusing, no reload state: 200 ready."""
    _, client = client_for(tmp_path)
    r = client.get("/readyz")
    assert (r.status_code, r.get_json()) == (200, {"status": "ready"})


def test_discourse_refusing_is_503_while_healthz_stays_200(tmp_path):
    """Discourse answering 403 (a revoked API key): /readyz 503 naming it; /healthz 200 degraded."""
    store, client = client_for(tmp_path)
    refuse(store, "discourse", 403, "403 Forbidden: invalid API key")
    r = client.get("/readyz")
    assert r.status_code == 503
    [reason] = r.get_json()["reasons"]
    assert reason.startswith("Discourse refuses (403)") and "invalid API key" in reason
    h = client.get("/healthz")
    assert h.status_code == 200 and h.get_json()["status"] == "degraded"


def test_channel_refusing_is_503(tmp_path):
    """A chat webhook answering 404 (deleted space): 503 naming the channel."""
    store, client = client_for(tmp_path)
    refuse(store, "staff", 404, "404 Not Found")
    reasons = client.get("/readyz").get_json()["reasons"]
    assert reasons[0].startswith("channel staff refuses (404)")


def test_database_unreachable_is_503(tmp_path):
    """A database that cannot be read: /readyz 503 with the reason."""
    store, client = client_for(tmp_path)
    store.db().conn.close()
    r = client.get("/readyz")
    assert r.status_code == 503 and "database unreachable" in r.get_json()["reasons"][0]
