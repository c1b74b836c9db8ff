"""A synthetic Freshdesk account export (the XML files of Admin → Account → Export data).

The shapes follow Freshdesk's own serialisers (``Helpdesk::Ticket#to_xml``, ``Helpdesk::Note``,
``User``: Rails ``to_xml`` with dashed element names, ``type="integer|boolean|datetime"`` and
``nil="true"``), and the files are numbered batches of 300 records as
``lib/helpdesk/export_data_worker.rb`` writes them: ``Users0.xml``…, ``Companies0.xml``,
``Groups.xml``, ``Tickets0.xml``…, ``ArchivedTickets0.xml``…. Nothing here is copied data:
every record is made up from a seeded random generator, so a size gives the same export.

    python bench/freshdesk_export.py OUT_DIR --users 10835 --tickets 34282

Used by the tests (``from freshdesk_export import write_export``) and ``bench_import.py``.
"""
from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

BATCH = 300
FIRST = ["Asha", "Bilal", "Chen", "Dana", "Émile", "Farah", "Giulia", "Hiro", "Ingrid", "José",
         "Kwame", "Lena", "Mateus", "Nour", "Olga", "Priya", "Quentin", "Rosa", "Søren", "Tariq",
         "Uma", "Vikram", "Wen", "Ximena", "Yusuf", "Zoë", "Ñandú", "Łukasz", "Aarav", "Ștefan"]
LAST = ["Khan", "Müller", "Okafor", "García", "Nakamura", "Iyer", "Dubois", "Kowalski", "Rossi",
        "Andersson", "Haddad", "O'Brien", "Nguyễn", "Şahin", "Ivanova", "Silva", "Björk", "Zhang"]
SUBJECTS = ["Cannot log in to the portal", "Invoice shows the wrong amount", "Printer on fire",
            "VPN drops every hour", "Request: new laptop", "Grades not visible", "Wi-Fi in room 3",
            "Password reset link expired", "Café menu app crashes", "Export to CSV fails",
            "Необходим доступ к отчёту", "メールが届きません", "Demande de remboursement", "Help",
            "Hi", "Projector in hall B flickers", "Account locked after update", "Refund?"]
PHRASES = ["I tried again this morning and it still fails.", "Please see the screenshot.",
           "Thanks for the quick answer!", "Could you check the logs on your side?",
           "This happens on Windows and macOS.", "Ça ne marche toujours pas.",
           "Es funktioniert jetzt, danke.", "We restarted the service; please try again.",
           "Escalating to the network team.", "Closing this as resolved — reopen if needed. ✅"]
TAGS = ["billing", "login", "hardware", "vpn", "urgent-customer", "Network Issue", "café", "vip"]
GROUPS = ["Billing", "IT Support", "Facilities", "Academic Office"]
STATUS_NAMES = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}
PRIORITY_NAMES = {1: "Low", 2: "Medium", 3: "High", 4: "Urgent"}
SOURCE_NAMES = {1: "Email", 2: "Portal", 3: "Phone", 7: "Chat", 9: "Feedback Widget", 10: "Outbound Email"}


@dataclass
class ExportSize:
    users: int = 200
    agents: int = 12
    companies: int = 10
    tickets: int = 300
    archived_share: float = 0.2    # the share of tickets in ArchivedTickets*.xml
    notes_mean: float = 4.0        # notes a ticket, 0–20
    private_share: float = 0.25
    seed: int = 15
    links_signed_at: datetime | None = None   # attachment links' X-Amz-Date (None: now)


def _t(tag: str, value, kind: str | None = None) -> str:
    if value is None:
        attrs = f' type="{kind}" nil="true"' if kind else ' nil="true"'
        return f"<{tag}{attrs}/>"
    attrs = f' type="{kind}"' if kind else ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{tag}{attrs}>{escape(str(value))}</{tag}>"


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(timespec="seconds")


