"""Reconcile at the seed organisation's scale: 34,282 topics in pages of 30.

A loopback stand-in (tests/standins/discourse_catalog.py) serves the forum under a rate
limit; the tickets (and reconcile's fingerprints) are pre-populated to match it, as a
previous sync leaves them, so a full walk finds nothing changed. Prints:

    reconcile_calls       API calls of a full walk with nothing changed
    reconcile_min_calls   pages needed (ceil(topics / 30)): the floor
    reconcile_cpu_s       CPU seconds syncd spent on that walk (this thread only)
    reconcile_wall_s      wall-clock seconds of that walk
    reconcile_incremental_calls  calls of a second, incremental sync with nothing new

The stand-in allows 100,000 calls a minute and syncd paces itself at the same rate, so the
run takes seconds instead of the ~19 minutes a real site's 60 calls a minute would need
(the pacing itself is covered by tests/test_reconcile.py).
"""
from __future__ import annotations

import logging
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from standins.discourse_catalog import Catalog  # noqa: E402

from syncd import logs  # noqa: E402
from syncd.store import tickets as ticketstore  # noqa: E402
from syncd.clock import iso  # noqa: E402
from syncd.config import settings_from_text  # noqa: E402
from syncd.processor import Processor  # noqa: E402
from syncd.discourse.reconcile import Reconciler  # noqa: E402
from syncd.discourse.reader import ApiReader  # noqa: E402
from syncd.service import prepare  # noqa: E402
from syncd.store.db import transaction  # noqa: E402
from syncd.core.tickets import Ticket  # noqa: E402

TOPICS = 34_282
PER_PAGE = 30
RATE = 100_000  # calls a minute, stand-in and syncd alike: see the docstring


def settings_for(folder: Path, url: str):
    text = (f"database: {folder / 'syncd.db'}\nrules: {folder / 'no-rules'}\n"
            "log_format: json\n"
            "discourse:\n  categories: [support, grades]\n  category_map: {support: 5, grades: 8}\n"
            "  webhook_secret: bench-secret-not-real-01\n")
    s = settings_from_text(text, str(folder / "config.yaml"), env={})
    return replace(s, discourse=replace(s.discourse, url=url, api_key="test-key",
                                        api_calls_per_minute=RATE, reconcile_share=1.0))


def ticket_of(topic) -> Ticket:
    accepted = next((p.id for p in topic.posts if p.accepted), None)
    first = topic.posts[0]
    return Ticket(id=topic.id, title=topic.title, slug=topic.slug, category_id=topic.category_id,
                  tags=tuple(topic.tags), closed=topic.closed, likes=len(first.likers),
                  likers=frozenset(first.likers), author="alice", author_id=topic.user_id,
                  body=first.raw, created_at=topic.created_at,
                  stage="resolved" if accepted else "open", accepted_post_id=accepted,
                  has_topic=True, has_first_post=True, announced=True)


def populate(store, forum: Catalog) -> None:
    """Tickets and fingerprints as a previous sync would have left them."""
    now = iso()
    with transaction(store.db()) as conn:
        for topic in forum.topics.values():
            ticketstore.save(conn, ticket_of(topic), now)
        conn.executemany(
            "INSERT INTO reconcile_topics (topic_id, bumped_at, like_count, posts_count, "
            "seen_at) VALUES (?, ?, ?, ?, ?)",
            [(t.id, t.bumped_at, t.like_count, len(t.posts), now) for t in forum.topics.values()])


def main() -> int:
    logs.configure("json", level=logging.WARNING)
    # a second ticket category with no topics yet: it must not make every sync a full walk
    forum = Catalog(categories={5: "support", 8: "grades"}, per_page=PER_PAGE,
                    limit_per_minute=RATE)
    forum.generate(TOPICS)
    with forum, tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), forum.url)
        store, _ = prepare(settings)
        populate(store, forum)
        reader = ApiReader.from_settings(settings)
        rec = Reconciler(settings, store, Processor(settings, store), reader)
        cpu, wall = time.thread_time(), time.perf_counter()
        walk = rec.sync(full=True)
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        full_calls = reader.calls
        rec.sync()
        incremental = reader.calls - full_calls
    pages = math.ceil(TOPICS / PER_PAGE) + 1   # + the empty category's one page
    print(f"reconcile_topics: {walk.topics}")
    print(f"reconcile_corrected: {walk.corrected + walk.created}")
    print(f"reconcile_calls: {full_calls}")
    print(f"reconcile_min_calls: {pages}")
    print(f"reconcile_calls_ratio: {full_calls / pages:.3f}")
    print(f"reconcile_cpu_s: {cpu:.2f}")
    print(f"reconcile_wall_s: {wall:.2f}")
    print(f"reconcile_incremental_calls: {incremental}")
    ok = full_calls <= 1.05 * pages and incremental <= 5 and cpu < 60
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
