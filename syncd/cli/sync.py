"""``syncd sync [--full]``: reconcile with Discourse over its API, now."""
from __future__ import annotations

import sys
from typing import Iterator

import click

from syncd.cli.group import main, with_settings
from syncd.config import Settings
from syncd.errors import SyncdError, TransientError

PLAIN_EVERY = 10  # pages between progress lines when stdout is not a terminal


@main.command()
@click.option("--full", is_flag=True,
              help="Walk every topic, not only those active since the last sync.")
@click.option("--restart", is_flag=True,
              help="Forget an interrupted walk's checkpoint and start from the first page.")
@click.option("--calls-per-minute", type=click.FloatRange(min=0.1), default=None,
              help="Pace (default: discourse.api_calls_per_minute × reconcile_share). "
                   "With serve stopped, a sync may take the whole budget.")
@with_settings
def sync(settings: Settings, full: bool, restart: bool, calls_per_minute: float | None) -> None:
    """Reconcile with Discourse: pick up what webhooks missed.

    Lists the topics of the ticket categories, newest activity first, and feeds every
    difference (new topics, likes, solved state, category, tags, closed) through the
    rules as an event with source "reconcile". Incremental by default: stops at topics
    older than the last sync. --full walks everything; an interrupted walk resumes
    where it stopped.

    Example:

        syncd sync --full --calls-per-minute 50
    """
    from syncd.processor import Processor
    from syncd.discourse.reconcile import Reconciler
    from syncd.discourse.reader import ApiReader
    from syncd.service import load_rules_holder
    from syncd.store.db import Store, transaction
    from syncd.store import categories
    from syncd.store import similar

    if settings.discourse.dry_run:
        raise SyncdError("discourse.url is not set (dry-run): there is no forum to sync with. "
                         "Set DISCOURSE_URL and DISCOURSE_API_KEY.")
    store = Store(settings.resolve(settings.database), settings.database_synchronous)
    with transaction(store.db()) as conn:
        categories.remember(conn, settings.discourse.category_map, "config")
    processor = Processor(settings, store, load_rules_holder(settings, store), similar)
    reader = ApiReader.from_settings(settings, calls_per_minute)
    reconciler = Reconciler(settings, store, processor, reader)
    walk = reconciler.begin(full, restart)
    if walk.resumed:
        click.echo(f"resuming the interrupted {walk.mode} walk at page {walk.pages + 1}",
                   err=True)
    try:
        if sys.stdout.isatty():
            _with_bar(reconciler, walk)
        else:
            _with_lines(reconciler, walk)
    except TransientError as exc:
        raise SyncdError(f"{exc}. Progress is saved: run 'syncd sync' again to resume.") from exc
    finally:  # done, failed or Ctrl-C: the checkpoint stays, the lease goes
        reconciler.release()
    click.echo(f"sync: {walk.mode}, {walk.pages} pages, {walk.topics} topics, "
               f"{walk.created} new tickets, {walk.corrected} corrected, "
               f"{reader.calls} API calls, {reader.rate_limited} rate-limited waits")


def _steps(reconciler, walk) -> Iterator[int]:
    more = not walk.done
    while more:
        more = reconciler.step(walk)
        yield walk.pages


def _with_bar(reconciler, walk) -> None:
    length = max(0, walk.total_pages - walk.pages) if walk.total_pages else None
    steps = _steps(reconciler, walk)
    with click.progressbar(steps, length=length, label=f"sync ({walk.mode})",
                           show_pos=True) as bar:
        for _ in bar:
            pass


def _with_lines(reconciler, walk) -> None:
    total = f" of ~{walk.total_pages}" if walk.total_pages else ""
    for pages in _steps(reconciler, walk):
        if pages % PLAIN_EVERY == 0 or walk.done:
            click.echo(f"page {pages}{total}: {walk.topics} topics, {walk.created} new, "
                       f"{walk.corrected} corrected")