class _Batches:
    """Writes records into NAME0.xml, NAME1.xml … of ``BATCH`` records each."""

    def __init__(self, folder: Path, name: str, root: str, batch: int = BATCH):
        self.folder, self.name, self.root, self.batch = folder, name, root, batch
        self.count, self.file = 0, None

    def add(self, xml: str) -> None:
        if self.count % self.batch == 0:
            self.close()
            path = self.folder / f"{self.name}{self.count // self.batch}.xml"
            self.file = path.open("w", encoding="utf-8")
            self.file.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<{self.root} type="array">\n')
        self.file.write(xml)
        self.count += 1

    def close(self) -> None:
        if self.file is not None:
            self.file.write(f"</{self.root}>\n")
            self.file.close()
            self.file = None


def _user_xml(uid: int, name: str, email: str | None, agent: bool, company: int | None,
              created: datetime) -> str:
    return ("<user>" + _t("id", uid, "integer") + _t("name", name) + _t("email", email)
            + _t("created-at", _when(created), "datetime") + _t("updated-at", _when(created), "datetime")
            + _t("active", True, "boolean") + _t("customer-id", company, "integer")
            + _t("job-title", "Support agent" if agent else None) + _t("phone", None)
            + _t("mobile", None) + _t("twitter-id", None) + _t("description", None)
            + _t("time-zone", "Chennai") + _t("deleted", False, "boolean")
            + _t("helpdesk-agent", agent, "boolean") + _t("fb-profile-id", None)
            + _t("external-id", None) + _t("language", "en") + _t("address", None)
            + _t("unique-external-id", None) + _t("company-id", company, "integer") + "</user>\n")


def _body(rng: random.Random, paragraphs: int) -> tuple[str, str]:
    parts = [" ".join(rng.choice(PHRASES) for _ in range(rng.randint(1, 3)))
             for _ in range(paragraphs)]
    html = "".join(f"<div>{escape(p)}</div>" for p in parts)
    if rng.random() < 0.2:
        html += '<div><a href="https://example.org/kb/42">KB article</a><br></div>'
    return "\n".join(parts), html


def _note_xml(rng, nid: int, author: int, private: bool, incoming: bool, at: datetime) -> str:
    text, html = _body(rng, rng.randint(1, 3))
    attachments = ""
    if rng.random() < 0.05:
        attachments = _attachments(rng, nid * 10)
    return ("<helpdesk-note>" + _t("id", nid, "integer") + _t("body", text) + _t("body-html", html)
            + _t("user-id", author, "integer") + _t("source", 2 if private else 0, "integer")
            + _t("incoming", incoming, "boolean") + _t("private", private, "boolean")
            + _t("deleted", False, "boolean") + _t("created-at", _when(at), "datetime")
            + _t("updated-at", _when(at), "datetime") + _t("support-email", None)
            + f'<attachments type="array">{attachments}</attachments>' + "</helpdesk-note>")


SIGNED = {"at": "20240101T000000Z"}
ATTACHMENTS = {"n": 0}


def _attachments(rng, aid: int) -> str:
    name = rng.choice(["screenshot.png", "invoice.pdf", "log.txt", "Übersicht.xlsx"])
    ATTACHMENTS["n"] += 1
    return ("<helpdesk-attachment>" + _t("id", aid, "integer") + _t("content-file-name", name)
            + _t("content-content-type", "application/octet-stream")
            + _t("content-file-size", rng.randint(1000, 900000), "integer")
            + _t("attachment_url", f"https://s3.example.com/export/{aid}/{name}?X-Amz-Date={SIGNED['at']}"
                              "&X-Amz-Expires=604800")
            + "</helpdesk-attachment>")


