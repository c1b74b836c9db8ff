"""``--dry-run``: read everything, map everything, print what would be created and every
problem found; no call to Discourse or Freshdesk, nothing written to the database.

Usernames are deduplicated in memory here (a set of the names chosen), which is the one
thing a dry run holds for the whole export.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable

from syncd.importers.freshdesk import mapping
from syncd.importers.freshdesk.reader import ExportReader


def dry_run(reader: ExportReader, limits: mapping.SiteLimits, where: Callable[[str | None], str],
            echo: Callable[[str], None]) -> Counter:
    """``where(group_id)``: the category a ticket would go to, as text."""
    would: Counter = Counter()
    taken: set[str] = set()
    emails: dict[str, str] = {}
    authors: dict[str, tuple[str, bool]] = {}
    for user in reader.users():
        email = (user.email or "").strip().lower()
        if email and email in emails:
            echo(f"problem: {user.file}: user {user.id}: duplicate email {email}: would merge "
                 f"into Freshdesk user {emails[email]}")
            authors[user.id] = authors.get(emails[email], ("?", user.agent))
            would["problems"] += 1
            continue
        call = mapping.map_user(user, lambda n: n in taken, limits)
        taken.add(call.username.lower())
        if email:
            emails[email] = user.id
        authors[user.id] = (call.username, user.agent)
        for text in call.problems:
            echo(f"problem: {user.file}: user {user.id}: {text}")
            would["problems"] += 1
        echo(f"would create user {call.username} ({'agent' if user.agent else 'contact'}, "
             f"Freshdesk {user.id})")
        would["users"] += 1
        would["agents"] += int(user.agent)
    for ticket in reader.tickets():
        mapped = mapping.map_ticket(ticket, lambda uid: authors.get(uid) if uid else None, limits)
        for text in mapped.problems:
            echo(f"problem: {ticket.file}: ticket {ticket.id}: {text}")
            would["problems"] += 1
        if mapped.topic is None:
            echo(f"would skip ticket {ticket.id}: {mapped.skip_reason}")
            would["skipped"] += 1
            continue
        whispers = sum(p.whisper for p in mapped.posts)
        echo(f"would create topic {mapped.topic.external_id} {mapped.topic.title!r} in "
             f"{where(ticket.group_id)} as {mapped.topic.author_id or '(the API user)'}, "
             f"{len(mapped.posts)} replies ({whispers} whispers), tags "
             f"{', '.join(mapped.topic.tags)}{', then closed' if mapped.topic.close else ''}")
        would["topics"] += 1
        would["posts"] += len(mapped.posts)
        would["whispers"] += whispers
        would["closed"] += int(mapped.topic.close)
    return would
