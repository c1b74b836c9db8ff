"""DiscourseGateway: requests as the API spec says, idempotent retries, pacing, errors."""
from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import jsonschema
import pytest
import requests
import responses

from conftest import online
from standins import reference
from syncd.discourse.gateway import DiscourseGateway
from syncd.errors import PermanentError, TransientError
from syncd.outbox.queue import Action
from syncd.outbox.pacing import TokenBucket

BASE = "https://forum.example.com"
JSON_CT = "application/json; charset=utf-8"
SPEC = json.loads(reference("discourse-openapi.json").read_text())
NOT_IN_SPEC = {("PUT", "/t/{id}/convert-topic/private"), ("PUT", "/t/{id}/convert-topic/public"),
               ("GET", "/about.json")}  # AboutController#index (config/routes.rb)
# Where the spec's types and Rails disagree, Rails wins: the spec types ``should_notify`` as a
# boolean, but TopicsController#invite_group reads ``params[:should_notify].blank?`` (JSON
# ``false`` is blank: it notifies), so syncd sends the string "false". Checked as the boolean.
AS_RAILS_READS = {("POST", "/t/{id}/invite-group.json"): {"should_notify": {"false": False}}}


def _template(method: str, path: str) -> str | None:
    for template, ops in SPEC["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(template)) + "$"
        if method.lower() in ops and re.match(pattern, path):
            return template
    for m, template in NOT_IN_SPEC:
        if m == method and re.match("^" + template.replace("{id}", r"\d+") + "$", path):
            return template
    return None


def assert_as_spec_says(calls) -> None:
    """Every request matches a path of the OpenAPI spec (or a documented gap) and its body
    validates against the spec's request schema; auth headers are always sent."""
    for call in calls:
        req = call.request
        path = urlsplit(req.url).path
        template = _template(req.method, path)
        assert template, f"{req.method} {path} is not in the spec"
        assert req.headers["Api-Key"] == "k" and req.headers["Api-Username"] == "system"
        if (req.method, template) in NOT_IN_SPEC or not req.body:
            continue
        assert req.headers["Content-Type"] == "application/json"
        operation = SPEC["paths"][template][req.method.lower()]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        body = json.loads(req.body)
        for key, meaning in AS_RAILS_READS.get((req.method, template), {}).items():
            if key in body:
                body[key] = meaning.get(body[key], body[key])
        jsonschema.Draft202012Validator(schema).validate(body)


@pytest.fixture
def gateway(settings):
    s = online(settings, BASE)
    from dataclasses import replace
    s = replace(s, discourse=replace(s.discourse, api_key="k", staff_groups=("support-team", "staff")))
    return DiscourseGateway(s, TokenBucket(60000, capacity=100))


def _action(kind, params, attempts=1, action_id=9, ticket_id=42):
    return Action(id=action_id, ticket_id=ticket_id, kind=kind, params=params, rule="r",
                  delivery_id=None, attempts=attempts, created_at="2026-03-02T09:14:08.000000Z")


def _topic(**extra):
    topic = {"id": 42, "title": "Printer on fire", "slug": "printer-on-fire", "category_id": 5,
             "archetype": "regular", "visible": True, "closed": False,
             "tags": [{"id": 3, "name": "printer", "slug": "printer"}],
             "post_stream": {"posts": [{"id": 500, "post_number": 1, "username": "alice"}],
                             "stream": [500]}, "details": {}}
    return {**topic, **extra}


def _expects():
    seen = []
    return seen, lambda kind, value: seen.append((kind, str(value)))


@responses.activate
def test_reply_posts_once_with_a_hidden_marker(gateway):
    """A first attempt posts raw + the action's marker as JSON, without reading the topic."""
    responses.post(f"{BASE}/posts.json", json={"id": 501, "post_number": 2}, content_type=JSON_CT)
    action = _action("reply", {"raw": "Thanks, looking into it."})
    result = gateway.perform(action, _expects()[1], retrying=False)
    assert result == {"post_id": 501, "post_number": 2}
    body = json.loads(responses.calls[0].request.body)
    assert body == {"topic_id": 42, "raw": f"Thanks, looking into it.\n\n<!-- syncd:action:{action.key} -->"}
    assert len(responses.calls) == 1
    assert_as_spec_says(responses.calls)


@responses.activate
def test_retried_reply_finds_its_marker_and_does_not_post_again(gateway):
    """On a retry the API user's recent posts are read; the marker found means no new post."""
    action = _action("reply", {"raw": "hi"}, attempts=2)
    responses.get(f"{BASE}/t/42.json", content_type=JSON_CT, json=_topic(
        post_stream={"posts": [{"id": 500, "post_number": 1, "username": "alice"}], "stream": [500, 777]}))
    responses.get(f"{BASE}/t/42/posts.json", content_type=JSON_CT,
                  json={"post_stream": {"posts": [{"id": 777, "username": "system"}]}})
    responses.get(f"{BASE}/posts/777.json", content_type=JSON_CT,
                  json={"id": 777, "raw": f"hi\n\n<!-- syncd:action:{action.key} -->"})
    result = gateway.perform(action, _expects()[1], retrying=True)
    assert result == {"post_id": 777, "already_posted": True}
    assert "post_ids%5B%5D=777" in responses.calls[1].request.url
    assert not [c for c in responses.calls if c.request.method == "POST"]
    assert_as_spec_says(responses.calls)


@responses.activate
def test_retried_reply_without_marker_posts(gateway):
    """A retry that finds no marker posts the reply."""
    responses.get(f"{BASE}/t/42.json", json=_topic(), content_type=JSON_CT)
    responses.get(f"{BASE}/t/42/posts.json", content_type=JSON_CT, json={"post_stream": {
        "posts": [{"id": 500, "post_number": 1, "username": "alice", "raw": "It burns"}]}})
    responses.post(f"{BASE}/posts.json", json={"id": 502, "post_number": 2}, content_type=JSON_CT)
    assert gateway.perform(_action("reply", {"raw": "hi"}, 2), _expects()[1], True)["post_id"] == 502


@responses.activate
def test_429_is_not_slept_on_and_pauses_the_budget(gateway):
    """A 429 raises TransientError with Retry-After at once (no pydiscourse sleep-retry) and
    pauses the shared bucket."""
    responses.post(f"{BASE}/posts.json", status=429, content_type=JSON_CT,
                   headers={"Retry-After": "42",
                            "Discourse-Rate-Limit-Error-Code": "admin_api_key_rate_limit"},
                   json={"errors": ["slow down"], "error_type": "rate_limit", "extras": {"wait_seconds": 42}})
    with pytest.raises(TransientError) as caught:
        gateway.perform(_action("reply", {"raw": "x"}), _expects()[1], False)
    assert caught.value.retry_after == 42 and len(responses.calls) == 1
    assert gateway.bucket.wait_needed() > 40


@responses.activate
def test_429_without_retry_after_uses_wait_seconds(gateway):
    """Without Retry-After, extras.wait_seconds says how long to wait."""
    responses.get(f"{BASE}/t/42.json", status=429, content_type=JSON_CT,
                  json={"errors": ["x"], "extras": {"wait_seconds": 13}})
    with pytest.raises(TransientError) as caught:
        gateway.topic(42)
    assert caught.value.retry_after == 13


@responses.activate
def test_403_names_the_missing_scope(gateway):
    """A 403 is permanent and names the API-key scope the call needs."""
    responses.put(f"{BASE}/t/42/status.json", status=403, content_type=JSON_CT,
                  json={"errors": ["You are not permitted to view the requested resource."]})
    responses.get(f"{BASE}/t/42.json", json=_topic(), content_type=JSON_CT)
    with pytest.raises(PermanentError) as caught:
        gateway.perform(_action("close_topic", {}), _expects()[1], False)
    assert "topics:update" in str(caught.value) and caught.value.status == 403


@responses.activate
def test_5xx_and_connection_errors_are_transient(gateway):
    """5xx answers and unreachable hosts are transient; the client always has a timeout."""
    responses.get(f"{BASE}/t/42.json", status=502, body="<html>bad gateway</html>", content_type="text/html")
    with pytest.raises(TransientError):
        gateway.topic(42)
    assert gateway.client.timeout == 15.0
    responses.get(f"{BASE}/t/43.json", body=requests.ConnectionError("refused"))
    with pytest.raises(TransientError):
        gateway.topic(43)


@responses.activate
def test_private_converts_then_invites_each_staff_group_with_echoes(gateway):
    """Private: convert-topic/private, then invite-group per staff group; the echo is recorded first."""
    responses.get(f"{BASE}/t/42.json", json=_topic(), content_type=JSON_CT)
    responses.put(f"{BASE}/t/42/convert-topic/private", json={"success": True, "url": "/t/x/42"},
                  content_type=JSON_CT)
    responses.post(f"{BASE}/t/42/invite-group.json", json={"group": {"id": 1, "name": "g"}},
                   content_type=JSON_CT)
    seen, expect = _expects()
    result = gateway.perform(_action("set_visibility", {"visibility": "private"}), expect, False)
    assert result["done"] == ["converted", "invited support-team", "invited staff"]
    assert seen == [("visibility", "private")]
    invites = [json.loads(c.request.body) for c in responses.calls if "invite-group" in c.request.url]
    assert invites == [{"group": "support-team", "should_notify": "false"},
                       {"group": "staff", "should_notify": "false"}]
    assert_as_spec_says(responses.calls)


@responses.activate
def test_unlist_uses_topic_status_visible(gateway):
    """Unlisted is status visible=false, sent as the spec's JSON strings."""
    responses.get(f"{BASE}/t/42.json", json=_topic(), content_type=JSON_CT)
    responses.put(f"{BASE}/t/42/status.json", json={"success": "OK"}, content_type=JSON_CT)
    gateway.perform(_action("set_visibility", {"visibility": "unlisted"}), _expects()[1], False)
    assert json.loads(responses.calls[1].request.body) == {"status": "visible", "enabled": "false"}
    assert_as_spec_says(responses.calls)


@responses.activate
def test_tags_are_sent_as_objects_and_echoes_recorded(gateway):
    """On a 2026 site add_tags sends the whole list as tag objects and expects a tag_added echo
    per new tag."""
    responses.get(f"{BASE}/about.json", json={"about": {"version": "2026.2.0-latest"}},
                  content_type=JSON_CT)
    responses.get(f"{BASE}/t/42.json", json=_topic(), content_type=JSON_CT)
    responses.put(f"{BASE}/t/-/42.json", json={"basic_topic": {"id": 42}}, content_type=JSON_CT)
    seen, expect = _expects()
    gateway.perform(_action("add_tags", {"tags": ["urgent", "printer"]}), expect, False)
    put = next(c for c in responses.calls if c.request.method == "PUT")
    assert json.loads(put.request.body) == {
        "tags": [{"id": 3, "name": "printer"}, {"name": "urgent"}]}
    assert seen == [("tag_added", "urgent")]
    assert_as_spec_says(responses.calls)


@responses.activate
def test_category_slug_is_resolved_once_and_cached(gateway):
    """move_to_category resolves the slug through /categories.json once, then from the cache."""
    responses.get(f"{BASE}/categories.json", content_type=JSON_CT, json={"category_list": {"categories": [
        {"id": 10, "slug": "faq", "subcategory_list": [{"id": 11, "slug": "faq-old"}]}]}})
    responses.get(f"{BASE}/t/42.json", json=_topic(), content_type=JSON_CT)
    responses.put(f"{BASE}/t/-/42.json", json={"basic_topic": {"id": 42}}, content_type=JSON_CT)
    seen, expect = _expects()
    gateway.perform(_action("move_to_category", {"category": "faq-old", "category_id": None}), expect, False)
    gateway.perform(_action("move_to_category", {"category": "faq", "category_id": None}), expect, False)
    # one walk: page 1, then page 2 (here the same answer again, which ends the walk too)
    assert sum("categories.json" in c.request.url for c in responses.calls) == 2
    assert seen == [("category", "11"), ("category", "10")]
    put = next(c for c in responses.calls if c.request.method == "PUT")
    assert json.loads(put.request.body) == {"category_id": 11}
    assert_as_spec_says(responses.calls)


@responses.activate
def test_unknown_slug_falls_back_to_the_params_category_id(gateway):
    """When Discourse does not know the slug, params' category_id is used."""
    responses.get(f"{BASE}/categories.json", json={"category_list": {"categories": []}}, content_type=JSON_CT)
    assert gateway.category_id("gone", 8) == 8
    with pytest.raises(PermanentError):
        gateway.category_id("gone", None)


@responses.activate
def test_faq_copy_never_copies_a_private_ticket(gateway):
    """promote_faq of a private ticket is skipped and nothing is written."""
    responses.get(f"{BASE}/t/42.json", json=_topic(archetype="private_message"), content_type=JSON_CT)
    params = {"category": "faq", "category_id": 10, "mode": "copy",
              "accepted_post_id": 501, "private": False, "title": "t"}
    result = gateway.perform(_action("promote_faq", params), _expects()[1], False)
    assert "private" in result["skipped"] and len(responses.calls) == 1


@responses.activate
def test_faq_copy_quotes_question_and_answer_once(gateway):
    """copy creates an FAQ topic quoting the question and the accepted answer with a link back,
    under an external_id; a retry finds it by that id and posts nothing."""
    responses.get(f"{BASE}/t/42.json", json=_topic(), content_type=JSON_CT)
    responses.get(f"{BASE}/categories.json", content_type=JSON_CT,
                  json={"category_list": {"categories": [{"id": 10, "slug": "faq"}]}})
    responses.get(f"{BASE}/posts/500.json", content_type=JSON_CT,
                  json={"id": 500, "username": "alice", "post_number": 1, "raw": "It burns"})
    responses.get(f"{BASE}/posts/501.json", content_type=JSON_CT,
                  json={"id": 501, "username": "bob", "post_number": 2, "raw": "Unplug it"})
    responses.post(f"{BASE}/posts.json", json={"id": 900, "topic_id": 77}, content_type=JSON_CT)
    params = {"category": "faq", "category_id": None, "mode": "copy", "accepted_post_id": 501,
              "private": False, "title": "Printer on fire"}
    action = _action("promote_faq", params)
    assert gateway.perform(action, _expects()[1], False)["topic_id"] == 77
    body = json.loads(responses.calls[-1].request.body)
    assert body["title"] == "FAQ: Printer on fire" and body["category"] == 10
    assert body["external_id"] == f"syncd-{action.key}"
    assert '[quote="alice, post:1, topic:42"]\nIt burns' in body["raw"]
    assert '[quote="bob, post:2, topic:42"]\nUnplug it' in body["raw"]
    assert f"{BASE}/t/printer-on-fire/42" in body["raw"]
    assert_as_spec_says(responses.calls)
    responses.get(f"{BASE}/t/external_id/syncd-{action.key}.json", status=301,
                  headers={"Location": f"{BASE}/t/77.json"})
    responses.get(f"{BASE}/t/77.json", json=_topic(id=77), content_type=JSON_CT)
    posts_before = sum(c.request.method == "POST" for c in responses.calls)
    again = gateway.perform(_action("promote_faq", params, attempts=2), _expects()[1], True)
    assert again == {"mode": "copy", "category_id": 10, "topic_id": 77, "already_posted": True}
    assert sum(c.request.method == "POST" for c in responses.calls) == posts_before


@responses.activate
def test_message_author_is_a_private_message_with_external_id(gateway):
    """message_author sends a private message to the author, keyed by the action."""
    responses.post(f"{BASE}/posts.json", json={"id": 901, "topic_id": 78}, content_type=JSON_CT)
    action = _action("message_author", {"username": "alice", "title": "About your ticket", "raw": "Hello"})
    gateway.perform(action, _expects()[1], False)
    body = json.loads(responses.calls[0].request.body)
    assert body["archetype"] == "private_message" and body["target_recipients"] == "alice"
    assert body["external_id"] == f"syncd-{action.key}"
    assert_as_spec_says(responses.calls)


@responses.activate
def test_moving_a_private_message_is_skipped_not_sent(gateway):
    """A ticket made private has no category: move_to_category is skipped with the reason."""
    responses.get(f"{BASE}/t/42.json", json=_topic(archetype="private_message", category_id=None),
                  content_type=JSON_CT)
    seen, expect = _expects()
    result = gateway.perform(_action("move_to_category", {"category": None, "category_id": 7}),
                             expect, False)
    assert "private message" in result["skipped"] and seen == []
    assert [c.request.method for c in responses.calls] == ["GET"]  # the topic, nothing else
