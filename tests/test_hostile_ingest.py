"""Issue 18, findings 1, 2 and 7: hostile deliveries get 400, never 5xx, never a dead writer."""
from __future__ import annotations

import json
import threading

import pytest

from syncd.errors import PayloadError, StorageError
from syncd.inbox.http import Receiver, create_app
from syncd.inbox.writer import IngestWriter
from syncd.replay import signed
from syncd.service import prepare

from conftest import SECRET, make_settings, sample, sample_body, signed_sample


@pytest.fixture
def env(tmp_path):
    settings = make_settings(tmp_path)
    store, secret = prepare(settings)
    writer = IngestWriter(store)
    client = create_app(Receiver(settings, store, secret, writer=writer)).test_client()
    yield store, writer, client
    writer.close()


def post(client, headers, raw):
    return client.post("/webhooks/discourse", data=raw, headers=headers)


def raw_signed(name: str, raw: bytes, event_id: str = "777", event: str | None = None,
               kind: str | None = None):
    headers, _ = sample(name)
    headers = {**headers, "X-Discourse-Event-Id": event_id}
    if event:
        headers["X-Discourse-Event"] = event
    if kind:
        headers["X-Discourse-Event-Type"] = kind
    return signed(headers, raw, SECRET), raw


def count(store):
    return store.db().conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]


SEEDS = [
    ("topic_created", b'{"topic":{"id":9223372036854775808,"category_id":5}}'),
    ("topic_created", b'{"topic":{"id":Infinity,"category_id":5}}'),
    ("topic_created", b'{"topic":{"id":NaN,"category_id":5}}'),
    ("topic_created", b'{"topic":{"id":1e400,"category_id":5}}'),
    ("topic_created", b'{"topic":{"id":12,"category_id":1e400}}'),
    ("topic_created", b'[' * 1000 + b']' * 1000),
    ("topic_created", b'{"a":' * 5000 + b'1' + b'}' * 5000),
    ("topic_created", b'{"topic":{"id":0,"category_id":5}}'),
    ("topic_created", b'{"topic":{"id":-3,"category_id":5}}'),
    ("topic_created", b'{"topic":{"id":true,"category_id":5}}'),
    ("topic_created", b'{"topic":{"id":12,"category_id":5,"title":["a"]}}'),
    ("topic_created", b'{"topic":{"id":12,"category_id":5,"title":{"x":1}}}'),
    ("topic_created", b'{"topic":{"id":12,"category_id":5,"title":"\\ud800"}}'),
    ("topic_created", b'{"topic":{"id":12,"category_id":5,"created_at":"0"}}'),
    ("topic_created", b'{"topic":{"id":12,"category_id":5,"created_at":"now"}}'),
    ("topic_created", b'{"topic":{"id":12,"category_id":5,"like_count":9223372036854775808}}'),
    ("topic_created", b'{"topic":{"id":12,"category_id":5,"tags":"a,b,c"}}'),
    ("post_liked", b'{"like":{"post":null,"user":{"id":1}}}'),
    ("post_liked", b'{"like":{"post":"x","user":{"id":1}}}'),
    ("post_liked", b'{"like":{"post":[1],"user":{"id":1}}}'),
    ("post_liked", b'{"like":{"post":7,"user":{"id":1}}}'),
    ("post_created", b'{"post":{"id":5,"topic_id":12,"category_id":5,"category_slug":NaN}}'),
    ("post_created", b'{"post":{"id":5,"topic_id":12,"category_id":5,"raw":["x"]}}'),
]


@pytest.mark.parametrize("name,raw", SEEDS)
def test_hostile_bodies_are_400_and_store_nothing(env, name, raw):
    """Each finding's minimal body, signed: 400 with a JSON reason, no row, writer alive."""
    store, writer, client = env
    r = post(client, *raw_signed(name, raw))
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.get_json()["status"] == "error"
    assert count(store) == 0
    assert writer.alive


def test_event_header_and_payload_type_must_agree(env):
    """X-Discourse-Event post_created with type topic: 400, not an AssertionError later."""
    store, _, client = env
    raw = json.dumps(sample_body("topic_created")).encode()
    r = post(client, *raw_signed("topic_created", raw, event="post_created", kind="topic"))
    assert r.status_code == 400
    assert "post_created" in r.get_json()["error"]
    assert count(store) == 0


