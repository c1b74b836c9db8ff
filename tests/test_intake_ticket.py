"""The topic's webhook makes the ticket of an intake: source, requester and the chosen
priority, before topic_created rules and their templates run."""
from __future__ import annotations

import json

from syncd.core.intake import IntakeRequest
from syncd.core.tickets import Requester, Ticket
from syncd.processor import Processor
from syncd.rules.reloader import RulesHolder
from syncd.service import prepare
from syncd.store import deliveries, intakes
from syncd.store import tickets as ticketstore
from syncd.store.db import transaction

from conftest import make_settings, sample_body, signed_sample

RULES = """
rules:
  - name: urgent-from-teams
    on: topic_created
    if: {source: [teams, form], priority: urgent}
    then:
      - notify:
          channel: staff
          text: "{{ ticket.requester.name }} via {{ ticket.source }}: {{ ticket.title }}"
  - name: only-discourse
    on: topic_created
    if: {source: discourse}
    then:
      - notify: staff
"""


def setup(tmp_path):
    settings = make_settings(tmp_path)
    store, _ = prepare(settings)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    return store, Processor(settings, store, RulesHolder(str(rules), ["staff"], {"support": 5}))


def ask(store, source="teams", priority="urgent") -> int:
    req = IntakeRequest(source=source, title="Printer jams on duplex jobs", priority=priority,
                        description="It jams.", requester=Requester("Jane Smith", None, source),
                        external_id="a-1")
    with transaction(store.db()) as conn:
        return intakes.store(conn, req, "support", 5)[0]


def deliver(store, name, external_id=None, event_id=None):
    """The recorded deliveries (webhooks/), with the topic's external_id as TopicViewSerializer
    includes it (``include_external_id?``) for a topic made with one."""
    body = sample_body(name)
    if external_id and "topic" in body:
        body["topic"]["external_id"] = external_id
    headers, raw = signed_sample(name, body=body, event_id=event_id)
    with transaction(store.db()) as conn:
        deliveries.store(conn, headers, raw, 1234)


def drain(processor):
    for _ in range(50):
        if not processor.run_once():
            return


def notifications(store):
    return [(r[0], json.loads(r[1]).get("text")) for r in store.db().conn.execute(
        "SELECT rule, params FROM outbox WHERE kind = 'notify' ORDER BY id")]


def test_the_topic_webhook_links_the_intake_by_external_id(tmp_path):
    """topic_created with external_id intake-1: the ticket is from Teams, urgent, Jane's;
    the rule for intake tickets fires with its template, the Discourse-only one does not."""
    store, processor = setup(tmp_path)
    intake_id = ask(store)
    deliver(store, "topic_created", external_id=f"intake-{intake_id}")
    deliver(store, "post_created")
    drain(processor)
    ticket = ticketstore.load(store.db().conn, 1234)
    assert (ticket.source, ticket.priority) == ("teams", "urgent")
    assert ticket.requester == Requester("Jane Smith", None, "teams")
    assert ticket.as_dict()["requester"] == {"name": "Jane Smith", "email": None, "source": "teams"}
    assert notifications(store) == [
        ("urgent-from-teams", "Jane Smith via teams: Printer jams on duplex jobs")]
    row = store.db().conn.execute("SELECT ticket_id, topic_id FROM intakes").fetchone()
    assert row == (1234, 1234)


def test_the_first_post_arriving_first_links_by_the_recorded_topic_id(tmp_path):
    """The worker recorded topic 1234 for the intake; post_created comes before topic_created
    (which here has no external_id): one ticket, linked, its rules run once announced."""
    store, processor = setup(tmp_path)
    intake_id = ask(store, source="form")
    with transaction(store.db()) as conn:
        intakes.record_topic(conn, intake_id, 1234, "https://forum.example.com/t/x/1234", "system")
    deliver(store, "post_created")
    deliver(store, "topic_created")
    drain(processor)
    ticket = ticketstore.load(store.db().conn, 1234)
    assert (ticket.source, ticket.priority, ticket.requester.source) == ("form", "urgent", "form")
    assert [n[0] for n in notifications(store)] == ["urgent-from-teams"]


def test_a_discourse_topic_stays_a_discourse_ticket(tmp_path):
    """No intake: source discourse, no requester, the default priority."""
    store, processor = setup(tmp_path)
    ask(store)   # another intake, for another topic
    deliver(store, "topic_created")
    deliver(store, "post_created")
    drain(processor)
    ticket = ticketstore.load(store.db().conn, 1234)
    assert (ticket.source, ticket.requester, ticket.priority) == ("discourse", None, "normal")
    assert [n[0] for n in notifications(store)] == ["only-discourse"]
    assert store.db().conn.execute("SELECT ticket_id FROM intakes").fetchone() == (None,)


def test_a_ticket_round_trips_its_source_and_requester():
    """as_dict / from_dict keep source and requester (syncd rules test --ticket)."""
    t = Ticket(id=1, source="form", requester=Requester("Jane", "jane@example.edu", "form"))
    assert Ticket.from_dict(t.as_dict()).requester == t.requester
    assert Ticket.from_dict({"id": 2}).source == "discourse"


def test_the_chat_card_names_who_asked_for_an_intake_ticket():
    """Google Chat's card shows 'Jane Smith (via Teams)' as author of a Teams ticket."""
    from zoneinfo import ZoneInfo

    from syncd.channels.gchat import message
    ticket = {**Ticket(id=7, title="Printer jams", author="system", source="teams",
                       requester=Requester("Jane Smith", None, "teams")).as_dict()}
    card = json.dumps(message({"ticket": ticket, "event": {"name": "topic_created"}},
                              ZoneInfo("UTC")))
    assert "Jane Smith (via Teams)" in card and '"system"' not in card
