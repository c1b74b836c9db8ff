"""The shipped routing example (rules/examples/routing.yaml): copied beside the rules, it
sends an urgent ticket to Slack, a high one to Trello and a low one, once resolved, to S3,
through the real processor, outbox and workers (Slack and Trello stand-ins, moto's S3)."""
from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import SECRET, signed_sample, sample_body
from standins.aws import client, moto_server, use_test_credentials
from standins.outbox import done, drain, outbox_rows, workers
from standins.slack import SlackStandIn
from standins.trello import TrelloStandIn
from syncd.clock import parse
from syncd.config import load_settings
from syncd.processor import Processor
from syncd.rules.reloader import RulesHolder
from syncd.service import prepare
from syncd.store import deliveries
from syncd.store.db import transaction

ROOT = Path(__file__).resolve().parent.parent
PRIORITIES = """rules:
  - {name: t-urgent, on: topic_created, if: {title_matches: '(?i)lab on fire'},
     then: [{set_priority: urgent}]}
  - {name: t-high, on: topic_created, if: {title_matches: '(?i)grades missing'}, then: [{set_priority: high}]}
  - {name: t-low, on: topic_created, if: {title_matches: '(?i)someday'}, then: [{set_priority: low}]}
"""


def _retarget(value, topic_id, title, post_id):
    """A recorded delivery about another topic (id, title, first post id)."""
    if isinstance(value, dict):
        out = {k: _retarget(v, topic_id, title, post_id) for k, v in value.items()}
        for key in ("title", "fancy_title", "topic_title"):
            if key in out:
                out[key] = title
        if "category_id" in out:
            out["category_id"] = 5
        return out
    if isinstance(value, list):
        return [_retarget(v, topic_id, title, post_id) for v in value]
    if value == 1234:
        return topic_id
    if isinstance(value, str) and "/1234" in value:
        return value.replace("/1234", f"/{topic_id}")
    return value


def _deliver(store, name, topic_id, title, event_id):
    body = _retarget(sample_body(name), topic_id, title, topic_id * 10)
    if "post" in body:
        body["post"]["id"] = topic_id * 10 + (body["post"].get("post_number") or 1)
    if "solved" in body:
        body["solved"]["id"] = topic_id * 10 + 2
    headers, raw = signed_sample(name, SECRET, event_id=str(event_id), body=body)
    with transaction(store.db()) as conn:
        deliveries.store(conn, headers, raw, 1234)


@pytest.fixture(scope="module")
def endpoint():
    with moto_server() as url:
        yield url


def test_example_routes_urgent_to_slack_high_to_trello_low_to_s3(tmp_path, endpoint, monkeypatch):
    """One urgent, one high and one low ticket: a Slack message, a Trello card (archived when
    the topic closes), an S3 document once the low ticket is resolved."""
    use_test_credentials(monkeypatch)
    client("s3", endpoint).create_bucket(Bucket="routing-archive",
                                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "05-priorities.yaml").write_text(PRIORITIES)
    shutil.copy(ROOT / "rules/examples/routing.yaml", rules / "80-routing.yaml")
    with SlackStandIn(limit=1000) as slack, TrelloStandIn() as trello:
        (tmp_path / "config.yaml").write_text(
            f"database: {tmp_path / 'syncd.db'}\nrules: {rules}\n"
            f"discourse:\n  webhook_secret: {SECRET}\n  categories: [support]\n"
            "  category_map: {support: 5}\n  staff_groups: [support-team]\n"
            "processor: {first_post_grace_seconds: 30}\n"
            "channels:\n"
            f"  it-urgent: {{type: slack, url: '{slack.url}', messages_per_minute: 6000}}\n"
            f"  board: {{type: trello, key: {trello.key}, token: {trello.token},\n"
            f"           api_url: '{trello.api_url}',\n"
            "           lists: {urgent: L-urgent, high: L-high, normal: L-normal, low: L-low}}\n"
            f"  archive: {{type: s3, region: eu-west-1, endpoint_url: '{endpoint}',\n"
            "             bucket: routing-archive}\n")
        settings = load_settings(str(tmp_path / "config.yaml"), env={})
        store, _ = prepare(settings)
        holder = RulesHolder(settings.resolve(settings.rules), list(settings.channels), {"support": 5})
        processor = Processor(settings, store, holder)
        tickets = {501: "The lab on fire", 502: "My grades missing", 503: "Someday: a new printer?"}
        n = 0
        for topic_id, title in tickets.items():
            for name in ("topic_created", "post_created"):
                n += 1
                _deliver(store, name, topic_id, title, 9000 + n)
        _deliver(store, "accepted_solution", 503, tickets[503], 9100)
        _deliver(store, "topic_closed_status_updated", 502, tickets[502], 9101)
        now = parse(sample_body("topic_created")["topic"]["created_at"]) + timedelta(minutes=2)
        for _ in range(50):
            if not processor.run_once(now):
                break
        drain(workers(settings), lambda: done(settings), now=now)
        rows = outbox_rows(settings)
        assert {r["status"] for r in rows} == {"sent"}, rows
        assert [m["blocks"][0]["text"]["text"] for m in slack.messages] == [
            "*<https://forum.example.com/t/printer-jams-on-duplex-jobs/501|The lab on fire>*  ·  #501"]
        cards = [(c["name"], c["idList"], c["closed"]) for c in trello.cards.values()]
        assert cards == [("#502 My grades missing", "L-high", True)]    # made, then archived
        assert [r["params"]["channel"] for r in rows].count("board") == 2
        s3 = client("s3", endpoint)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="routing-archive").get("Contents", [])]
        assert len(keys) == 1 and keys[0].startswith("tickets/") and keys[0].endswith("/503.json")
        doc = json.loads(s3.get_object(Bucket="routing-archive", Key=keys[0])["Body"].read())
        assert doc["ticket"]["priority"] == "low" and doc["ticket"]["status"] == "resolved"
        assert any(h["name"] == "solution_accepted" for h in doc["history"])
