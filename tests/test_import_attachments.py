"""Attachments: uploaded by URL (POST /uploads.json, Discourse downloads it for API calls:
UploadsController.create_upload), once; expired export links (7 days, signed) fetched
fresh from Freshdesk's API with --freshdesk-url, else named and reported."""
from __future__ import annotations

from datetime import datetime, timezone

import responses

from standins.discourse_import import ImportDiscourseStandIn
from syncd.importers.freshdesk.attachments import expired
from syncd.importers.freshdesk.reader import ExportReader
from test_import_e2e import KEY, config, run, small_export

URL = "https://acme.freshdesk.com"


def test_signed_links_expire_after_their_seconds():
    """X-Amz-Date + X-Amz-Expires, or Expires (epoch); unsigned links never expire."""
    now = datetime(2024, 1, 10, tzinfo=timezone.utc)
    assert expired("https://s3/x?X-Amz-Date=20240101T000000Z&X-Amz-Expires=604800", now)
    assert not expired("https://s3/x?X-Amz-Date=20240105T000000Z&X-Amz-Expires=604800", now)
    assert expired(f"https://s3/x?Expires={int(now.timestamp()) - 1}", now)
    assert not expired("https://example.org/file.pdf", now)


def _with_attachments(folder):
    tickets = list(ExportReader(folder).tickets())
    ticket_atts = [a for t in tickets for a in t.attachments]
    note_atts = [a for t in tickets for n in t.notes for a in n.attachments]
    return tickets, ticket_atts, note_atts


def test_fresh_links_are_uploaded_once_and_linked_in_the_post(tmp_path):
    """Each attachment is one upload call; its upload:// link is in the post; a rerun
    uploads nothing again."""
    folder = small_export(tmp_path, tickets=60, seed=8)
    _, ticket_atts, note_atts = _with_attachments(folder)
    assert ticket_atts and note_atts, "the seed gives both kinds"
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        for _ in range(2):
            out = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                      "--calls-per-minute", "100000")
            assert out.exit_code == 0, out.output
        uploads = [p for m, p, q, b in forum.log if p == "/uploads.json"]
        assert len(uploads) == len(ticket_atts) + len(note_atts)
        raws = "\n".join(p["raw"] for p in forum.posts.values())
        assert raws.count("(upload://u") == len(ticket_atts) + len(note_atts)


def test_expired_links_are_named_and_reported_without_the_api(tmp_path):
    """An export older than 7 days without --freshdesk-url: no upload, a problem each."""
    folder = small_export(tmp_path, tickets=60, seed=8,
                          links_signed_at=datetime(2023, 1, 1, tzinfo=timezone.utc))
    _, ticket_atts, note_atts = _with_attachments(folder)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        assert run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                   "--calls-per-minute", "100000").exit_code == 0
        assert not [p for m, p, q, b in forum.log if p == "/uploads.json"]
        status = run(cfg, "status", "--problems").output
    assert status.count("the export's link has expired") == len(ticket_atts) + len(note_atts)


def test_expired_links_come_fresh_from_the_api_with_freshdesk_url(tmp_path, monkeypatch):
    """--freshdesk-url: GET /api/v2/tickets/{display_id} gives fresh attachment links."""
    folder = small_export(tmp_path, tickets=60, seed=8,
                          links_signed_at=datetime(2023, 1, 1, tzinfo=timezone.utc))
    tickets, ticket_atts, _ = _with_attachments(folder)
    monkeypatch.setenv("FRESHDESK_API_KEY", "fd-key-not-real")
    with ImportDiscourseStandIn(api_key=KEY) as forum, responses.RequestsMock(
            assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru(forum.base_url)
        rsps.add(responses.GET, f"{URL}/api/v2/tickets", json=[])
        for t in tickets:
            rsps.add(responses.GET, f"{URL}/api/v2/tickets/{t.display_id}", json={
                "id": int(t.display_id), "updated_at": "2024-01-01T00:00:00Z",
                "attachments": [{"id": int(a.id), "name": a.name,
                                 "attachment_url": f"https://fresh.example.com/{a.id}/{a.name}"}
                                for a in t.attachments]})
            rsps.add(responses.GET, f"{URL}/api/v2/tickets/{t.display_id}/conversations", json=[
                {"id": int(n.id), "body": "x", "created_at": "2024-01-01T00:00:00Z",
                 "attachments": [{"id": int(a.id), "name": a.name,
                                  "attachment_url": f"https://fresh.example.com/{a.id}/{a.name}"}
                                 for a in n.attachments]} for n in t.notes])
        cfg = config(tmp_path, forum.base_url)
        out = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                  "--calls-per-minute", "100000", "--freshdesk-url", URL)
        assert out.exit_code == 0, out.output
        urls = [b["url"] for m, p, q, b in forum.log if p == "/uploads.json"]
    assert urls and all(u.startswith("https://fresh.example.com/") for u in urls)
    assert {u.split("/")[3] for u in urls} >= {a.id for a in ticket_atts}