def _ticket_xml(rng, tid: int, size: ExportSize, customers: list[int], agents: list[int],
                start: datetime, next_note: list[int]) -> str:
    created = start + timedelta(minutes=rng.randint(0, 60 * 24 * 700))
    requester = rng.choice(customers)
    responder = rng.choice(agents) if rng.random() < 0.8 else None
    status = rng.choices([2, 3, 4, 5], [2, 1, 3, 4])[0]
    priority = rng.choices([1, 2, 3, 4], [3, 5, 2, 1])[0]
    source = rng.choice(list(SOURCE_NAMES))
    text, html = _body(rng, rng.randint(1, 4))
    count = min(20, max(0, int(rng.expovariate(1 / size.notes_mean)))) if size.notes_mean else 0
    notes, at = [], created
    for _ in range(count):
        at += timedelta(minutes=rng.randint(5, 3000))
        private = rng.random() < size.private_share
        author = rng.choice(agents) if private or rng.random() < 0.5 else requester
        next_note[0] += 1
        notes.append(_note_xml(rng, next_note[0], author, private, author == requester, at))
    tags = "".join("<tag>" + _t("name", t) + "</tag>" for t in rng.sample(TAGS, rng.randint(0, 2)))
    return ("<helpdesk-ticket>" + _t("id", tid, "integer") + _t("display-id", tid - 1000, "integer")
            + _t("subject", rng.choice(SUBJECTS)) + _t("description", text)
            + _t("description-html", html) + _t("requester-id", requester, "integer")
            + _t("responder-id", responder, "integer")
            + _t("group-id", rng.randint(1, len(GROUPS)), "integer") + _t("owner-id", None, "integer")
            + _t("status", status, "integer") + _t("priority", priority, "integer")
            + _t("source", source, "integer") + _t("ticket-type", rng.choice(["Question", "Incident", None]))
            + _t("spam", False, "boolean") + _t("deleted", False, "boolean")
            + _t("isescalated", False, "boolean")
            + _t("due-by", _when(created + timedelta(days=3)), "datetime")
            + _t("frDueBy", _when(created + timedelta(days=1)), "datetime")
            + _t("created-at", _when(created), "datetime") + _t("updated-at", _when(at), "datetime")
            + _t("to-email", "support@example.edu") + _t("cc-email", None)
            + _t("status-name", STATUS_NAMES[status]) + _t("priority-name", PRIORITY_NAMES[priority])
            + _t("source-name", SOURCE_NAMES[source]) + _t("product-id", None, "integer")
            + '<notes type="array">' + "".join(notes) + "</notes>"
            + '<attachments type="array">' + (_attachments(rng, tid) if rng.random() < 0.1 else "")
            + "</attachments>" + f'<tags type="array">{tags}</tags>'
            + "<custom_field>" + _t("cf_campus", rng.choice(["North", "South"])) + "</custom_field>"
            + "</helpdesk-ticket>\n")


def write_export(folder: str | Path, size: ExportSize | None = None) -> dict[str, int]:
    """Write an export of ``size`` into ``folder``; return what it holds (counts)."""
    size = size or ExportSize()
    ATTACHMENTS["n"] = 0
    SIGNED["at"] = (size.links_signed_at or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(size.seed)
    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    companies = _Batches(folder, "Companies", "companies")
    for cid in range(1, size.companies + 1):
        companies.add("<company>" + _t("id", cid, "integer") + _t("name", f"Company {cid} GmbH")
                      + _t("description", None) + "</company>\n")
    companies.close()
    (folder / "Groups.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<groups type="array">\n' + "".join(
            "<group>" + _t("id", i + 1, "integer") + _t("name", g) + _t("description", None)
            + "</group>\n" for i, g in enumerate(GROUPS)) + "</groups>\n", encoding="utf-8")
    users = _Batches(folder, "Users", "users")
    agents, customers = [], []
    for n in range(size.users):
        uid = 5000 + n
        agent = n < size.agents
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        email = None if (not agent and rng.random() < 0.02) else f"user{uid}@example.edu"
        company = rng.randint(1, size.companies) if size.companies and not agent else None
        users.add(_user_xml(uid, name, email, agent, company,
                            start - timedelta(days=rng.randint(1, 900))))
        (agents if agent else customers).append(uid)
    users.close()
    agents, customers = agents or [5000], customers or agents or [5000]
    live = _Batches(folder, "Tickets", "helpdesk-tickets")
    archived = _Batches(folder, "ArchivedTickets", "helpdesk-tickets")
    next_note = [900000]
    for n in range(size.tickets):
        out = archived if rng.random() < size.archived_share else live
        out.add(_ticket_xml(rng, 100000 + n, size, customers, agents, start, next_note))
    live.close()
    archived.close()
    return {"users": size.users, "agents": len(agents), "tickets": size.tickets,
            "notes": next_note[0] - 900000, "attachments": ATTACHMENTS["n"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--agents", type=int, default=12)
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--notes", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    print(write_export(args.folder, ExportSize(users=args.users, agents=args.agents,
                                               tickets=args.tickets, notes_mean=args.notes,
                                               seed=args.seed)))


if __name__ == "__main__":
    main()
