"""The pure mapping (Freshdesk record → Discourse call) and the pacer, with fake clocks.

Parameters follow Discourse's posts_controller#create_params (created_at, external_id,
import_mode for API requests; whisper compared with the string "true") and
users_controller#user_params (active, approved for an admin through the API)."""
from __future__ import annotations

from syncd.importers.freshdesk import mapping
from syncd.importers.freshdesk.client import Pacer
from syncd.importers.freshdesk.preflight import estimate
from syncd.importers.freshdesk.reader import Note, Ticket, User


def ticket(**kw) -> Ticket:
    base = dict(id="77", display_id="1077", subject="Printer on fire again", description_html="<p>Help</p>",
                description="Help", requester_id="5", responder_id=None, group_id="1", status=5,
                priority=4, source=1, spam=False, deleted=False, created_at="2024-01-01T00:00:00.000000Z",
                updated_at="2024-01-05T00:00:00.000000Z", tags=("Network Issue", "vip"), file="Tickets0.xml")
    base.update(kw)
    return Ticket(**base)


def note(nid: str, user: str | None = "9", private: bool = False, body: str = "A reply long enough.",
         at: str = "2024-01-02T00:00:00.000000Z") -> Note:
    return Note(nid, body, body, user, private, False, False, at)


AUTHORS = {"5": ("asha", False), "9": ("bilal_agent", True)}


def test_a_ticket_becomes_a_topic_with_external_id_dates_tags_and_a_header():
    """external_id fd-<id>, created_at kept, status/priority/source/own tags, the header."""
    m = mapping.map_ticket(ticket(), AUTHORS.get)
    params = mapping.topic_params(m.topic, 5)
    assert params["external_id"] == "fd-77" and params["created_at"] == "2024-01-01T00:00:00.000000Z"
    assert params["category"] == 5 and params["import_mode"] is True
    assert params["tags"] == ["freshdesk", "status-closed", "priority-urgent", "via-email", "network-issue"]
    assert "#1077" in params["raw"] and "ID 77" in params["raw"] and "2024-01-05" in params["raw"]
    assert m.topic.close and m.topic.stage == "resolved" and m.topic.priority == "urgent"
    assert m.topic.author_id == "asha"
    assert any("dropped vip" in p for p in m.problems)


def test_notes_become_replies_in_order_private_ones_as_whispers():
    """Notes sorted by created_at, each with its hidden marker; private → whisper "true"."""
    t = ticket(notes=(note("3", at="2024-01-03T00:00:00Z"),
                      note("2", private=True, at="2024-01-02T00:00:00Z")))
    m = mapping.map_ticket(t, AUTHORS.get)
    assert [p.source_id for p in m.posts] == ["2", "3"]
    first = mapping.post_params(m.posts[0], 1000)
    assert first["whisper"] == "true" and "<!-- fd-note:2 -->" in first["raw"]
    assert "whisper" not in mapping.post_params(m.posts[1], 1000)
    assert m.posts[0].author_id == "bilal_agent"
    assert m.topic.first_response_at == "2024-01-03T00:00:00Z", "the first public agent reply"


def test_a_private_note_when_agents_may_not_whisper_goes_as_the_api_user_with_a_byline():
    """Without the staff group in whispers_allowed_groups the admin whispers it, named."""
    m = mapping.map_ticket(ticket(notes=(note("2", private=True),)), AUTHORS.get, agents_whisper=False)
    assert m.posts[0].author_id is None and m.posts[0].whisper
    assert "bilal_agent (Freshdesk user 9)" in m.posts[0].raw


def test_missing_authors_are_posted_by_the_api_user_and_reported():
    """A requester or note author not imported: the API user posts, with a byline, and a problem."""
    m = mapping.map_ticket(ticket(requester_id="404", notes=(note("2", user="405"),)), AUTHORS.get)
    assert m.topic.author_id is None and "Freshdesk user 404" in m.topic.raw
    assert m.posts[0].author_id is None
    assert sum("not among the imported users" in p for p in m.problems) == 2


def test_titles_under_the_minimum_get_the_display_id_and_long_ones_are_cut():
    """'Help' → 'Help (Freshdesk #1077)'; an empty subject is named; 300 chars are cut."""
    limits = mapping.SiteLimits()
    short = mapping.map_ticket(ticket(subject="Help"), AUTHORS.get, limits).topic.title
    assert short == "Help (Freshdesk #1077)"
    assert mapping.map_ticket(ticket(subject=""), AUTHORS.get).topic.title == "(no subject) Freshdesk #1077"
    long = mapping.map_ticket(ticket(subject="x" * 300), AUTHORS.get).topic.title
    assert len(long) == 255


def test_a_5_mb_note_is_cut_to_the_sites_maximum_and_reported():
    """A note over max_post_length fits after cutting (marker kept) with a problem."""
    big = note("2", body="é" * 5_000_000)
    m = mapping.map_ticket(ticket(notes=(big,)), AUTHORS.get)
    assert len(m.posts[0].raw) <= mapping.SiteLimits().max_post_length
    assert m.posts[0].raw.endswith("<!-- fd-note:2 -->")
    assert any("5,000,000 characters" in p for p in m.problems)


def test_spam_and_deleted_tickets_and_deleted_notes_are_skipped():
    """Not imported, with the reason."""
    assert mapping.map_ticket(ticket(spam=True), AUTHORS.get).skip_reason == "spam"
    deleted = Note("4", "x", "x", "9", False, False, True, None)
    assert mapping.map_ticket(ticket(notes=(deleted,)), AUTHORS.get).skipped_notes == 1


def test_usernames_are_valid_unique_and_users_active_approved():
    """ASCII from the name, a Freshdesk-id suffix when taken, placeholder email when none."""
    user = User("5012", "Zoë O'Brien-Şahin", None, agent=False)
    call = mapping.map_user(user, lambda name: False)
    assert call.username == "Zoe_O_Brien-Sahin"
    assert call.email == "user-5012@freshdesk-import.invalid" and call.problems
    taken = mapping.map_user(user, lambda name: True)
    assert taken.username.endswith("_5012") and len(taken.username) <= 20
    params = call.params("pw")
    assert params["active"] is True and params["approved"] is True
    assert mapping.map_user(User("9", "Ñ", "x@y.z", False), lambda n: False).username == "fd_9"


def test_the_pacer_spaces_calls_at_98_percent_of_the_budget_and_pauses_for_429s():
    """60 calls a minute → one every 60/58.8 s; a pause moves the next slot."""
    now = [0.0]
    slept = []
    pacer = Pacer(60, clock=lambda: now[0], sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    for _ in range(3):
        pacer.wait()
    assert slept == [60 / 58.8, 60 / 58.8]
    pacer.pause(30)
    pacer.wait()
    assert abs(slept[-1] - 30) < 1e-9


def test_the_estimate_names_60_and_600_a_minute():
    """The up-front estimate in the issue's words."""
    assert estimate(182_000, 60) == "182,000 calls: about 51 h at 60/min (this run), 5 h at 600/min"