def test_non_ascii_signature_is_401_not_500(env):
    """A signature header with a non-ASCII character needs no secret: it must be a 401."""
    store, _, client = env
    headers, raw = signed_sample("topic_created")
    headers = {**headers, "X-Discourse-Event-Signature": "sha256=é" + "0" * 63}
    r = post(client, headers, raw)
    assert r.status_code == 401
    assert count(store) == 0


def test_every_recorded_delivery_still_passes_validation(env):
    """The real deliveries in webhooks/ are all accepted or ignored, none refused."""
    from conftest import WEBHOOKS
    _, _, client = env
    for path in sorted(WEBHOOKS.glob("*.json")):
        r = post(client, *signed_sample(path.stem))
        assert r.status_code in (200, 202), (path.name, r.get_json())


def test_one_delivery_the_database_refuses_fails_alone(tmp_path, monkeypatch):
    """A batch where one delivery raises (not a sqlite3.Error): the others are committed
    and acknowledged, the culprit alone fails with PayloadError, the writer lives on."""
    from syncd.store import deliveries
    store, _ = prepare(make_settings(tmp_path))
    writer = IngestWriter(store)
    real = deliveries.insert_rows
    gate = threading.Event()

    def store_or_overflow(conn, batch):
        gate.wait(5)   # hold the first batch so the rest queue up behind it
        if any(b"poison" in values[5] for values in batch):   # as binding would refuse
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return real(conn, batch)
    monkeypatch.setattr(deliveries, "insert_rows", store_or_overflow)
    headers, _ = sample("topic_created")
    results: dict[int, object] = {}

    def send(i):
        body = json.dumps({"topic": {"id": i + 1, "n": "poison" if i == 7 else "ok"}}).encode()
        try:
            results[i] = writer.store_delivery({**headers, "X-Discourse-Event-Id": str(i)},
                                               body, i + 1)
        except (PayloadError, StorageError) as exc:
            results[i] = exc
    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert isinstance(results[7], PayloadError)
    ok = [i for i, r in results.items() if not isinstance(r, Exception)]
    assert sorted(ok) == [i for i in range(20) if i != 7]
    stored = {r[0] for r in store.db().conn.execute("SELECT topic_id FROM deliveries")}
    assert stored == {i + 1 for i in ok}       # every acknowledged delivery is there
    assert writer.alive
    assert not isinstance(writer.store_delivery({**headers, "X-Discourse-Event-Id": "x"},
                                                b'{"topic":{"id":99}}', 99), Exception)
    writer.close()


def test_a_dead_writer_shows_on_healthz_and_is_restarted(tmp_path):
    """If the writer thread is gone, /healthz says 503, and the next delivery restarts it."""
    settings = make_settings(tmp_path)
    store, secret = prepare(settings)
    writer = IngestWriter(store)
    writer._queue.put(None)          # end the thread the way close() does, behind its back
    writer._thread.join(5)
    client = create_app(Receiver(settings, store, secret, writer=writer)).test_client()
    r = client.get("/healthz")
    assert r.status_code == 503 and "dead" in r.get_json()["ingest_writer"]
    assert post(client, *signed_sample("topic_created")).status_code == 202
    assert writer.alive and writer.restarts == 1
    assert client.get("/healthz").status_code == 200
    writer.close()


def test_the_system_user_id_minus_one_is_accepted(env):
    """Discourse's system user is id -1 (discobot -2): user ids may be negative, other ids not."""
    store, _, client = env
    body = sample_body("post_created")
    body["post"]["user_id"] = -1
    assert post(client, *signed_sample("post_created", body=body)).status_code == 202
    body["post"]["id"] = -5
    assert post(client, *signed_sample("post_created", body=body, event_id="5")).status_code == 400


def test_plugin_payloads_are_checked_too(env):
    """discourse-topic-voting and discourse-assign payloads: ids and counts are checked."""
    _, _, client = env
    body = sample_body("topic_upvote")
    body["topic_voting"]["vote_count"] = 2 ** 63
    assert post(client, *signed_sample("topic_upvote", body=body)).status_code == 400
    body = sample_body("assigned")
    body["assign"]["topic_id"] = "x"
    assert post(client, *signed_sample("assigned", body=body)).status_code == 400
