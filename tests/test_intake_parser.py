"""The intake parser (syncd.core.teams_text, syncd.core.intake): Teams free text and form
bodies, table-driven."""
from __future__ import annotations

import pytest

from syncd.core.intake import (PRIORITY_HELP, check_form, choose_category, normalise_priority,
                               topic_raw)
from syncd.core.teams_text import corrective_reply, parse_teams_text, teams_request, text_of_html
from syncd.core.tickets import Requester

TITLE = "VPN drops every ten minutes"

# (message as Teams sends it, title, priority, description)
READABLE = [
    (f"Title: {TITLE}\nPriority: high\nDescription: Since 9am.", TITLE, "high", "Since 9am."),
    (f"title: {TITLE}\npriority: URGENT\ndescription: x y z", TITLE, "urgent", "x y z"),
    (f"TITLE: {TITLE}\nPRIORITY: Medium\nDESCRIPTION: all", TITLE, "normal", "all"),
    (f"Titel: {TITLE}\nPrority: hgih\nDescripton: typos forgiven", TITLE, "high", "typos forgiven"),
    (f"Tilte: {TITLE}\nPriorty: urgnet\nDesciption: more typos", TITLE, "urgent", "more typos"),
    (f"Subject: {TITLE}\nSeverity: low\nDetails: other names", TITLE, "low", "other names"),
    (f"<at>Helpdesk</at> Title: {TITLE}<br>Priority: normal<br>Description: a<br>b",
     TITLE, "normal", "a\nb"),
    (f"<p>Title: {TITLE}</p><p>Priority: high</p><p>Description: first</p><p>second</p>",
     TITLE, "high", "first\n\nsecond"),
    (f"Title: {TITLE}\nPriority: high\nDescription: line one\nError: 502 on login\nPriority: low",
     TITLE, "high", "line one\nError: 502 on login\nPriority: low"),
    (f"Title: {TITLE} Priority: urgent Description: all on one line", TITLE, "urgent",
     "all on one line"),
    ("Title: Printer &amp; scanner on floor 3&nbsp;jam\nDescription: paper &lt;A4&gt;",
     "Printer & scanner on floor 3 jam", "normal", "paper <A4>"),
    (f"Hi team, please help.\nTitle: {TITLE}\nPriority: p1\nDescription: preamble ignored",
     TITLE, "urgent", "preamble ignored"),
    (f"- **Title:** {TITLE}\n- Priority: high!!\n- Description: bullets", TITLE, "high", "bullets"),
]


@pytest.mark.parametrize("text,title,priority,description", READABLE)
def test_teams_text_is_read_forgivingly(text, title, priority, description):
    """Any case, small typos, other names, HTML and entities, description to the end."""
    parsed = parse_teams_text(text_of_html(text))
    assert parsed.problems == ()
    assert (parsed.title, parsed.priority, parsed.description) == (title, priority, description)


# (message, the problems' fields, a word each message must contain)
UNREADABLE = [
    ("hello, my printer is broken", ["Title", "Description"], "missing"),
    ("", ["Title", "Description"], "missing"),
    (f"Title: {TITLE}\nPriority: soonish\nDescription: x", ["Priority"], "soonish"),
    (f"Title: {TITLE}\nPriority: high", ["Description"], "missing"),
    ("Title: VPN down\nDescription: x", ["Title"], "too short"),
    ("Title: " + "x" * 300 + "\nDescription: x", ["Title"], "too long"),
    (f"Title: {TITLE}\nTitle: another title entirely\nDescription: x", ["Title"], "twice"),
    ("Title:\nDescription: x", ["Title"], "empty"),
]


@pytest.mark.parametrize("text,fields,word", UNREADABLE)
def test_teams_text_that_cannot_be_read_names_every_problem(text, fields, word):
    """Missing or wrong fields are each named, in words a person acts on."""
    parsed = parse_teams_text(text_of_html(text))
    assert [p.field for p in parsed.problems] == fields
    assert word in " ".join(p.message for p in parsed.problems)


def test_a_missing_priority_means_normal_and_says_so():
    """No Priority: line: normal, remembered as not given (the reply says so)."""
    parsed = parse_teams_text(f"Title: {TITLE}\nDescription: x")
    assert (parsed.priority, parsed.priority_given, parsed.problems) == ("normal", False, ())


def test_an_ambiguous_label_is_not_taken_for_a_field():
    """A word close to no field, or inside a line, is text: 'Note:' and 'Tile:' mid-line."""
    parsed = parse_teams_text(f"Title: {TITLE} Tile: floor\nDescription: Note: ok")
    assert parsed.title == f"{TITLE} Tile: floor" and parsed.description == "Note: ok"


@pytest.mark.parametrize("given,expected", [
    ("low", "low"), ("LOW", "low"), ("medium", "normal"), ("Medium", "normal"),
    ("normal", "normal"), ("nromal", "normal"), ("meduim", "normal"), ("high", "high"),
    ("hihg", "high"), ("urgent", "urgent"), ("Urgent!", "urgent"), ("critical", "urgent"),
    ("high - the whole floor", "high"), ("P2", "high"),
    ("soon", None), ("", None), ("hi", None), (3, None),
])
def test_priorities_are_tolerant_but_not_guessed(given, expected):
    """low, normal (= medium), high, urgent: case, typos and common names; nothing else."""
    assert normalise_priority(given)[0] == expected


def test_corrective_reply_names_the_problems_and_shows_the_format():
    """The reply lists what is wrong and the three-line format; a message with no field at
    all ("help", a chat line) is told so rather than given two 'missing' lines."""
    text = corrective_reply(parse_teams_text(f"Title: {TITLE}\nPriority: soon").problems)
    assert "'soon' is not a priority" in text and "Description is missing" in text
    assert "Title: " in text and "Priority: " in text and "Description: " in text
    assert "saved nothing" in text
    assert "no Title: or Description:" in corrective_reply(parse_teams_text("help").problems)


