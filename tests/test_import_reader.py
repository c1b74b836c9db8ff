"""The export reader: numbered files in order, records streamed, damage reported by file
and record (format: Freshdesk's export_data_worker / Rails to_xml, as the generator in
bench/freshdesk_export.py writes it)."""
from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

from syncd.importers.freshdesk.reader import ExportReader

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from freshdesk_export import ExportSize, write_export  # noqa: E402

TICKET = ('<helpdesk-ticket><id type="integer">{id}</id><display-id type="integer">{id}</display-id>'
          '<subject>{subject}</subject><description-html>&lt;p&gt;Body&lt;/p&gt;</description-html>'
          '<requester-id type="integer">{req}</requester-id><status type="integer">2</status>'
          '<created-at type="datetime">2024-01-02T10:00:00+05:30</created-at>{extra}'
          '<notes type="array">{notes}</notes></helpdesk-ticket>\n')
NOTE = ('<helpdesk-note><id type="integer">{id}</id><body-html>{body}</body-html>'
        '<user-id type="integer">{user}</user-id><private type="boolean">{private}</private>'
        '<created-at type="datetime">2024-01-03T10:00:00Z</created-at></helpdesk-note>')


def ticket_file(path: Path, *tickets: str, truncate_at: int | None = None) -> None:
    text = ('<?xml version="1.0"?>\n<helpdesk-tickets type="array">\n' + "".join(tickets)
            + "</helpdesk-tickets>\n")
    path.write_text(text[:truncate_at] if truncate_at else text, encoding="utf-8")


def test_numbered_files_are_read_in_number_order_live_before_archived(tmp_path):
    """Tickets2 before Tickets10, then ArchivedTickets*; users from Users*.xml."""
    for n in (10, 2):
        ticket_file(tmp_path / f"Tickets{n}.xml", TICKET.format(id=n, subject="S", req=1, extra="", notes=""))
    ticket_file(tmp_path / "ArchivedTickets0.xml",
                TICKET.format(id=99, subject="S", req=1, extra="", notes=""))
    reader = ExportReader(tmp_path)
    assert [t.id for t in reader.tickets()] == ["2", "10", "99"]
    assert [t.archived for t in reader.tickets()] == [False, False, True]


def test_fields_types_nil_notes_and_dates_are_read(tmp_path):
    """Rails to_xml types: integers, booleans, nil="true", datetimes to UTC; notes in order."""
    notes = NOTE.format(id=7, body="&lt;b&gt;hi&lt;/b&gt;", user=3, private="true")
    ticket_file(tmp_path / "Tickets0.xml", TICKET.format(
        id=1, subject="Ünïcode ✓", req=3, extra='<responder-id type="integer" nil="true"/>', notes=notes))
    (t,) = ExportReader(tmp_path).tickets()
    assert t.subject == "Ünïcode ✓" and t.responder_id is None and t.status == 2
    assert t.created_at == "2024-01-02T04:30:00.000000Z"
    assert t.notes[0].private is True and t.notes[0].body_html == "<b>hi</b>"


def test_a_truncated_file_gives_every_complete_record_and_one_problem(tmp_path):
    """A file cut in the middle of a record: the records before it, and a problem naming
    the file, the line and the last good record; nothing half-read."""
    good = TICKET.format(id=1, subject="Complete one", req=1, extra="", notes="")
    cut = TICKET.format(id=2, subject="Cut in half", req=1, extra="", notes="")
    text_len = len('<?xml version="1.0"?>\n<helpdesk-tickets type="array">\n') + len(good) + len(cut) // 2
    ticket_file(tmp_path / "Tickets0.xml", good, cut, truncate_at=text_len)
    ticket_file(tmp_path / "Tickets1.xml",
                TICKET.format(id=3, subject="Next file", req=1, extra="", notes=""))
    problems = []
    ids = [t.id for t in ExportReader(tmp_path, problems.append).tickets()]
    assert ids == ["1", "3"]
    assert len(problems) == 1
    assert problems[0].file == "Tickets0.xml" and "after record 1 (id 1)" in problems[0].record
    assert "malformed XML at line" in problems[0].message


def test_unknown_elements_are_kept_and_reported_once_a_file(tmp_path):
    """An element the reader does not know: kept in the ticket's fields, one warning."""
    extra = "<sentiment-score>42</sentiment-score>"
    ticket_file(tmp_path / "Tickets0.xml", *(TICKET.format(id=i, subject="S", req=1, extra=extra, notes="")
                                            for i in (1, 2)))
    problems = []
    tickets = list(ExportReader(tmp_path, problems.append).tickets())
    assert tickets[0].fields["sentiment-score"] == "42"
    assert [p.message.split(":")[0] for p in problems] == ["unknown element <sentiment-score>"]
    assert problems[0].severity == "warning"


def test_the_count_matches_the_records(tmp_path):
    """The quick byte count used for the estimate equals what the reader yields."""
    write_export(tmp_path, ExportSize(users=40, tickets=50, seed=4))
    reader = ExportReader(tmp_path)
    counts = reader.count()
    tickets = list(reader.tickets())
    assert counts == {"users": len(list(reader.users())), "tickets": len(tickets),
                      "notes": sum(len(t.notes) for t in tickets),
                      "attachments": sum(len(t.attachments) + sum(len(n.attachments) for n in t.notes)
                                         for t in tickets)}


def test_reading_is_streamed_in_constant_memory(tmp_path):
    """Peak memory while reading a 3,000-ticket export stays near one file's worth."""
    write_export(tmp_path, ExportSize(users=50, tickets=3000, seed=5))
    reader = ExportReader(tmp_path)
    tracemalloc.start()
    count = sum(1 for _ in reader.tickets())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = sum(p.stat().st_size for p in tmp_path.glob("*Tickets*.xml"))
    assert count == 3000
    assert peak < size / 4, f"peak {peak} bytes for {size} bytes of export"