def test_teams_request_takes_the_html_attachment_and_the_sender():
    """The text/html attachment keeps line breaks; from.name is the requester; the Activity
    id is the dedupe key (the Activity fields of MicrosoftDocs' channel-message example)."""
    activity = {"type": "message", "id": "1759944781430",
                "text": f"<at>Helpdesk</at> Title: {TITLE} Priority: high Description: flat",
                "from": {"id": "29:1abc", "name": "Jane Smith", "aadObjectId": "b15a"},
                "conversation": {"id": "19:x@thread.tacv2;messageid=1"},
                "attachments": [{"contentType": "text/html", "content":
                                 f"<div><p><span itemtype=\"http://schema.skype.com/Mention\">"
                                 f"Helpdesk</span>&nbsp;Title: {TITLE}</p><p>Priority: high</p>"
                                 "<p>Description: line one<br>line two</p></div>"}]}
    req, problems = teams_request(activity)
    assert problems == ()
    assert (req.title, req.priority, req.description) == (TITLE, "high", "line one\nline two")
    assert req.requester == Requester("Jane Smith", None, "teams")
    assert req.external_id == "1759944781430" and req.requester_extra["aadObjectId"] == "b15a"


GOOD = {"title": TITLE, "priority": "Medium", "description": "Since 9am.",
        "requester": {"name": "Jane Smith", "email": "Jane@Example.edu"}}


def test_a_good_form_becomes_a_request():
    """Priority normalised, email lowercased, optional fields taken."""
    req, problems = check_form({**GOOD, "category": "Hardware", "tags": ["VPN", "remote work"],
                                "external_id": 42}, categories=("support", "hardware"))
    assert problems == ()
    assert (req.priority, req.requester.email, req.category) == ("normal", "jane@example.edu",
                                                                 "hardware")
    assert req.tags == ("vpn", "remote-work") and req.external_id == "42"


# (the body, the fields named in the errors)
BAD_FORMS = [
    ({}, ["title", "priority", "description", "requester"]),
    ({**GOOD, "title": "short"}, ["title"]),
    ({**GOOD, "title": 7}, ["title"]),
    ({**GOOD, "priority": "whenever"}, ["priority"]),
    ({**GOOD, "description": "  "}, ["description"]),
    ({**GOOD, "requester": {"name": "Jane"}}, ["requester.email"]),
    ({**GOOD, "requester": {"name": "", "email": "not-an-email"}},
     ["requester.name", "requester.email"]),
    ({**GOOD, "requester": "jane@example.edu"}, ["requester"]),
    ({**GOOD, "category": "payroll"}, ["category"]),
    ({**GOOD, "tags": [1, 2]}, ["tags"]),
    ({**GOOD, "tags": ["a"] * 3 + [f"t{i}" for i in range(12)]}, ["tags"]),
    ({**GOOD, "external_id": ""}, ["external_id"]),
    ([1, 2], ["body"]),
]


@pytest.mark.parametrize("body,fields", BAD_FORMS)
def test_a_bad_form_names_each_bad_field(body, fields):
    """Every invalid field is reported at once, by its name in the body."""
    req, problems = check_form(body, categories=("support", "hardware", 5, 7))
    assert req is None and [p.field for p in problems] == fields
    assert all(p.message for p in problems)


def test_priority_help_lists_medium_as_normal():
    """The help text names the four priorities and medium."""
    assert PRIORITY_HELP == "low, normal (or medium), high, urgent"


@pytest.mark.parametrize("priority,chosen,expected", [
    ("urgent", None, "oncall"), ("high", None, "support"), ("low", None, "support"),
    ("urgent", "hardware", "hardware"),
])
def test_category_is_the_choice_then_by_priority_then_the_default(priority, chosen, expected):
    """A form's own category wins; else categories_by_priority; else intake.category."""
    assert choose_category(priority, chosen, {"urgent": "oncall"}, "support") == expected


def test_topic_body_says_who_asked_when_syncd_posts_it():
    """Posted by syncd: 'Reported by NAME via Teams'; posted as the person: no such line."""
    who = Requester("Jane Smith", "jane@example.edu", "teams")
    assert topic_raw("It broke.", who, "teams", False).endswith("Reported by Jane Smith via Teams")
    mine = topic_raw("It broke.", who, "form", True)
    assert "Reported by" not in mine and mine.startswith("It broke.")
    assert "jane@example.edu" not in topic_raw("It broke.", who, "teams", False)


def test_only_the_webhooks_own_mention_is_dropped():
    """The HTML's Mention span of the webhook (the Activity's recipient) goes; a colleague's
    mention keeps the name; a typo label right after the webhook's mention is still a label."""
    html = ('<p><span itemtype="http://schema.skype.com/Mention" itemid="0">Helpdesk</span>'
            f'&nbsp;Titel: {TITLE}</p><p>Description: ask <span itemtype='
            '"http://schema.skype.com/Mention" itemid="1">Bob Smith</span> first</p>')
    activity = {"type": "message", "id": "1", "from": {"name": "Jane"},
                "recipient": {"id": "28:x", "name": "Helpdesk"},
                "text": "ignored", "attachments": [{"contentType": "text/html", "content": html}]}
    req, problems = teams_request(activity)
    assert problems == () and (req.title, req.description) == (TITLE, "ask Bob Smith first")
    assert text_of_html("<at>Helpdesk</at> Title: x <at>Bob</at> y") == "Title: x Bob y"
